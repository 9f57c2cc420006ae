"""One study over several rrmd servers (mirrors client/cpp/sharded_job.h).

    client = rrmdyn.ShardedClient("a:50051,b:50051")   # or "all:rrmd-headless:50051"
    job = client.submit("trm", sudoku_strings, segments=16, lyapunov_k=4)
    job.wait()
    frame = job.to_pandas()          # the records of every server, merged
    report = job.report(tau=0.05)    # computed over all of them by the first server

submit cuts the puzzles into contiguous blocks, one per server, each sent
with its `first_example_index`, so every record keeps the example index (hence
Q_0 and restart draws) it would have had on one server: the merged records
equal a single server's apart from job_id, device and timing. A dataset on the
servers (`dataset_path`) is cut by index range, which needs `limit`.

The sharded job's id lists its parts, "TARGET/JOB_ID,TARGET/JOB_ID,...", so
any client (rrmctl too) reopens it from the id alone.
"""

import collections
import contextlib
import queue
import socket
import threading

from . import errors
from . import records as _records
from .client import FINAL_STATES, Client, Job, submit_request, with_submit_signature
from ._stubs import pb

# A server of a --target value: the address connected to, and for "all:" entries
# HOST, the name its TLS certificate carries ("" otherwise).
Target = collections.namedtuple("Target", "address tls_name")


def _invalid(details):
    return errors.InvalidArgument(details, "INVALID_ARGUMENT")


def _split_host_port(address):
    """"host:port" or "[v6]:port" -> (host, port); None without a port."""
    colon = address.rfind(":")
    if colon <= 0 or colon + 1 == len(address):
        return None
    host = address[:colon]
    host = host[1:] if host.startswith("[") else host
    host = host[:-1] if host.endswith("]") else host
    return host, address[colon + 1:]


def _resolve_all(entry):
    split = _split_host_port(entry)
    if split is None:
        raise _invalid('target: expected all:HOST:PORT, found "all:%s"' % entry)
    host, port = split
    try:
        found = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise errors.NotFound("target all:%s: cannot resolve %s: %s" % (entry, host, error), "NOT_FOUND") from None
    addresses = set()  # sorted and unique: the same order on every call
    for family, _, _, _, sockaddr in found:
        try:
            text = socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        except OSError:
            continue
        addresses.add("[%s]:%s" % (text, port) if family == socket.AF_INET6 else "%s:%s" % (text, port))
    if not addresses:
        raise errors.NotFound("target all:%s: no address found" % entry, "NOT_FOUND")
    return [Target(address, host) for address in sorted(addresses)]


def expand_targets(spec):
    """The servers named by a --target value, as a list of Target: comma-separated
    HOST:PORT entries; an entry "all:HOST:PORT" stands for every address HOST
    resolves to (e.g. a Kubernetes headless Service), resolved now.
    InvalidArgument for an empty entry or one without a port, NotFound for a
    name that does not resolve."""
    targets = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            raise _invalid('target: expected HOST:PORT entries, found an empty one in "%s"' % spec)
        if entry.startswith("all:"):
            targets.extend(_resolve_all(entry[len("all:"):]))
        else:
            targets.append(Target(entry, ""))
    return targets


def is_sharded_id(job_id):
    """Whether `job_id` names a sharded job ("TARGET/JOB_ID,...") rather than a job of one server."""
    return "/" in job_id


def parse_sharded_id(job_id):
    """"TARGET/JOB_ID,..." -> [(target, job_id), ...]; InvalidArgument when malformed."""
    parts = []
    for entry in job_id.split(","):
        slash = entry.rfind("/")
        if slash <= 0 or slash + 1 == len(entry):
            raise _invalid("job: expected TARGET/JOB_ID entries joined by ',', found \"%s\" in \"%s\""
                           % (entry, job_id))
        parts.append((entry[:slash], entry[slash + 1:]))
    return parts


