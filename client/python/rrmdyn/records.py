"""Records (SPEC §4) as dicts, pandas DataFrames, JSONL and CSV files.

A record dict is exactly the JSONL form of ``rrm.v1.ExampleRecord``: the
proto3 JSON mapping with the proto field names and every field present, so
``seed`` is a string and non-finite doubles are ``"NaN"`` / ``"Infinity"``.
The DataFrames turn those into numbers.

Exports say where their records come from (rrmdyn.Provenance, issue #14):
- JSONL: every line stays one record (so rrmctl report --records and any
  SPEC §4 reader keep reading it); the provenance is the sidecar
  ``PATH.provenance.json`` next to it.
- CSV (rrmctl's column layout, client/cpp/record_csv.h): a first line
  ``# provenance: {...}`` (pandas.read_csv(path, comment="#") skips it).
read_provenance(path) reads either; read_jsonl also skips a
``{"provenance": ...}`` header line, should a file carry one.
"""

import csv
import io
import json
import math
import os
from typing import IO, Any, Dict, Iterable, List, Optional, Union

import numpy as np

from .datatypes import Provenance

PROVENANCE_SUFFIX = ".provenance.json"
CSV_PROVENANCE_PREFIX = "# provenance: "

_SEGMENT_FIELDS = ("correct", "token_accuracy", "halt_confidence", "q_halt_logit", "q_continue_logit",
                   "flips", "displacement_h", "displacement_l", "displacement_joint")
_SEGMENT_DTYPES = {"correct": bool, "flips": np.int64}


def record_to_dict(message: Any) -> Dict[str, Any]:
    """proto ExampleRecord -> dict equal to the record's JSONL line."""
    from google.protobuf import json_format
    result: Dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                                       including_default_value_fields=True)
    return result


PathOrFile = Union[str, "os.PathLike[str]", IO[str]]


def read_jsonl(path: Union[str, "os.PathLike[str]"]) -> List[Dict[str, Any]]:
    """Reads records written by rrm-measure / rrmctl / `rrmdyn records` (one
    JSON object per line), with or without provenance."""
    out: List[Dict[str, Any]] = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                value = json.loads(line)
                if not (len(out) == 0 and set(value) == {"provenance"}):
                    out.append(value)
    return out


def write_jsonl(records: Iterable[Dict[str, Any]], path_or_file: PathOrFile,
                provenance: Optional[Provenance] = None) -> None:
    """One record a line; with `provenance` and a path, also the sidecar
    PATH.provenance.json (a file object gets the records only)."""
    if hasattr(path_or_file, "write"):
        for r in records:
            path_or_file.write(json.dumps(r, separators=(",", ":")) + "\n")
        return
    path = os.fspath(path_or_file)
    with open(path, "w") as f:
        write_jsonl(records, f)
    if provenance is not None:
        write_provenance_sidecar(path, provenance)


def write_provenance_sidecar(path: Union[str, "os.PathLike[str]"], provenance: Provenance) -> None:
    """PATH.provenance.json: the provenance of the JSONL file at `path`."""
    with open(os.fspath(path) + PROVENANCE_SUFFIX, "w") as f:
        f.write(json.dumps(provenance.to_dict(), indent=2, sort_keys=True) + "\n")


def read_provenance(path: Union[str, "os.PathLike[str]"]) -> Optional[Provenance]:
    """The provenance of an export: a JSONL file's sidecar (or header line),
    a CSV file's first line; None when it carries none."""
    path = os.fspath(path)
    if os.path.exists(path + PROVENANCE_SUFFIX):
        with open(path + PROVENANCE_SUFFIX) as f:
            return Provenance.from_dict(json.load(f))
    with open(path) as f:
        first = f.readline().strip()
    if first.startswith(CSV_PROVENANCE_PREFIX):
        return Provenance.from_dict(json.loads(first[len(CSV_PROVENANCE_PREFIX):]))
    if first.startswith("{"):
        value = json.loads(first)
        if set(value) == {"provenance"}:
            return Provenance.from_dict(value["provenance"])
    return None


_CSV_SCALARS = ("job_id", "model", "model_family", "example_index", "puzzle_id", "restart", "restart_kind", "seed",
                "givens", "updates_per_segment")
_CSV_SCALARS_2 = ("first_correct_segment", "lyapunov_method", "lyapunov_window_segments", "lyapunov_iterations",
                  "lyapunov_tolerance", "lyapunov_converged", "device", "compute_seconds", "error")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _shortest(value)
    return str(value)


