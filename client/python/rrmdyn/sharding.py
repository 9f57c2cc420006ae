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
any client (rrmctl too) reopens it from the id alone. A ShardedJob holds its
parts (Job objects) and offers the Job interface it can honour: there is no
single stream index (records() takes no from_index) and no one server to
analyse on but the first.
"""

import contextlib
import os
import queue
import threading
from typing import IO, Any, Dict, Generator, Iterator, List, Optional, Sequence, Tuple, Union

from . import errors
from . import records as _records
from . import requests as _requests
from .client import Client, Job
from .datatypes import FINAL_STATES, JobState, JobStatus, ModelInfo, Provenance, Report
from .progress import wait_until_finished
from ._stubs import pb
from .targets import Target, expand_targets, is_sharded_id, names_several, parse_sharded_id, sharded_id

TargetSpec = Union[str, Sequence[Union[str, Target]]]


def combined_state(states: Sequence[Union[JobState, str]]) -> JobState:
    """The state of a study from its parts' states."""
    parsed = [JobState.parse(s) for s in states]
    if all(s in FINAL_STATES for s in parsed):
        for s in (JobState.FAILED, JobState.CANCELLED):
            if s in parsed:
                return s
        return JobState.SUCCEEDED
    if JobState.RUNNING in parsed or JobState.SUCCEEDED in parsed:
        return JobState.RUNNING
    return JobState.QUEUED


def sum_jobs(job_id: str, jobs: Sequence[Any]) -> Any:
    """rrm.v1.Job messages of the parts summed into one (as rrmctl): counts and
    compute time added, the combined state, the earliest start, the last finish,
    the parts' errors joined; model, options, owner, provenance from the first part."""
    total = pb.Job()
    total.CopyFrom(jobs[0])
    total.job_id = job_id
    total.state = combined_state([pb.JobState.Name(j.state) for j in jobs]).proto
    del total.errors[:]
    total.examples = sum(j.examples for j in jobs)
    total.total_records = sum(j.total_records for j in jobs)
    total.records_stored = sum(j.records_stored for j in jobs)
    total.records_failed = sum(j.records_failed for j in jobs)
    total.compute_seconds = sum(j.compute_seconds for j in jobs)
    started = [j.started_unix for j in jobs if j.started_unix > 0]
    total.started_unix = min(started) if started else 0
    final = JobState.parse(total.state).finished
    total.finished_unix = max(j.finished_unix for j in jobs) if final else 0
    total.error = "; ".join("%s: %s" % (j.job_id, j.error) for j in jobs if j.error)
    for j in jobs:
        total.errors.extend(j.errors)
    return total


def _on_server(error: errors.RrmError, where: str) -> errors.RrmError:
    """`error` with "server WHERE: " in front of its message."""
    return type(error)("server %s: %s" % (where, error.details), error.code)


