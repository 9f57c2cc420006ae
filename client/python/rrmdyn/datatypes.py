"""rrmdyn's typed values: job states, job statuses, models and provenance as
enums and dataclasses built from the rrm.v1 messages, with integers as
integers (proto3 JSON writes int64 as strings; these never do)."""

import dataclasses
import enum
from typing import Any, Dict, List, Mapping, Union

from ._stubs import pb
from ._version import __version__


class JobState(str, enum.Enum):
    """rrm.v1.JobState. A str: JobState.SUCCEEDED == "JOB_STATE_SUCCEEDED"."""

    UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
    QUEUED = "JOB_STATE_QUEUED"
    RUNNING = "JOB_STATE_RUNNING"
    SUCCEEDED = "JOB_STATE_SUCCEEDED"
    FAILED = "JOB_STATE_FAILED"
    CANCELLED = "JOB_STATE_CANCELLED"

    def __str__(self) -> str:
        return self.value

    @property
    def short(self) -> str:
        """"JOB_STATE_RUNNING" -> "running" (rrmctl's and the CLI's spelling)."""
        return self.value[len("JOB_STATE_"):].lower()

    @property
    def finished(self) -> bool:
        return self in FINAL_STATES

    @property
    def proto(self) -> Any:
        """The rrm.v1.JobState value."""
        return pb.JobState.Value(self.value)

    @classmethod
    def parse(cls, value: Union["JobState", str, int]) -> "JobState":
        """From a proto enum number, "JOB_STATE_RUNNING" or "running"."""
        if isinstance(value, JobState):
            return value
        if isinstance(value, int):
            return cls(pb.JobState.Name(value))
        text = value.strip().upper()
        return cls(text if text.startswith("JOB_STATE_") else "JOB_STATE_" + text)


FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


def plain(message: Any) -> Dict[str, Any]:
    """A message as a dict of Python values by proto field name, every field
    present: integers as int, enums by name, nested messages as dicts."""
    out: Dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            out[field.name] = dict(value)
        elif field.label == field.LABEL_REPEATED:
            out[field.name] = [_plain_value(field, v) for v in value]
        else:
            out[field.name] = _plain_value(field, value)
    return out


def _plain_value(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        return plain(value)
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name
    return value


def _fields(cls: Any, values: Mapping[str, Any]) -> Dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Which model, checkpoint, options and software produced a job's records
    (proto Provenance + the job's JobOptions). Travels with every export."""

    job_id: str = ""
    model: str = ""
    arch: str = ""
    checkpoint_path: str = ""
    checkpoint_sha256: str = ""
    config_path: str = ""
    config_sha256: str = ""
    overrides: List[str] = dataclasses.field(default_factory=list)
    forward_dtype: str = ""
    rrm_version: str = ""
    rrmdyn_version: str = __version__
    options: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_job(cls, job: Any) -> "Provenance":
        """From an rrm.v1.Job message."""
        values = plain(job.provenance)
        values["model"] = values["model"] or job.model  # jobs stored before provenance existed
        return cls(job_id=job.job_id, options=plain(job.options), **_fields(cls, values))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable, exactly the fields above."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Provenance":
        """Unknown keys are ignored (a newer writer), missing ones keep their defaults."""
        return cls(**_fields(cls, values))


@dataclasses.dataclass(frozen=True)
class JobStatus:
    """rrm.v1.Job as GetJob answers it (field for field; `message` is the message)."""

    job_id: str
    model: str
    state: JobState
    examples: int
    restarts: int
    total_records: int
    records_stored: int
    records_failed: int
    error: str
    submitted_unix: float
    started_unix: float
    finished_unix: float
    compute_seconds: float
    options: Dict[str, Any]
    owner: str
    idempotency_key: str
    errors: List[str]
    provenance: Provenance
    paused: str  # why the job waits now (a full disk); "" while it progresses
    message: Any = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_message(cls, job: Any) -> "JobStatus":
        values = plain(job)
        values["state"] = JobState(values["state"])
        values["provenance"] = Provenance.from_job(job)
        return cls(message=job, **_fields(cls, values))

    @property
    def finished(self) -> bool:
        return self.state.finished

    def to_dict(self) -> Dict[str, Any]:
        """The proto3 JSON form (as `rrmctl status --json` prints it: int64 as strings)."""
        from google.protobuf import json_format
        result: Dict[str, Any] = json_format.MessageToDict(self.message, preserving_proto_field_name=True,
                                                           including_default_value_fields=True)
        return result


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """rrm.v1.ModelInfo: a model rrmd holds."""

    name: str
    checkpoint_path: str
    config_path: str
    overrides: List[str]
    devices: List[str]
    arch: str
    seq_len: int
    vocab_size: int
    num_puzzle_identifiers: int
    puzzle_positions: int
    halt_max_steps: int
    updates_per_segment: int
    forward_dtype: str
    parameter_bytes: int
    checkpoint_sha256: str
    config_sha256: str

    @classmethod
    def from_message(cls, info: Any) -> "ModelInfo":
        return cls(**_fields(cls, plain(info)))

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


class Report(Dict[str, Any]):
    """The SPEC §5 report of Job.report() / Client.analyze_records(): the
    report JSON (docs/analysis.md) as a dict, NaN as float, with what the
    response adds under "table", "complete", "note", "job_id", "job_state"
    and "frames" (DataFrames), also as typed attributes."""

    @property
    def table(self) -> str:
        """The plain-text rendering rrmctl prints."""
        return str(self.get("table", ""))

    @property
    def complete(self) -> bool:
        """False while the job was unfinished when its records were read."""
        return bool(self.get("complete", False))

    @property
    def note(self) -> str:
        return str(self.get("note", ""))

    @property
    def job_id(self) -> str:
        return str(self.get("job_id", ""))

    @property
    def job_state(self) -> JobState:
        return JobState.parse(self.get("job_state", JobState.UNSPECIFIED))

    @property
    def frames(self) -> Dict[str, Any]:
        """DataFrames of the row-shaped parts: aucs, matched, matched_bins, summaries, early, restarts, pruning."""
        frames: Dict[str, Any] = self.get("frames", {})
        return frames