def _shortest(value: float) -> str:
    """A double as C++ std::to_chars writes it (rrmctl's CSV): the shortest
    round-trip digits, fixed or scientific, whichever is shorter (fixed on a
    tie); non-finite as NaN / Infinity / -Infinity."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    import decimal
    sign, digit_tuple, exponent = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    n = len(digits)
    power = exponent + n - 1
    scientific = digits[0] + ("." + digits[1:] if n > 1 else "") + "e%s%02d" % ("+" if power >= 0 else "-", abs(power))
    if exponent >= 0:
        fixed = digits + "0" * exponent
    elif n + exponent > 0:
        fixed = digits[:n + exponent] + "." + digits[n + exponent:]
    else:
        fixed = "0." + "0" * -(n + exponent) + digits
    return ("-" if math.copysign(1.0, value) < 0 else "") + (fixed if len(fixed) <= len(scientific) else scientific)


def records_to_csv(records: Iterable[Dict[str, Any]]) -> str:
    """The records as rrmctl's CSV table (client/cpp/record_csv.h): scalars,
    then lyapunov_1..K, lyapunov_sd_1..K, lyapunov_window_1..W, <field>_1..T
    per segment, lyapunov_increment_<t>_<i>, prediction."""
    rows = list(records)
    T = max((len(r.get("segments") or []) for r in rows), default=0)
    K = max([len(r.get(name) or []) for r in rows for name in ("lyapunov", "lyapunov_sd")]
            + [len(seg.get("lyapunov_increments") or []) for r in rows for seg in (r.get("segments") or [])]
            + [0])
    W = max((len(r.get("lyapunov_window") or []) for r in rows), default=0)
    widths = {"lyapunov": K, "lyapunov_sd": K, "lyapunov_window": W}
    header = list(_CSV_SCALARS) + ["segments", "correct"] + list(_CSV_SCALARS_2)
    for name, width in widths.items():
        header += ["%s_%d" % (name, i + 1) for i in range(width)]
    for name in _SEGMENT_FIELDS:
        header += ["%s_%d" % (name, t + 1) for t in range(T)]
    header += ["lyapunov_increment_%d_%d" % (t + 1, i + 1) for t in range(T) for i in range(K)]
    header.append("prediction")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        segments = r.get("segments") or []
        cells: List[Any] = [r.get(name) for name in _CSV_SCALARS] + [len(segments), r.get("correct")]
        cells += [r.get(name) for name in _CSV_SCALARS_2]
        for name, width in widths.items():
            values = [_num(v) for v in (r.get(name) or [])]
            cells += values + [None] * (width - len(values))
        for name in _SEGMENT_FIELDS:
            values = [s.get(name) if name in ("correct", "flips") else _num(s.get(name)) for s in segments]
            cells += values + [None] * (T - len(values))
        for t in range(T):
            increments = [_num(v) for v in (segments[t].get("lyapunov_increments") or [])] if t < len(segments) else []
            cells += increments[:K] + [None] * (K - len(increments[:K]))
        cells.append(" ".join(str(v) for v in (r.get("prediction") or [])))
        writer.writerow([_csv_cell(c) for c in cells])
    return out.getvalue()


def write_csv(records: Iterable[Dict[str, Any]], path: Union[str, "os.PathLike[str]"],
              provenance: Optional[Provenance] = None) -> None:
    """records_to_csv into `path`, after a first line "# provenance: {json}" when given."""
    with open(path, "w") as f:
        if provenance is not None:
            f.write(CSV_PROVENANCE_PREFIX + json.dumps(provenance.to_dict(), sort_keys=True) + "\n")
        f.write(records_to_csv(records))


def _num(value: Any) -> float:
    """A proto3-JSON double ("NaN", "Infinity", numbers, numeric strings) -> float."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    return float(value)  # "NaN", "Infinity", "-Infinity", "1.5" all parse


def _array(values: Iterable[Any], dtype: Any = float) -> Any:
    if dtype is float:
        return np.array([_num(v) for v in values], dtype=np.float64)
    return np.array(list(values), dtype=dtype)


def _get(record: Dict[str, Any], name: str, default: Any) -> Any:
    v = record.get(name, default)
    return default if v is None else v


