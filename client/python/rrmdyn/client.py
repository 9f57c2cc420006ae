"""Client and Job: the rrm.v1.Dynamics service from Python.

    client = rrmdyn.Client("127.0.0.1:50051")
    job = client.submit("trm", ["53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"],
                        segments=16, lyapunov_k=4)
    job.wait()
    frame = job.to_pandas()

Every failing RPC raises an rrmdyn.RrmError subclass carrying the server's
message (InvalidArgument, NotFound, PermissionDenied/Unauthenticated,
Unavailable, ...). Statuses and models are typed (rrmdyn.JobStatus,
rrmdyn.ModelInfo, rrmdyn.JobState); records are the SPEC §4 JSONL dicts.
rrmdyn.aio has the same API for asyncio code; rrmdyn.ShardedClient spreads a
study over several servers.
"""

import contextlib
import os
import threading
from typing import IO, Any, Dict, Generator, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from . import errors
from . import records as _records
from . import requests as _requests
from .datatypes import JobState, JobStatus, ModelInfo, Provenance, Report
from .progress import Reconnect, wait_until_finished
from ._stubs import health_pb2, health_pb2_grpc, pb, pb_grpc
from .targets import is_sharded_id

MAX_MESSAGE = 64 * 1024 * 1024


def channel_options(tls: Any, tls_server_name: Optional[str]) -> List[Tuple[str, Any]]:
    """The channel arguments of every rrmdyn channel (sync and aio)."""
    # A short reconnect backoff: after rrmd restarts, records() reconnects
    # within its own backoff instead of gRPC's default (up to 120 s).
    options: List[Tuple[str, Any]] = [("grpc.max_receive_message_length", MAX_MESSAGE),
                                      ("grpc.max_send_message_length", MAX_MESSAGE),
                                      ("grpc.initial_reconnect_backoff_ms", 100),
                                      ("grpc.min_reconnect_backoff_ms", 100),
                                      ("grpc.max_reconnect_backoff_ms", 5000)]
    if tls and tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    return options


def channel_credentials(tls: Any) -> Any:
    """None for plaintext; TLS credentials for tls=True (system roots) or a CA (path or PEM bytes)."""
    if not tls:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    root = tls
    if not isinstance(tls, (bytes, bytearray)):
        with open(tls, "rb") as f:
            root = f.read()
    return grpc.ssl_channel_credentials(root_certificates=bytes(root))


def metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    return (("authorization", "Bearer " + token),) if token else ()


def report_from_response(response: Any) -> Report:
    """An rrm.v1.AnalyzeResponse -> the Report of Job.report()."""
    from . import report as _report
    report = Report(_report.parse_report(response.report_json))
    report["table"] = response.table
    report["complete"] = response.complete
    report["note"] = response.note
    report["job_id"] = response.job_id
    report["job_state"] = JobState.parse(response.job_state)
    return report


def jobs_request(state: Union[JobState, str, None]) -> Any:
    request = pb.ListJobsRequest()
    if state:
        request.state = JobState.parse(state).proto
    return request


def sharded_id_refused(job_id: str) -> errors.InvalidArgument:
    return errors.InvalidArgument("job: \"%s\" is a sharded job's id (TARGET/JOB,...); open it with "
                                  "rrmdyn.ShardedClient([]).job(ID) or rrmdyn.open_job(ID)" % job_id)


