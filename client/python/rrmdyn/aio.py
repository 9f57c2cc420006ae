"""rrmdyn for asyncio code, on grpc.aio: the same API as rrmdyn.Client and
rrmdyn.Job with every call awaited.

    async with rrmdyn.aio.Client("127.0.0.1:50051") as client:
        job = await client.submit("trm", sudoku_strings, segments=16)
        async for record in job.records():   # follows the job live, resumes after a restart
            ...
        status = await job.wait()
        provenance = await job.provenance
        frame = await job.to_pandas()

Requests, typed values, the retry contract and the progress bar are the sync
client's (rrmdyn.requests, rrmdyn.datatypes, rrmdyn.progress).
"""

import asyncio
import os
from typing import IO, Any, AsyncIterator, Awaitable, Dict, List, Optional, Sequence, Tuple, Union

import grpc
import grpc.aio

from . import errors
from . import records as _records
from . import requests as _requests
from .client import channel_credentials, channel_options, jobs_request, metadata, report_from_response, \
    sharded_id_refused
from .datatypes import JobState, JobStatus, ModelInfo, Provenance, Report
from .progress import Reconnect, Waiter
from ._stubs import health_pb2, health_pb2_grpc, pb, pb_grpc
from .targets import is_sharded_id


class Client:
    """An asyncio connection to rrmd; arguments as rrmdyn.Client. Create it
    inside the running event loop (grpc.aio binds the channel to it)."""

    def __init__(self, target: str = "127.0.0.1:50051", token: Optional[str] = None, tls: Any = None,
                 timeout: float = 60.0, retry_seconds: float = 60.0, tls_server_name: Optional[str] = None) -> None:
        self.target = target
        self.token = token
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        credentials = channel_credentials(tls)
        options = channel_options(tls, tls_server_name)
        if credentials is not None:
            self._channel = grpc.aio.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        self._stub = pb_grpc.DynamicsStub(self._channel)

    def __repr__(self) -> str:
        return "aio.Client(%r)" % self.target

    @property
    def stub(self) -> Any:
        return self._stub

    def _metadata(self) -> Tuple[Tuple[str, str], ...]:
        return metadata(self.token)

    async def _call(self, name: str, request: Any, timeout: Optional[float] = None) -> Any:
        try:
            return await getattr(self._stub, name)(request, timeout=timeout or self.timeout,
                                                   metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def health(self) -> str:
        try:
            response = await health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self.timeout, metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return name

    async def models(self) -> List[ModelInfo]:
        response = await self._call("ListModels", pb.ListModelsRequest())
        return [ModelInfo.from_message(m) for m in response.models]

    async def load_model(self, name: str, checkpoint_path: Union[str, "os.PathLike[str]"],
                         config_path: Union[str, "os.PathLike[str]"] = "", overrides: Sequence[str] = (),
                         devices: Sequence[str] = (), timeout: float = 600.0) -> ModelInfo:
        request = pb.LoadModelRequest(name=name, checkpoint_path=str(checkpoint_path), config_path=str(config_path),
                                      overrides=list(overrides), devices=list(devices))
        return ModelInfo.from_message(await self._call("LoadModel", request, timeout=timeout))

    async def unload_model(self, name: str) -> None:
        await self._call("UnloadModel", pb.UnloadModelRequest(name=name))

    @_requests.with_submit_signature
    async def submit(self, model: str, puzzles: Any = None, **options: Any) -> "Job":
        """As rrmdyn.Client.submit."""
        return await self.submit_job(_requests.submit_request(model, puzzles, **options))

    async def submit_job(self, request: Any) -> "Job":
        response = await self._call("SubmitJob", request)
        job = Job(self, response.job_id)
        job.total_records = int(response.total_records)
        job.existing = bool(response.existing)
        return job

    async def job(self, job_id: str) -> "Job":
        if is_sharded_id(job_id):
            raise sharded_id_refused(job_id)
        job = Job(self, job_id)
        await job.status()
        return job

    async def jobs(self, state: Union[JobState, str, None] = None) -> List[JobStatus]:
        return [JobStatus.from_message(j) for j in (await self._call("ListJobs", jobs_request(state))).jobs]

    async def analyze_records(self, records: Sequence[Any], **parameters: Any) -> Report:
        """As rrmdyn.Client.analyze_records."""
        requests = _requests.analyze_records_requests(records, parameters)
        try:
            response = await self._stub.AnalyzeRecords(iter(requests), metadata=self._metadata())
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        return report_from_response(response)


class Job:
    """One measurement job on rrmd (asyncio); as rrmdyn.Job."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.job_id = job_id
        self.total_records: Optional[int] = None
        self.existing = False
        self.reconnects = 0
        self._records: Optional[List[Dict[str, Any]]] = None
        self._provenance: Optional[Provenance] = None

    def __repr__(self) -> str:
        return "aio.Job(%r)" % self.job_id

    async def status(self) -> JobStatus:
        status = JobStatus.from_message(await self.client._call("GetJob", pb.GetJobRequest(job_id=self.job_id)))
        self.total_records = status.total_records
        self._provenance = status.provenance
        return status

    @property
    def provenance(self) -> Awaitable[Provenance]:
        """`await job.provenance`: as rrmdyn.Job.provenance."""
        async def get() -> Provenance:
            if self._provenance is None:
                await self.status()
            assert self._provenance is not None
            return self._provenance
        return get()

    async def cancel(self) -> JobStatus:
        return JobStatus.from_message(await self.client._call("CancelJob",
                                                              pb.CancelJobRequest(job_id=self.job_id)))

    async def delete(self) -> None:
        """Removes the job and its stored records (DeleteJob); see rrmdyn.Job.delete."""
        await self.client._call("DeleteJob", pb.DeleteJobRequest(job_id=self.job_id))

    async def done(self) -> bool:
        return (await self.status()).finished

    async def records(self, from_index: int = 0,
                      retry_seconds: Optional[float] = None) -> AsyncIterator[Dict[str, Any]]:
        """As rrmdyn.Job.records: follows the job live, reconnecting after a
        break with from_index = the count received so far."""
        reconnect = Reconnect(self.client.retry_seconds if retry_seconds is None else retry_seconds)
        index = int(from_index)
        while True:
            call = self.client._stub.StreamRecords(pb.StreamRecordsRequest(job_id=self.job_id, from_index=index),
                                                   metadata=self.client._metadata())
            try:
                async for message in call:
                    index += 1
                    reconnect.progressed()
                    yield _records.record_to_dict(message)
                return
            except grpc.RpcError as error:
                delay = reconnect.failed(errors.from_rpc_error(error),
                                         "StreamRecords %s (received %d)" % (self.job_id, index))
                await asyncio.sleep(delay)
                self.reconnects += 1
            finally:
                call.cancel()  # a consumer that stops early must not leave the stream open

    async def all_records(self, refresh: bool = False) -> List[Dict[str, Any]]:
        if self._records is None or refresh:
            self._records = [r async for r in self.records()]
        return self._records

    async def wait(self, progress: bool = True, poll_seconds: float = 0.5, timeout: Optional[float] = None,
                   file: Optional[IO[str]] = None) -> JobStatus:
        """As rrmdyn.Job.wait (a tqdm.auto bar; server restarts waited out)."""
        waiter = Waiter(self.job_id, progress=progress, poll_seconds=poll_seconds, timeout=timeout,
                        retry_seconds=self.client.retry_seconds, file=file)
        try:
            while True:
                answer: Optional[JobStatus] = None
                try:
                    answer = await self.status()
                except errors.RrmError as error:
                    delay = waiter.next_delay(None, error)
                else:
                    delay = waiter.next_delay(answer)
                if delay is None:
                    assert answer is not None
                    return answer
                await asyncio.sleep(delay)
        finally:
            waiter.close()

    async def to_pandas(self, per_segment: bool = False,
                        records: Optional[Sequence[Dict[str, Any]]] = None) -> Any:
        return _records.to_dataframe(await self.all_records() if records is None else records,
                                     per_segment=per_segment)

    async def to_xarray(self) -> Any:
        """As rrmdyn.Job.to_xarray."""
        from .xarray_export import to_xarray
        return to_xarray(await self.all_records(), await self.provenance)

    async def write_jsonl(self, path: Union[str, "os.PathLike[str]"]) -> None:
        _records.write_jsonl(await self.all_records(), path, provenance=await self.provenance)

    async def write_csv(self, path: Union[str, "os.PathLike[str]"]) -> None:
        _records.write_csv(await self.all_records(), path, provenance=await self.provenance)

    async def report(self, **parameters: Any) -> Report:
        request = pb.AnalyzeRequest(job_id=self.job_id)
        _requests.set_analysis_parameters(request.parameters, parameters)
        response = await self.client._call("Analyze", request, timeout=max(self.client.timeout, 600.0))
        return report_from_response(response)