class ShardedClient:
    """Several rrmd servers used as one.

    targets: a --target spec ("a:50051,b:50051", "all:NAME:50051") or a list of
    such strings; [] for none (then only job(ID) works). token, tls, timeout,
    retry_seconds: as Client, for every server (an "all:" entry's addresses are
    checked against NAME's certificate).
    """

    def __init__(self, targets: TargetSpec, token: Optional[str] = None, tls: Any = None, timeout: float = 60.0,
                 retry_seconds: float = 60.0) -> None:
        if isinstance(targets, str):
            expanded = expand_targets(targets)
        else:
            expanded = [t for entry in targets
                        for t in ([entry] if isinstance(entry, Target) else expand_targets(entry))]
        self.targets = expanded
        self.retry_seconds = retry_seconds
        self._settings: Dict[str, Any] = dict(token=token, tls=tls, timeout=timeout, retry_seconds=retry_seconds)
        self._clients: Dict[str, Client] = {}  # address -> Client
        self.clients = [self._client(t.address, t.tls_name) for t in expanded]

    def __repr__(self) -> str:
        return "ShardedClient(%r)" % [t.address for t in self.targets]

    def _client(self, address: str, tls_name: str = "") -> Client:
        if address not in self._clients:
            self._clients[address] = Client(address, tls_server_name=tls_name or None, **self._settings)
        return self._clients[address]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> "ShardedClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _each(self, call: Any) -> Dict[str, Any]:
        """{address: call(client)} over every server; the first failure is raised naming its server."""
        out = {}
        for client in self.clients:
            try:
                out[client.target] = call(client)
            except errors.RrmError as error:
                raise _on_server(error, client.target) from None
        return out

    def health(self) -> Dict[str, str]:
        """{address: "SERVING"}; raises on the first server that does not serve."""
        def check(client: Client) -> str:
            name = client.health()
            if name != "SERVING":
                raise errors.Unavailable("health: expected SERVING, found %s" % name)
            return name
        return self._each(check)

    def models(self) -> Dict[str, List[ModelInfo]]:
        """{address: [ModelInfo]}."""
        return self._each(lambda client: client.models())

    def load_model(self, *args: Any, **kwargs: Any) -> Dict[str, ModelInfo]:
        """Client.load_model on every server; {address: ModelInfo}."""
        return self._each(lambda client: client.load_model(*args, **kwargs))

    def unload_model(self, name: str) -> None:
        self._each(lambda client: client.unload_model(name))

    def jobs(self, state: Union[JobState, str, None] = None) -> Dict[str, List[JobStatus]]:
        """{address: [JobStatus]}."""
        return self._each(lambda client: client.jobs(state))

    @_requests.with_submit_signature
    def submit(self, model: str, puzzles: Any = None, **options: Any) -> "ShardedJob":
        """Client.submit over every server: the puzzles cut into one contiguous
        block per server; returns the ShardedJob. An idempotency_key KEY is sent
        to part i of n as "KEY#i/n", so a retried submit returns the same jobs.
        When a part's submit fails, the parts already submitted are cancelled
        and the error is raised naming the server and "(part i of n)"."""
        request = _requests.submit_request(model, puzzles, **options)
        if not self.targets:
            raise errors.InvalidArgument("target: expected at least one server, found none")
        blocks = _requests.split_puzzles(request.puzzles, len(self.targets))
        jobs: List[Job] = []
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

    def job(self, job_id: str) -> Union["ShardedJob", Job]:
        """The ShardedJob with this id ("TARGET/JOB_ID,..."; its servers need not
        be this client's targets). A plain job id works with one target only.
        NotFound (naming the server) if a part is unknown."""
        if not is_sharded_id(job_id):
            if len(self.clients) != 1:
                raise errors.InvalidArgument(
                    "job: a job id names a job of one server; with %d servers, give the sharded job's id "
                    "(TARGET/JOB,...), found \"%s\"" % (len(self.clients), job_id))
            return self.clients[0].job(job_id)
        tls_names = {t.address: t.tls_name for t in self.targets}
        job = ShardedJob([Job(self._client(address, tls_names.get(address, "")), part_id)
                          for address, part_id in parse_sharded_id(job_id)], client=self)
        job.status()
        return job


