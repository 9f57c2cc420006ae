"""Client and Job: the rrm.v1.Dynamics service from Python.

    client = rrmdyn.Client("127.0.0.1:50051")
    job = client.submit("trm", ["53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"],
                        segments=16, lyapunov_k=4)
    job.wait()
    frame = job.to_pandas()

Every failing RPC raises an rrmdyn.RrmError subclass carrying the server's
message (InvalidArgument, NotFound, PermissionDenied/Unauthenticated,
Unavailable, ...).
"""

import contextlib
import inspect
import math
import sys
import threading
import time

import grpc

from . import errors
from . import puzzles as _puzzles
from . import records as _records
from ._stubs import pb, pb_grpc

FINAL_STATES = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
# Codes after which a record stream is reopened (the server restarted, the
# connection broke, a graceful shutdown cancelled the call).
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED,
              grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED)
_MAX_MESSAGE = 64 * 1024 * 1024
_RECORDS_PER_MESSAGE = 1000  # AnalyzeRecords chunks (~3 MB), as rrmctl


def state_name(state):
    """'JOB_STATE_RUNNING' -> 'running'."""
    return state[len("JOB_STATE_"):].lower() if state.startswith("JOB_STATE_") else state.lower()


def submit_request(model, puzzles=None, *, kind=None, solutions=None, labels=None, ids=None,
                   puzzle_identifiers=None, dataset_path=None, limit=0,
                   segments=0, lyapunov_k=0, seed=0, tangent_dtype="", restarts=1, restart_kind="none",
                   restart_sigma=0.0, batch_size=0, priority=0, job_labels=None, lyapunov_draws=0,
                   lyapunov_method="", early_window=0, idempotency_key=""):
    """The rrm.v1.SubmitJobRequest that Client.submit sends (arguments: see there)."""
    request = pb.SubmitJobRequest(model=model, idempotency_key=idempotency_key)
    request.puzzles.CopyFrom(_puzzles.build(pb, puzzles, kind=kind, solutions=solutions, labels=labels, ids=ids,
                                            puzzle_identifiers=puzzle_identifiers, dataset_path=dataset_path,
                                            limit=limit))
    o = request.options
    o.segments = int(segments)
    o.lyapunov_k = int(lyapunov_k)
    o.seed = int(seed)
    o.tangent_dtype = tangent_dtype
    o.restarts.kind = restart_kind if restart_kind else ""
    o.restarts.count = int(restarts)
    o.restarts.sigma = float(restart_sigma)
    o.batch_size = int(batch_size)
    o.priority = int(priority)
    for k, v in (job_labels or {}).items():
        o.labels[str(k)] = str(v)
    o.lyapunov_draws = int(lyapunov_draws)
    o.lyapunov_method = lyapunov_method
    o.early_window = int(early_window)
    return request


def with_submit_signature(method):
    """Shows submit_request's keyword arguments as `method`'s (help(), IDEs)."""
    signature = inspect.signature(submit_request)
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__signature__ = signature.replace(parameters=[self] + list(signature.parameters.values()))
    return method