def wide_row(record: Dict[str, Any]) -> Dict[str, Any]:
    """One record -> a flat dict: scalars, derived d_T/h_T/lambda_1, per-segment arrays `seg_*`."""
    segments = _get(record, "segments", [])
    row = {
        "job_id": _get(record, "job_id", ""),
        "model": _get(record, "model", ""),
        "model_family": _get(record, "model_family", ""),
        "example_index": int(_get(record, "example_index", 0)),
        "puzzle_id": _get(record, "puzzle_id", ""),
        "restart": int(_get(record, "restart", 0)),
        "restart_kind": _get(record, "restart_kind", ""),
        "seed": int(_get(record, "seed", 0)),
        "givens": int(_get(record, "givens", 0)),
        "updates_per_segment": int(_get(record, "updates_per_segment", 0)),
        "correct": bool(_get(record, "correct", False)),
        "first_correct_segment": int(_get(record, "first_correct_segment", 0)),
        "lyapunov_method": _get(record, "lyapunov_method", ""),
        "device": _get(record, "device", ""),
        "compute_seconds": _num(_get(record, "compute_seconds", 0.0)),
        "error": _get(record, "error", ""),
        "T": len(segments),
    }
    lyap = _array(_get(record, "lyapunov", []))
    row["lambda_1"] = float(lyap[0]) if lyap.size else math.nan
    for name in _SEGMENT_FIELDS:
        dtype = _SEGMENT_DTYPES.get(name, float)
        row["seg_" + name] = _array([_get(s, name, 0 if dtype is not float else math.nan) for s in segments], dtype)
    # SPEC §5: d_T and h_T are the last segment's displacement_joint and halt_confidence.
    row["d_T"] = float(row["seg_displacement_joint"][-1]) if segments else math.nan
    row["h_T"] = float(row["seg_halt_confidence"][-1]) if segments else math.nan
    increments = [[_num(v) for v in _get(s, "lyapunov_increments", [])] for s in segments]
    k = max((len(i) for i in increments), default=0)
    inc = np.full((len(segments), k), math.nan)
    for t, values in enumerate(increments):
        inc[t, :len(values)] = values
    row["seg_lyapunov_increments"] = inc
    row["lyapunov"] = lyap
    row["lyapunov_sd"] = _array(_get(record, "lyapunov_sd", []))
    row["lyapunov_window"] = _array(_get(record, "lyapunov_window", []))
    row["lyapunov_window_segments"] = int(_get(record, "lyapunov_window_segments", 0))
    row["lyapunov_iterations"] = int(_get(record, "lyapunov_iterations", 0))
    row["lyapunov_tolerance"] = _num(_get(record, "lyapunov_tolerance", 0.0))
    row["lyapunov_converged"] = bool(_get(record, "lyapunov_converged", False))
    row["prediction"] = _array(_get(record, "prediction", []), np.int64)
    return row


def to_dataframe(records: Iterable[Any], per_segment: bool = False) -> Any:
    """Records (dicts or ExampleRecord messages) -> pandas DataFrame.

    per_segment=False: one row per record; per-segment values are NumPy arrays
    in columns `seg_<field>` (seg_displacement_joint[t-1] is d_t), plus the
    derived scalars `T`, `d_T`, `h_T`, `lambda_1` (NaN without Lyapunov data).
    per_segment=True: the long form, one row per (record, segment) with
    `segment` = t (1-based), the record's identity and outcome (`final_correct`),
    the segment fields, and `lyapunov_increment_1..k`.
    """
    import pandas as pd
    rows = [wide_row(r if isinstance(r, dict) else record_to_dict(r)) for r in records]
    if not per_segment:
        if not rows:
            return pd.DataFrame(columns=list(wide_row({}).keys()))
        return pd.DataFrame(rows)
    long_rows = []
    k = max((r["seg_lyapunov_increments"].shape[1] for r in rows), default=0)
    for r in rows:
        for t in range(r["T"]):
            row = {
                "job_id": r["job_id"], "model": r["model"], "example_index": r["example_index"], "puzzle_id": r["puzzle_id"],
                "restart": r["restart"], "restart_kind": r["restart_kind"], "givens": r["givens"],
                "final_correct": r["correct"], "first_correct_segment": r["first_correct_segment"],
                "error": r["error"], "segment": t + 1,
            }
            for name in _SEGMENT_FIELDS:
                value = r["seg_" + name][t]
                row[name] = value.item() if hasattr(value, "item") else value
            inc = r["seg_lyapunov_increments"]
            for i in range(k):
                row["lyapunov_increment_%d" % (i + 1)] = float(inc[t, i]) if i < inc.shape[1] else math.nan
            long_rows.append(row)
    columns = (["job_id", "model", "example_index", "puzzle_id", "restart", "restart_kind", "givens", "final_correct",
                "first_correct_segment", "error", "segment"] + list(_SEGMENT_FIELDS)
               + ["lyapunov_increment_%d" % (i + 1) for i in range(k)])
    return pd.DataFrame(long_rows, columns=columns)


def as_frame(records_or_frame: Any) -> Any:
    """Accepts a wide DataFrame, a list of record dicts or messages; returns the wide DataFrame."""
    import pandas as pd
    if isinstance(records_or_frame, pd.DataFrame):
        return records_or_frame
    return to_dataframe(list(records_or_frame))
