"""The request messages rrmdyn sends, built in one place for Client,
ShardedClient and rrmdyn.aio: SubmitJobRequest from keyword options,
AnalysisParameters from keyword values, and a PuzzleInput cut into blocks
for several servers."""

import inspect
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from . import errors
from . import puzzles as _puzzles
from ._stubs import pb

F = TypeVar("F", bound=Callable[..., Any])


def submit_request(model: str, puzzles: Any = None, *, kind: Optional[str] = None,
                   solutions: Optional[Sequence[Any]] = None, labels: Optional[Sequence[Any]] = None,
                   ids: Optional[Sequence[Any]] = None, puzzle_identifiers: Optional[Sequence[int]] = None,
                   dataset_path: Optional[str] = None, limit: int = 0, segments: int = 0, lyapunov_k: int = 0,
                   seed: int = 0, tangent_dtype: str = "", restarts: int = 1, restart_kind: str = "none",
                   restart_sigma: float = 0.0, batch_size: int = 0, priority: int = 0,
                   job_labels: Optional[Mapping[str, Any]] = None, lyapunov_draws: int = 0,
                   lyapunov_method: str = "", early_window: int = 0, energy_map_directions: int = 0,
                   deadline_seconds: int = 0, idempotency_key: str = "") -> Any:
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
    o.energy_map_directions = int(energy_map_directions)
    o.deadline_seconds = int(deadline_seconds)
    return request


def with_submit_signature(method: F) -> F:
    """Shows submit_request's keyword arguments as `method`'s (help(), IDEs)."""
    signature = inspect.signature(submit_request)
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    setattr(method, "__signature__", signature.replace(parameters=[self] + list(signature.parameters.values())))
    return method


def set_analysis_parameters(message: Any, parameters: Mapping[str, Any]) -> None:
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


RECORDS_PER_MESSAGE = 1000  # AnalyzeRecords chunks (~3 MB), as rrmctl


def analyze_records_requests(records: Sequence[Any], parameters: Mapping[str, Any]) -> List[Any]:
    """AnalyzeRecordsRequest messages for `records` (dicts as Job.records()
    yields them, or ExampleRecord messages), the parameters in the first one,
    which is always sent. ValueError names a record that does not parse."""
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
    requests = []
    for begin in range(0, max(len(messages), 1), RECORDS_PER_MESSAGE):
        request = pb.AnalyzeRecordsRequest(records=messages[begin:begin + RECORDS_PER_MESSAGE])
        if begin == 0:
            request.parameters.CopyFrom(message)
        requests.append(request)
    return requests


def _blocks(n: int, parts: int) -> List[Tuple[int, int]]:
    """Blocks [begin, end) of n items over `parts` parts, sizes differing by at most one."""
    count = min(parts, n)
    return [(n * i // count, n * (i + 1) // count) for i in range(count)]


def split_puzzles(puzzle_input: Any, parts: int) -> List[Any]:
    """An rrm.v1.PuzzleInput cut into at most `parts` contiguous non-empty
    blocks (fewer when there are fewer puzzles), each with its
    first_example_index; optional per-puzzle fields are cut alongside."""
    if parts < 1:
        raise errors.InvalidArgument("parts: expected >= 1, found %d" % parts)
    first = puzzle_input.first_example_index
    source = puzzle_input.WhichOneof("source")
    split = []
    if source == "tokens":
        puzzles = puzzle_input.tokens.puzzles
        for begin, end in _blocks(len(puzzles), parts):
            part = pb.PuzzleInput(first_example_index=first + begin)
            part.tokens.puzzles.extend(puzzles[begin:end])
            part.tokens.kind = puzzle_input.tokens.kind
            split.append(part)
    elif source in ("sudoku", "maze"):
        text = getattr(puzzle_input, source)
        n = len(text.puzzles)
        for name in ("solutions", "ids"):
            found = len(getattr(text, name))
            if found not in (0, n):
                raise errors.InvalidArgument("puzzles.%s.%s: expected none or one per puzzle (%d), found %d"
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
            raise errors.InvalidArgument(
                "puzzles.limit: a dataset on the servers is split over %d servers by index range, which needs the "
                "number of examples to measure; expected > 0, found %d" % (parts, limit))
        for begin, end in _blocks(limit if limit > 0 else 1, parts):
            split.append(pb.PuzzleInput(dataset_path=puzzle_input.dataset_path, first_example_index=first + begin,
                                        limit=end - begin if limit > 0 else 0))
    else:
        raise errors.InvalidArgument("puzzles: expected one of tokens, sudoku, maze or dataset_path, found none")
    if not split:
        raise errors.InvalidArgument("puzzles: expected at least one puzzle, found 0")
    return split