class Client:
    """A connection to rrmd.

    target: "host:port" (default 127.0.0.1:50051, rrmd's default --listen).
    token: bearer token for rrmd --auth_tokens (sent as `authorization: Bearer <token>`).
    tls: None/False for plaintext; True for TLS with the system roots; a path to
         (or the bytes of) a PEM CA certificate for a private CA (rrmd --tls_cert).
    timeout: seconds per unary RPC.
    retry_seconds: how long Job.records() keeps reconnecting before giving up.
    tls_server_name: with TLS, the name the server's certificate must carry
         when it is not the target's host (e.g. an address of "all:NAME:PORT").
    """

    def __init__(self, target="127.0.0.1:50051", token=None, tls=None, timeout=60.0, retry_seconds=60.0,
                 tls_server_name=None):
        self.target = target
        self.token = token
        self.tls = tls
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        # A short reconnect backoff: after rrmd restarts, records() reconnects
        # within its own backoff instead of gRPC's default (up to 120 s).
        options = [("grpc.max_receive_message_length", _MAX_MESSAGE),
                   ("grpc.max_send_message_length", _MAX_MESSAGE),
                   ("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.min_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 5000)]
        if tls and tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls:
            if tls is True:
                credentials = grpc.ssl_channel_credentials()
            else:
                root = tls
                if not isinstance(tls, (bytes, bytearray)):
                    with open(tls, "rb") as f:
                        root = f.read()
                credentials = grpc.ssl_channel_credentials(root_certificates=bytes(root))
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = pb_grpc.DynamicsStub(self._channel)

    # -- plumbing --

    @property
    def stub(self):
        """The raw generated stub (rrm.v1.Dynamics)."""
        return self._stub

    def _metadata(self):
        return (("authorization", "Bearer " + self.token),) if self.token else ()

    def _call(self, name, request, timeout=None):
        try:
            return getattr(self._stub, name)(request, timeout=timeout or self.timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def health(self):
        """The gRPC health check: "SERVING", "NOT_SERVING", ... (raises if rrmd does not answer)."""
        from ._stubs import health_pb2, health_pb2_grpc
        try:
            response = health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self.timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    # -- models --

    def models(self):
        """The loaded models, as dicts (ModelInfo fields)."""
        response = self._call("ListModels", pb.ListModelsRequest())
        return [_records.job_to_dict(m) for m in response.models]

    def load_model(self, name, checkpoint_path, config_path="", overrides=(), devices=(), timeout=600.0):
        """Loads a checkpoint under rrmd's --model_root; returns its ModelInfo dict."""
        request = pb.LoadModelRequest(name=name, checkpoint_path=str(checkpoint_path), config_path=str(config_path),
                                      overrides=list(overrides), devices=list(devices))
        return _records.job_to_dict(self._call("LoadModel", request, timeout=timeout))

    def unload_model(self, name):
        self._call("UnloadModel", pb.UnloadModelRequest(name=name))

    # -- jobs --

    @with_submit_signature
    def submit(self, model, puzzles=None, **options):
        """Submits a measurement job; returns its Job once rrmd stored it.

        puzzles: a list of 81-character Sudoku strings, a list of Maze grids,
        a 2-D NumPy array / list of token arrays, or a local dataset folder
        (upstream layout; a root folder means test/). `kind` forces
        "sudoku" | "maze" | "tokens". `solutions` (text forms) or `labels`
        (tokens, -100 = not scored), `ids`, `puzzle_identifiers`: one per puzzle.
        dataset_path: instead of `puzzles`, a dataset folder on the server
        (under rrmd --data_root); `limit` keeps its first examples.
        The options are JobOptions (SPEC §2-§5): segments T (0 = the
        checkpoint's), lyapunov_k (0 = trajectory only), seed, restarts R with
        restart_kind none|symmetry|init_noise|step_noise and restart_sigma, ...
        Bad input raises rrmdyn.InvalidArgument naming the field.
        The keyword arguments are those of rrmdyn.client.submit_request.
        """
        return self.submit_job(submit_request(model, puzzles, **options))

    def submit_job(self, request):
        """Sends a prepared rrm.v1.SubmitJobRequest (see submit_request); returns its Job."""
        response = self._call("SubmitJob", request)
        job = Job(self, response.job_id)
        job.total_records = response.total_records
        job.existing = response.existing
        return job

    def job(self, job_id):
        """The Job with this id (NotFound if rrmd does not know it). A sharded
        job's id ("TARGET/JOB_ID,...") gives its ShardedJob, whatever this
        client's target, connected with this client's token and TLS."""
        from . import sharding
        if sharding.is_sharded_id(job_id):
            return sharding.ShardedClient([], token=self.token, tls=self.tls, timeout=self.timeout,
                                          retry_seconds=self.retry_seconds).job(job_id)
        job = Job(self, job_id)
        job.status()
        return job

    def jobs(self, state=None):
        """Every job (optionally in one state: "running", "succeeded", ...) as status dicts."""
        request = pb.ListJobsRequest()
        if state:
            request.state = pb.JobState.Value("JOB_STATE_" + state.upper())
        return [_records.job_to_dict(j) for j in self._call("ListJobs", request).jobs]

    # -- analysis --

    def analyze_records(self, records, **parameters):
        """The SPEC §5 analysis of the given records, computed by rrmd's
        AnalyzeRecords RPC: e.g. a sharded job's merged records, or a JSONL
        file's (rrmdyn.read_jsonl). records: dicts as Job.records() yields
        them, or rrm.v1.ExampleRecord messages; any order. parameters and the
        returned dict: as Job.report() (here "complete" is True, "job_id" "").
        """
        from google.protobuf import json_format
        message = pb.AnalysisParameters()
        set_analysis_parameters(message, parameters)
        messages = []
        for i, record in enumerate(records):
            if isinstance(record, dict):
                try:
                    record = json_format.ParseDict(record, pb.ExampleRecord())
                except json_format.ParseError as error:
                    raise ValueError("records[%d]: %s" % (i, error)) from None
            messages.append(record)

        def requests():  # the parameters in the first message, which is always sent
            for begin in range(0, max(len(messages), 1), _RECORDS_PER_MESSAGE):
                request = pb.AnalyzeRecordsRequest(records=messages[begin:begin + _RECORDS_PER_MESSAGE])
                if begin == 0:
                    request.parameters.CopyFrom(message)
                yield request

        try:
            # No deadline: analysing a million records with bootstrap CIs takes minutes.
            response = self._stub.AnalyzeRecords(requests(), metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        return report_from_response(response)


class Job:
    """One measurement job on rrmd."""

    def __init__(self, client, job_id):
        self.client = client
        self.job_id = job_id
        self.total_records = None
        self.existing = False
        self._records = None  # cache of every record, filled by records()/to_pandas()
        self.reconnects = 0  # record streams reopened after a break (see records())
        self._live_call = None  # the StreamRecords call in flight (see _stream)

    def __repr__(self):
        return "Job(%r)" % self.job_id

    def _get(self):
        """GetJob: the rrm.v1.Job message."""
        return self.client._call("GetJob", pb.GetJobRequest(job_id=self.job_id))

    def status(self):
        """GetJob as a dict (proto field names; `state` like "JOB_STATE_RUNNING")."""
        job = _records.job_to_dict(self._get())
        self.total_records = int(job.get("total_records", 0))
        return job

    def cancel(self):
        """Cancels the waiting work; stored records stay readable. Returns the status dict."""
        return _records.job_to_dict(self.client._call("CancelJob", pb.CancelJobRequest(job_id=self.job_id)))

    def done(self):
        return self.status()["state"] in FINAL_STATES

    def records(self, from_index=0, retry_seconds=None):
        """Yields the job's records (dicts, the JSONL form) in stream-index order.

        Starts at `from_index`; follows the job live until it ends. When the
        stream breaks (rrmd restarted, connection lost), it reconnects with
        from_index = the count received so far (no gaps, no duplicates), with
        backoff 0.1 s doubling to 5 s, and gives up after `retry_seconds`
        (default: the client's, 60 s) without progress by raising Unavailable.
        """
        with contextlib.closing(self._stream(from_index, retry_seconds)) as stream:
            for message in stream:
                yield _records.record_to_dict(message)

    def _stream(self, from_index=0, retry_seconds=None, stop=None):
        """records() as rrm.v1.ExampleRecord messages. `stop` (a threading.Event)
        ends the stream quietly once set; whoever sets it from another thread
        cancels `self._live_call` to interrupt a stream waiting for records."""
        retry_seconds = self.client.retry_seconds if retry_seconds is None else retry_seconds
        stop = stop or threading.Event()
        index = int(from_index)
        backoff = 0.1
        failing_since = None
        while not stop.is_set():
            call = None
            try:
                call = self.client._stub.StreamRecords(
                    pb.StreamRecordsRequest(job_id=self.job_id, from_index=index),
                    metadata=self.client._metadata())
                self._live_call = call
                if stop.is_set():
                    return
                for message in call:
                    index += 1
                    failing_since = None
                    backoff = 0.1
                    yield message
                return
            except grpc.RpcError as error:
                if stop.is_set():
                    return
                if error.code() not in _RETRYABLE:
                    raise errors.from_rpc_error(error) from None
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                if now - failing_since > retry_seconds:
                    raise errors.Unavailable("StreamRecords %s: no progress for %.0f s after %s: %s (received %d)"
                                             % (self.job_id, retry_seconds, error.code().name, error.details(),
                                                index), "UNAVAILABLE") from None
                if stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 5.0)
                self.reconnects += 1
            finally:
                if call is not None:
                    call.cancel()  # a consumer that stops early must not leave the stream open
                self._live_call = None

    def all_records(self, refresh=False):
        """Every record of the job as a list of dicts (cached once the job ended)."""
        if self._records is None or refresh:
            self._records = list(self.records())
        return self._records

    def wait(self, progress=True, poll_seconds=0.5, timeout=None, file=None):
        """Blocks until the job ends; returns its final status dict.

        progress=True writes one updating line on stderr: done/total, records
        per second and the ETA. Raises Unavailable after `timeout` seconds.
        """
        file = file or sys.stderr
        start = time.monotonic()
        first_done = None
        last_line = ""
        while True:
            try:
                job = self.status()
            except errors.Unavailable:
                job = None  # rrmd restarting: keep waiting
                if timeout is not None and time.monotonic() - start > timeout:
                    raise
            if job is not None:
                done = int(job.get("records_stored", 0))
                total = int(job.get("total_records", 0))
                state = job.get("state", "")
                if progress:
                    now = time.monotonic()
                    if first_done is None:
                        first_done = (now, done)
                    elapsed = now - first_done[0]
                    rate = (done - first_done[1]) / elapsed if elapsed > 0 else 0.0
                    eta = (total - done) / rate if rate > 0 else math.nan
                    line = "%s %s %d/%d %5.1f%% %.2f rec/s ETA %s" % (
                        self.job_id, state_name(state), done, total, 100.0 * done / total if total else 0.0,
                        rate, _duration(eta))
                    if line != last_line:
                        file.write("\r" + line.ljust(len(last_line)))
                        file.flush()
                        last_line = line
                if state in FINAL_STATES:
                    if progress:
                        file.write("\n")
                        file.flush()
                    return job
            if timeout is not None and time.monotonic() - start > timeout:
                raise errors.DeadlineExceeded("job %s not finished after %.0f s" % (self.job_id, timeout),
                                              "DEADLINE_EXCEEDED")
            time.sleep(poll_seconds)

    def to_pandas(self, per_segment=False, records=None):
        """The records as a DataFrame (see rrmdyn.records.to_dataframe):
        one row per record with per-segment arrays in `seg_*` columns, or
        with per_segment=True one row per (record, segment)."""
        return _records.to_dataframe(self.all_records() if records is None else records, per_segment=per_segment)

    def report(self, **parameters):
        """The SPEC §5 analysis computed by rrmd's Analyze RPC (core/analysis,
        docs/analysis.md), so the numbers are the ones every client shows.

        parameters: tau, early_window, bootstrap, seed, displacement_bins,
        lyapunov_method, restarts (AnalysisParameters; unset = the core's
        defaults). Returns the report JSON as a dict (NaN as float) plus
        "table" (the plain-text rendering), "complete" (False while the job
        was unfinished), "note", "job_id", "job_state" (when the records were
        read), and "frames": DataFrames "aucs", "matched",
        "matched_bins", "summaries", "early", "restarts", "pruning".
        Raises Unimplemented if this rrmd does not serve Analyze.
        """
        request = pb.AnalyzeRequest(job_id=self.job_id)
        set_analysis_parameters(request.parameters, parameters)
        response = self.client._call("Analyze", request, timeout=max(self.client.timeout, 600.0))
        return report_from_response(response)


def report_from_response(response):
    """An rrm.v1.AnalyzeResponse -> the dict of Job.report()."""
    from . import report as _report
    report = _report.parse_report(response.report_json)
    report["table"] = response.table
    report["complete"] = response.complete
    report["note"] = response.note
    report["job_id"] = response.job_id
    report["job_state"] = pb.JobState.Name(response.job_state)
    return report


def set_analysis_parameters(message, parameters):
    """Fills an rrm.v1.AnalysisParameters from keyword values (strings are
    converted by the field's type); ValueError names an unknown parameter."""
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in parameters.items():
        if value is None:
            continue
        if name not in fields:
            raise ValueError("report parameter %r: expected one of %s" % (name, ", ".join(fields)))
        field = fields[name]
        if field.cpp_type in (field.CPPTYPE_DOUBLE, field.CPPTYPE_FLOAT):
            value = float(value)
        elif field.cpp_type == field.CPPTYPE_STRING:
            value = str(value)
        elif field.cpp_type == field.CPPTYPE_BOOL:
            value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        else:
            value = int(value)
        setattr(message, name, value)


def _duration(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%02d:%02d" % (m, s)
