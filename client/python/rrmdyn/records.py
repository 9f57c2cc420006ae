"""Records (SPEC §4) as dicts and pandas DataFrames.

A record dict is exactly the JSONL form of ``rrm.v1.ExampleRecord``: the
proto3 JSON mapping with the proto field names and every field present, so
``seed`` is a string and non-finite doubles are ``"NaN"`` / ``"Infinity"``.
The DataFrames turn those into numbers.
"""

import json
import math

import numpy as np

_SEGMENT_FIELDS = ("correct", "token_accuracy", "halt_confidence", "q_halt_logit", "q_continue_logit",
                   "flips", "displacement_h", "displacement_l", "displacement_joint")
_SEGMENT_DTYPES = {"correct": bool, "flips": np.int64}


def record_to_dict(message):
    """proto ExampleRecord -> dict equal to the record's JSONL line."""
    from google.protobuf import json_format
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


def job_to_dict(message):
    from google.protobuf import json_format
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


def read_jsonl(path):
    """Reads records written by rrm-measure / `rrmdyn records` (one JSON object per line)."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def write_jsonl(records, path_or_file):
    if hasattr(path_or_file, "write"):
        for r in records:
            path_or_file.write(json.dumps(r, separators=(",", ":")) + "\n")
        return
    with open(path_or_file, "w") as f:
        write_jsonl(records, f)


def _num(value):
    """A proto3-JSON double ("NaN", "Infinity", numbers, numeric strings) -> float."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    return float(value)  # "NaN", "Infinity", "-Infinity", "1.5" all parse


def _array(values, dtype=float):
    if dtype is float:
        return np.array([_num(v) for v in values], dtype=np.float64)
    return np.array(list(values), dtype=dtype)


def _get(record, name, default):
    v = record.get(name, default)
    return default if v is None else v


def wide_row(record):
    """One record -> a flat dict: scalars, derived d_T/h_T/lambda_1, per-segment arrays `seg_*`."""
    segments = _get(record, "segments", [])
    row = {
        "job_id": _get(record, "job_id", ""),
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
    row["prediction"] = _array(_get(record, "prediction", []), np.int64)
    return row


WIDE_COLUMNS = None  # filled lazily for empty frames


def to_dataframe(records, per_segment=False):
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
                "job_id": r["job_id"], "example_index": r["example_index"], "puzzle_id": r["puzzle_id"],
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
    columns = (["job_id", "example_index", "puzzle_id", "restart", "restart_kind", "givens", "final_correct",
                "first_correct_segment", "error", "segment"] + list(_SEGMENT_FIELDS)
               + ["lyapunov_increment_%d" % (i + 1) for i in range(k)])
    return pd.DataFrame(long_rows, columns=columns)


def as_frame(records_or_frame):
    """Accepts a wide DataFrame, a list of record dicts or messages; returns the wide DataFrame."""
    import pandas as pd
    if isinstance(records_or_frame, pd.DataFrame):
        return records_or_frame
    return to_dataframe(list(records_or_frame))