def _blocks(n, parts):
    """Blocks [begin, end) of n items over `parts` parts, sizes differing by at most one."""
    count = min(parts, n)
    return [(n * i // count, n * (i + 1) // count) for i in range(count)]


def split_puzzles(puzzle_input, parts):
    """An rrm.v1.PuzzleInput cut into at most `parts` contiguous non-empty
    blocks (fewer when there are fewer puzzles), each with its
    first_example_index; optional per-puzzle fields are cut alongside."""
    if parts < 1:
        raise _invalid("parts: expected >= 1, found %d" % parts)
    first = puzzle_input.first_example_index
    source = puzzle_input.WhichOneof("source")
    split = []
    if source == "tokens":
        puzzles = puzzle_input.tokens.puzzles
        for begin, end in _blocks(len(puzzles), parts):
            part = pb.PuzzleInput(first_example_index=first + begin)
            part.tokens.puzzles.extend(puzzles[begin:end])
            split.append(part)
    elif source in ("sudoku", "maze"):
        text = getattr(puzzle_input, source)
        n = len(text.puzzles)
        for name in ("solutions", "ids"):
            found = len(getattr(text, name))
            if found not in (0, n):
                raise _invalid("puzzles.%s.%s: expected none or one per puzzle (%d), found %d"
                               % (source, name, n, found))
        for begin, end in _blocks(n, parts):
            part = pb.PuzzleInput(first_example_index=first + begin)
            block = getattr(part, source)
            block.SetInParent()
            for name in ("puzzles", "solutions", "ids"):
                getattr(block, name).extend(getattr(text, name)[begin:end])  # absent ones stay absent
            split.append(part)
    elif source == "dataset_path":
        limit = puzzle_input.limit
        if limit <= 0 and parts > 1:
            raise _invalid("puzzles.limit: a dataset on the servers is split over %d servers by index range, which "
                           "needs the number of examples to measure; expected > 0, found %d" % (parts, limit))
        for begin, end in _blocks(limit if limit > 0 else 1, parts):
            split.append(pb.PuzzleInput(dataset_path=puzzle_input.dataset_path, first_example_index=first + begin,
                                        limit=end - begin if limit > 0 else 0))
    else:
        raise _invalid("puzzles: expected one of tokens, sudoku, maze or dataset_path, found none")
    if not split:
        raise _invalid("puzzles: expected at least one puzzle, found 0")
    return split


def combined_state(states):
    """The state of a study from its parts' states (JOB_STATE_* names)."""
    if all(s in FINAL_STATES for s in states):
        for s in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            if s in states:
                return s
        return "JOB_STATE_SUCCEEDED"
    if "JOB_STATE_RUNNING" in states or "JOB_STATE_SUCCEEDED" in states:
        return "JOB_STATE_RUNNING"
    return "JOB_STATE_QUEUED"


def sum_jobs(job_id, jobs):
    """rrm.v1.Job messages of the parts summed into one (as rrmctl): counts and
    compute time added, the combined state, the earliest start, the last finish,
    the parts' errors joined; model, options, owner, ... from the first part."""
    total = pb.Job()
    total.CopyFrom(jobs[0])
    total.job_id = job_id
    total.state = pb.JobState.Value(combined_state([pb.JobState.Name(j.state) for j in jobs]))
    del total.errors[:]
    total.examples = sum(j.examples for j in jobs)
    total.total_records = sum(j.total_records for j in jobs)
    total.records_stored = sum(j.records_stored for j in jobs)
    total.records_failed = sum(j.records_failed for j in jobs)
    total.compute_seconds = sum(j.compute_seconds for j in jobs)
    started = [j.started_unix for j in jobs if j.started_unix > 0]
    total.started_unix = min(started) if started else 0
    final = pb.JobState.Name(total.state) in FINAL_STATES
    total.finished_unix = max(j.finished_unix for j in jobs) if final else 0
    total.error = "; ".join("%s: %s" % (j.job_id, j.error) for j in jobs if j.error)
    for j in jobs:
        total.errors.extend(j.errors)
    return total


def _on_server(error, where):
    """`error` (an RrmError) with "server WHERE: " in front of its message."""
    return type(error)("server %s: %s" % (where, error.details), error.code)


class ShardedClient:
    """Several rrmd servers used as one.

    targets: a --target spec ("a:50051,b:50051", "all:NAME:50051") or a list of
    such strings; [] for none (then only job(ID) works). token, tls, timeout,
    retry_seconds: as Client, for every server (an "all:" entry's addresses are
    checked against NAME's certificate).
    """

    def __init__(self, targets, token=None, tls=None, timeout=60.0, retry_seconds=60.0):
        if isinstance(targets, str):
            targets = expand_targets(targets)
        else:
            targets = [t for entry in targets
                       for t in ([entry] if isinstance(entry, Target) else expand_targets(entry))]
        self.targets = targets
        self._settings = dict(token=token, tls=tls, timeout=timeout, retry_seconds=retry_seconds)
        self._clients = {}  # address -> Client
        self.clients = [self._client(t.address, t.tls_name) for t in targets]

    def _client(self, address, tls_name=""):
        if address not in self._clients:
            self._clients[address] = Client(address, tls_server_name=tls_name or None, **self._settings)
        return self._clients[address]

    def close(self):
        for client in self._clients.values():
            client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _each(self, call):
        """{address: call(client)} over every server; the first failure is raised naming its server."""
        out = {}
        for client in self.clients:
            try:
                out[client.target] = call(client)
            except errors.RrmError as error:
                raise _on_server(error, client.target) from None
        return out

    def health(self):
        """{address: "SERVING"}; raises on the first server that does not serve."""
        def check(client):
            name = client.health()
            if name != "SERVING":
                raise errors.Unavailable("health: expected SERVING, found %s" % name, "UNAVAILABLE")
            return name
        return self._each(check)

    def models(self):
        """{address: [model dicts]}."""
        return self._each(lambda client: client.models())

    def load_model(self, *args, **kwargs):
        """Client.load_model on every server; {address: ModelInfo dict}."""
        return self._each(lambda client: client.load_model(*args, **kwargs))

    def unload_model(self, name):
        self._each(lambda client: client.unload_model(name))

    def jobs(self, state=None):
        """{address: [status dicts]}."""
        return self._each(lambda client: client.jobs(state))

    @with_submit_signature
    def submit(self, model, puzzles=None, **options):
        """Client.submit over every server: the puzzles cut into one contiguous
        block per server; returns the ShardedJob. An idempotency_key KEY is sent
        to part i of n as "KEY#i/n", so a retried submit returns the same jobs.
        When a part's submit fails, the parts already submitted are cancelled
        and the error is raised naming the server and "(part i of n)"."""
        request = submit_request(model, puzzles, **options)
        if not self.targets:
            raise _invalid("target: expected at least one server, found none")
        blocks = split_puzzles(request.puzzles, len(self.targets))
        jobs = []
        for i, block in enumerate(blocks):
            part = pb.SubmitJobRequest()
            part.CopyFrom(request)
            part.puzzles.CopyFrom(block)
            if request.idempotency_key:
                part.idempotency_key = "%s#%d/%d" % (request.idempotency_key, i, len(blocks))
            try:
                jobs.append(self.clients[i].submit_job(part))
            except errors.RrmError as error:
                for done in jobs:  # no half-submitted study
                    try:
                        done.cancel()
                    except errors.RrmError:
                        pass
                raise _on_server(error, "%s (part %d of %d)" % (self.targets[i].address, i + 1,
                                                                len(blocks))) from None
        return ShardedJob(jobs, client=self)

    def job(self, job_id):
        """The ShardedJob with this id ("TARGET/JOB_ID,..."; its servers need not
        be this client's targets). A plain job id works with one target only.
        NotFound (naming the server) if a part is unknown."""
        if not is_sharded_id(job_id):
            if len(self.clients) != 1:
                raise _invalid("job: a job id names a job of one server; with %d servers, give the sharded job's id "
                               "(TARGET/JOB,...), found \"%s\"" % (len(self.clients), job_id))
            return self.clients[0].job(job_id)
        tls_names = {t.address: t.tls_name for t in self.targets}
        job = ShardedJob([Job(self._client(address, tls_names.get(address, "")), part_id)
                          for address, part_id in parse_sharded_id(job_id)], client=self)
        job.status()
        return job


class ShardedJob(Job):
    """A study spread over several servers, with the Job interface: status()
    sums the parts, records() merges their streams, report() analyses the
    merged records. `jobs` are the parts (Job objects, one per server)."""

    def __init__(self, jobs, client=None):
        super().__init__(client, ",".join("%s/%s" % (j.client.target, j.job_id) for j in jobs))
        self.jobs = list(jobs)
        if all(j.total_records is not None for j in self.jobs):
            self.total_records = sum(j.total_records for j in self.jobs)
        self.existing = all(j.existing for j in self.jobs)

    def __repr__(self):
        return "ShardedJob(%r)" % self.job_id

    def _part_messages(self):
        out = []
        for job in self.jobs:
            try:
                out.append(job._get())
            except errors.RrmError as error:
                raise _on_server(error, job.client.target) from None
        return out

    def _get(self):
        return sum_jobs(self.job_id, self._part_messages())

    def parts(self):
        """Every part's status dict, in part order."""
        return self.status_and_parts()[1]

    def status_and_parts(self):
        """(status(), parts()) from one GetJob per part."""
        messages = self._part_messages()
        status = _records.job_to_dict(sum_jobs(self.job_id, messages))
        self.total_records = int(status.get("total_records", 0))
        return status, [_records.job_to_dict(m) for m in messages]

    def cancel(self):
        """Cancels every part (raises on the first that refuses); returns the summed status."""
        for job in self.jobs:
            try:
                job.cancel()
            except errors.RrmError as error:
                raise _on_server(error, job.client.target) from None
        return self.status()

    def records(self, from_index=0, retry_seconds=None):
        """Every part's records (dicts), merged as they arrive, each exactly
        once, until every part's job has ended; each part's stream reconnects
        as Job.records() does. No from_index: the merge has no single stream
        index."""
        if from_index:
            raise ValueError("from_index: a sharded job's records are merged from %d streams and have no single "
                             "stream index; expected 0, found %d" % (len(self.jobs), from_index))
        with contextlib.closing(self._merged(retry_seconds)) as merged:
            for message in merged:
                yield _records.record_to_dict(message)

    def _merged(self, retry_seconds=None):
        """The parts' record messages, merged (one thread per part). The first
        error (naming its server) is raised once every part has stopped."""
        arrived = queue.Queue()
        stop = threading.Event()

        def pump(job):
            try:
                for message in job._stream(0, retry_seconds, stop):
                    arrived.put((job, message, None))
                arrived.put((job, None, None))
            except Exception as error:  # noqa: BLE001 - handed to the consumer
                arrived.put((job, None, error))

        threads = [threading.Thread(target=pump, args=(job,), daemon=True) for job in self.jobs]
        for t in threads:
            t.start()
        try:
            running = len(threads)
            while running:
                job, message, error = arrived.get()
                if message is not None:
                    yield message
                    continue
                running -= 1
                if error is not None:
                    if isinstance(error, errors.RrmError):
                        error = _on_server(error, job.client.target)
                    raise error
        finally:  # done, failed or abandoned: stop every part's stream
            stop.set()
            for job in self.jobs:
                call = job._live_call
                if call is not None:
                    call.cancel()
            for t in threads:
                t.join(timeout=10)

    def report(self, **parameters):
        """The SPEC §5 analysis of the merged records, computed by the first
        part's server (AnalyzeRecords), so the numbers are those of one server
        measuring the whole study; the same dict as Job.report(), with this
        job's id and summed state. FailedPrecondition until the job finished."""
        status = self.status()
        if status["state"] not in FINAL_STATES:
            raise errors.FailedPrecondition(
                "job %s: expected a finished job to analyse, found %s (%s of %s records stored)"
                % (self.job_id, status["state"], status["records_stored"], status["total_records"]),
                "FAILED_PRECONDITION")
        records = list(self._merged())
        report = self.jobs[0].client.analyze_records(records, **parameters)
        report["job_id"] = self.job_id
        report["job_state"] = status["state"]
        return report


def connect(target="127.0.0.1:50051", **kwargs):
    """A Client for one server ("HOST:PORT"), a ShardedClient for a spec
    naming several ("a:1,b:2", any "all:NAME:PORT" entry, or a list)."""
    if not isinstance(target, str):
        return ShardedClient(target, **kwargs)
    entries = [e.strip() for e in target.split(",")]
    if len(entries) > 1 or entries[0].startswith("all:"):
        return ShardedClient(target, **kwargs)
    return Client(target, **kwargs)