class ShardedJob:
    """A study spread over several servers, with the Job interface it can
    honour: status() sums the parts, records() merges their streams, report()
    analyses the merged records. `jobs` are the parts (Job objects, one per server)."""

    def __init__(self, jobs: Sequence[Job], client: Optional[ShardedClient] = None) -> None:
        self.jobs = list(jobs)
        self.client = client
        self.job_id = sharded_id([(j.client.target, j.job_id) for j in self.jobs])
        self.total_records: Optional[int] = None
        if all(j.total_records is not None for j in self.jobs):
            self.total_records = sum(j.total_records or 0 for j in self.jobs)
        self.existing = all(j.existing for j in self.jobs)
        self._records: Optional[List[Dict[str, Any]]] = None
        self._provenance: Optional[Provenance] = None

    def __repr__(self) -> str:
        return "ShardedJob(%r)" % self.job_id

    @property
    def retry_seconds(self) -> float:
        return self.client.retry_seconds if self.client is not None else self.jobs[0].client.retry_seconds

    def _part_messages(self) -> List[Any]:
        out = []
        for job in self.jobs:
            try:
                out.append(job._get())
            except errors.RrmError as error:
                raise _on_server(error, job.client.target) from None
        return out

    def status(self) -> JobStatus:
        """The parts' statuses summed (sum_jobs)."""
        return self.status_and_parts()[0]

    def parts(self) -> List[JobStatus]:
        """Every part's status, in part order."""
        return self.status_and_parts()[1]

    def status_and_parts(self) -> Tuple[JobStatus, List[JobStatus]]:
        """(status(), parts()) from one GetJob per part."""
        messages = self._part_messages()
        status = JobStatus.from_message(sum_jobs(self.job_id, messages))
        self.total_records = status.total_records
        self._provenance = status.provenance
        return status, [JobStatus.from_message(m) for m in messages]

    @property
    def provenance(self) -> Provenance:
        """The first part's provenance (every part measures with the same
        model and options), under this sharded job's id."""
        if self._provenance is None:
            self.status()
        assert self._provenance is not None
        return self._provenance

    def cancel(self) -> JobStatus:
        """Cancels every part (raises on the first that refuses); returns the summed status."""
        for job in self.jobs:
            try:
                job.cancel()
            except errors.RrmError as error:
                raise _on_server(error, job.client.target) from None
        return self.status()

    def done(self) -> bool:
        return self.status().finished

    def records(self, from_index: int = 0, retry_seconds: Optional[float] = None) -> Iterator[Dict[str, Any]]:
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

    def _merged(self, retry_seconds: Optional[float] = None) -> Generator[Any, None, None]:
        """The parts' record messages, merged (one thread per part). The first
        error (naming its server) is raised once every part has stopped."""
        arrived: "queue.Queue[Tuple[Job, Any, Optional[BaseException]]]" = queue.Queue()
        stop = threading.Event()

        def pump(job: Job) -> None:
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

    def all_records(self, refresh: bool = False) -> List[Dict[str, Any]]:
        """Every record of every part (merged) as a list of dicts (cached once read)."""
        if self._records is None or refresh:
            self._records = list(self.records())
        return self._records

    def wait(self, progress: bool = True, poll_seconds: float = 0.5, timeout: Optional[float] = None,
             file: Optional[IO[str]] = None) -> JobStatus:
        """As Job.wait, over the summed status."""
        return wait_until_finished(self.job_id, self.status, progress=progress, poll_seconds=poll_seconds,
                                   timeout=timeout, retry_seconds=self.retry_seconds, file=file)

    def to_pandas(self, per_segment: bool = False, records: Optional[Sequence[Dict[str, Any]]] = None) -> Any:
        """As Job.to_pandas, over the merged records."""
        return _records.to_dataframe(self.all_records() if records is None else records, per_segment=per_segment)

    def to_xarray(self) -> Any:
        """The merged records as an xarray Dataset (record x segment x exponent) with
        the provenance as attributes (rrmdyn.xarray_export; python3-xarray)."""
        from .xarray_export import to_xarray
        return to_xarray(self.all_records(), self.provenance)

    def write_jsonl(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """As Job.write_jsonl, over the merged records."""
        _records.write_jsonl(self.all_records(), path, provenance=self.provenance)

    def write_csv(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """As Job.write_csv, over the merged records."""
        _records.write_csv(self.all_records(), path, provenance=self.provenance)

    def report(self, **parameters: Any) -> Report:
        """The SPEC §5 analysis of the merged records, computed by the first
        part's server (AnalyzeRecords), so the numbers are those of one server
        measuring the whole study; the same dict as Job.report(), with this
        job's id and summed state. FailedPrecondition until the job finished."""
        status = self.status()
        if not status.finished:
            raise errors.FailedPrecondition(
                "job %s: expected a finished job to analyse, found %s (%d of %d records stored)"
                % (self.job_id, status.state, status.records_stored, status.total_records))
        records = list(self._merged())
        report = self.jobs[0].client.analyze_records(records, **parameters)
        report["job_id"] = self.job_id
        report["job_state"] = status.state
        return report


def connect(target: TargetSpec = "127.0.0.1:50051", **kwargs: Any) -> Union[Client, ShardedClient]:
    """A Client for one server ("HOST:PORT"), a ShardedClient for a spec
    naming several ("a:1,b:2", any "all:NAME:PORT" entry, or a list)."""
    if not isinstance(target, str) or names_several(target):
        return ShardedClient(target, **kwargs)
    return Client(target, **kwargs)


def open_job(job_id: str, target: str = "127.0.0.1:50051", **kwargs: Any) -> Union[Job, ShardedJob]:
    """Any job id: a sharded job's ("TARGET/JOB,...", its servers named in the
    id) or a job of the one server `target`. kwargs: as Client."""
    if is_sharded_id(job_id):
        return ShardedClient([], **kwargs).job(job_id)
    return Client(target, **kwargs).job(job_id)