class Client:
    """A connection to rrmd.

    target: "host:port" (default 127.0.0.1:50051, rrmd's default --listen).
    token: bearer token for rrmd --auth_tokens (sent as `authorization: Bearer <token>`).
    tls: None/False for plaintext; True for TLS with the system roots; a path to
         (or the bytes of) a PEM CA certificate for a private CA (rrmd --tls_cert).
    timeout: seconds per unary RPC.
    retry_seconds: how long Job.records() and Job.wait() keep reconnecting before giving up.
    tls_server_name: with TLS, the name the server's certificate must carry
         when it is not the target's host (e.g. an address of "all:NAME:PORT").
    """

    def __init__(self, target: str = "127.0.0.1:50051", token: Optional[str] = None, tls: Any = None,
                 timeout: float = 60.0, retry_seconds: float = 60.0, tls_server_name: Optional[str] = None) -> None:
        self.target = target
        self.token = token
        self.tls = tls
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        credentials = channel_credentials(tls)
        options = channel_options(tls, tls_server_name)
        if credentials is not None:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = pb_grpc.DynamicsStub(self._channel)

    def __repr__(self) -> str:
        return "Client(%r)" % self.target

    # -- plumbing --

    @property
    def stub(self) -> Any:
        """The raw generated stub (rrm.v1.Dynamics)."""
        return self._stub

    def _metadata(self) -> Tuple[Tuple[str, str], ...]:
        return metadata(self.token)

    def _call(self, name: str, request: Any, timeout: Optional[float] = None) -> Any:
        try:
            return getattr(self._stub, name)(request, timeout=timeout or self.timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def health(self) -> str:
        """The gRPC health check: "SERVING", "NOT_SERVING", ... (raises if rrmd does not answer)."""
        try:
            response = health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self.timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return name

    # -- models --

    def models(self) -> List[ModelInfo]:
        """The loaded models."""
        response = self._call("ListModels", pb.ListModelsRequest())
        return [ModelInfo.from_message(m) for m in response.models]

    def load_model(self, name: str, checkpoint_path: Union[str, "os.PathLike[str]"],
                   config_path: Union[str, "os.PathLike[str]"] = "", overrides: Sequence[str] = (),
                   devices: Sequence[str] = (), timeout: float = 600.0) -> ModelInfo:
        """Loads a checkpoint under rrmd's --model_root; returns its ModelInfo."""
        request = pb.LoadModelRequest(name=name, checkpoint_path=str(checkpoint_path), config_path=str(config_path),
                                      overrides=list(overrides), devices=list(devices))
        return ModelInfo.from_message(self._call("LoadModel", request, timeout=timeout))

    def unload_model(self, name: str) -> None:
        self._call("UnloadModel", pb.UnloadModelRequest(name=name))

    # -- jobs --

    @_requests.with_submit_signature
    def submit(self, model: str, puzzles: Any = None, **options: Any) -> "Job":
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
        The keyword arguments are those of rrmdyn.requests.submit_request.
        """
        return self.submit_job(_requests.submit_request(model, puzzles, **options))

    def submit_job(self, request: Any) -> "Job":
        """Sends a prepared rrm.v1.SubmitJobRequest (see submit_request); returns its Job."""
        response = self._call("SubmitJob", request)
        job = Job(self, response.job_id)
        job.total_records = int(response.total_records)
        job.existing = bool(response.existing)
        return job

    def job(self, job_id: str) -> "Job":
        """The Job with this id (NotFound if rrmd does not know it). A sharded
        job's id is refused: rrmdyn.open_job(ID) opens any id."""
        if is_sharded_id(job_id):
            raise sharded_id_refused(job_id)
        job = Job(self, job_id)
        job.status()
        return job

    def jobs(self, state: Union[JobState, str, None] = None) -> List[JobStatus]:
        """Every job (optionally in one state: "running", JobState.SUCCEEDED, ...)."""
        return [JobStatus.from_message(j) for j in self._call("ListJobs", jobs_request(state)).jobs]

    # -- analysis --

    def analyze_records(self, records: Sequence[Any], **parameters: Any) -> Report:
        """The SPEC §5 analysis of the given records, computed by rrmd's
        AnalyzeRecords RPC: e.g. a sharded job's merged records, or a JSONL
        file's (rrmdyn.read_jsonl). records: dicts as Job.records() yields
        them, or rrm.v1.ExampleRecord messages; any order. parameters and the
        returned dict: as Job.report() (here "complete" is True, "job_id" "").
        """
        requests = _requests.analyze_records_requests(records, parameters)
        try:
            # No deadline: analysing a million records with bootstrap CIs takes minutes.
            response = self._stub.AnalyzeRecords(iter(requests), metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        return report_from_response(response)


class Job:
    """One measurement job on rrmd."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.job_id = job_id
        self.total_records: Optional[int] = None
        self.existing = False
        self._records: Optional[List[Dict[str, Any]]] = None  # every record, filled by all_records()
        self._provenance: Optional[Provenance] = None
        self.reconnects = 0  # record streams reopened after a break (see records())
        self._live_call: Any = None  # the StreamRecords call in flight (see _stream)

    def __repr__(self) -> str:
        return "Job(%r)" % self.job_id

    def _get(self) -> Any:
        """GetJob: the rrm.v1.Job message."""
        return self.client._call("GetJob", pb.GetJobRequest(job_id=self.job_id))

    def status(self) -> JobStatus:
        """GetJob: the job's state, counts (ints), options and provenance."""
        status = JobStatus.from_message(self._get())
        self.total_records = status.total_records
        self._provenance = status.provenance
        return status

    @property
    def provenance(self) -> Provenance:
        """The model, checkpoint (sha256), config, options and versions that
        produced this job's records (fixed at submit; one GetJob, then cached)."""
        if self._provenance is None:
            self.status()
        assert self._provenance is not None
        return self._provenance

    def cancel(self) -> JobStatus:
        """Cancels the waiting work; stored records stay readable. Returns the status."""
        return JobStatus.from_message(self.client._call("CancelJob", pb.CancelJobRequest(job_id=self.job_id)))

    def delete(self) -> None:
        """Removes the job and its stored records on the server (DeleteJob; an
        unfinished job is cancelled first). Afterwards the id is NotFound."""
        self.client._call("DeleteJob", pb.DeleteJobRequest(job_id=self.job_id))

    def done(self) -> bool:
        return self.status().finished

    def records(self, from_index: int = 0, retry_seconds: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """Yields the job's records (dicts, the JSONL form) in stream-index order.

        Starts at `from_index`; follows the job live until it ends. When the
        stream breaks (rrmd restarted, connection lost: rrmdyn.contract's
        retryable codes), it reconnects with from_index = the count received so
        far (no gaps, no duplicates), with backoff 0.1 s doubling to 5 s, and
        gives up after `retry_seconds` (default: the client's, 60 s) without
        progress by raising Unavailable.
        """
        with contextlib.closing(self._stream(from_index, retry_seconds)) as stream:
            for message in stream:
                yield _records.record_to_dict(message)

    def _stream(self, from_index: int = 0, retry_seconds: Optional[float] = None,
                stop: Optional[threading.Event] = None) -> Generator[Any, None, None]:
        """records() as rrm.v1.ExampleRecord messages. `stop` (a threading.Event)
        ends the stream quietly once set; whoever sets it from another thread
        cancels `self._live_call` to interrupt a stream waiting for records."""
        reconnect = Reconnect(self.client.retry_seconds if retry_seconds is None else retry_seconds)
        stop = stop or threading.Event()
        index = int(from_index)
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
                    reconnect.progressed()
                    yield message
                return
            except grpc.RpcError as error:
                if stop.is_set():
                    return
                delay = reconnect.failed(errors.from_rpc_error(error),
                                         "StreamRecords %s (received %d)" % (self.job_id, index))
                if stop.wait(delay):
                    return
                self.reconnects += 1
            finally:
                if call is not None:
                    call.cancel()  # a consumer that stops early must not leave the stream open
                self._live_call = None

    def all_records(self, refresh: bool = False) -> List[Dict[str, Any]]:
        """Every record of the job as a list of dicts (cached once read)."""
        if self._records is None or refresh:
            self._records = list(self.records())
        return self._records

    def wait(self, progress: bool = True, poll_seconds: float = 0.5, timeout: Optional[float] = None,
             file: Optional[IO[str]] = None) -> JobStatus:
        """Blocks until the job ends; returns its final status.

        progress=True shows a tqdm.auto bar (records stored of total, rate,
        ETA; a widget in Jupyter) on `file` (default stderr). Waits out a
        server restart for the client's retry_seconds; DeadlineExceeded after
        `timeout` seconds.
        """
        return wait_until_finished(self.job_id, self.status, progress=progress, poll_seconds=poll_seconds,
                                   timeout=timeout, retry_seconds=self.client.retry_seconds, file=file)

    def to_pandas(self, per_segment: bool = False, records: Optional[Sequence[Dict[str, Any]]] = None) -> Any:
        """The records as a DataFrame (see rrmdyn.records.to_dataframe):
        one row per record with per-segment arrays in `seg_*` columns, or
        with per_segment=True one row per (record, segment)."""
        return _records.to_dataframe(self.all_records() if records is None else records, per_segment=per_segment)

    def to_xarray(self) -> Any:
        """The records as an xarray Dataset (record x segment x exponent) with
        the provenance as attributes (rrmdyn.xarray_export; python3-xarray)."""
        from .xarray_export import to_xarray
        return to_xarray(self.all_records(), self.provenance)

    def write_jsonl(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Every record into `path` (JSONL) and the provenance into PATH.provenance.json."""
        _records.write_jsonl(self.all_records(), path, provenance=self.provenance)

    def write_csv(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Every record as rrmctl's CSV table, after a "# provenance: {...}" line."""
        _records.write_csv(self.all_records(), path, provenance=self.provenance)

    def report(self, **parameters: Any) -> Report:
        """The SPEC §5 analysis computed by rrmd's Analyze RPC (core/analysis,
        docs/analysis.md), so the numbers are the ones every client shows.

        parameters: tau, early_window, bootstrap, seed, displacement_bins,
        lyapunov_method, restarts (AnalysisParameters; unset = the core's
        defaults). Returns a Report: the report JSON as a dict (NaN as float) plus
        "table" (the plain-text rendering), "complete" (False while the job
        was unfinished), "note", "job_id", "job_state" (a JobState, when the
        records were read), and "frames": DataFrames "aucs", "matched",
        "matched_bins", "summaries", "early", "restarts", "pruning".
        Raises Unimplemented if this rrmd does not serve Analyze.
        """
        request = pb.AnalyzeRequest(job_id=self.job_id)
        _requests.set_analysis_parameters(request.parameters, parameters)
        response = self.client._call("Analyze", request, timeout=max(self.client.timeout, 600.0))
        return report_from_response(response)
