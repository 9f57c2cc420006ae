"""Records (SPEC §4) as one xarray Dataset, record × segment × exponent,
with the job's provenance as attributes, so a .nc file says which model,
checkpoint and options produced it (needs python3-xarray; .to_netcdf needs
python3-netcdf4).

Layout:
- coordinates `record` (0..R−1, the order given), `segment` (t = 1..T_max),
  `exponent` (i = 1..k_max), `position` (0..P−1, prediction tokens);
- per record: the record's scalars (job_id, example_index, puzzle_id,
  restart, …, correct) and the derived `T`, `d_T`, `h_T`;
- per (record, segment): the segment fields (SPEC §4) as float64, NaN beyond
  the record's T (`correct` as 1.0 / 0.0);
- per (record, exponent): `lyapunov`, `lyapunov_sd` (NaN beyond the record's k);
- per (record, segment, exponent): `lyapunov_increments` ℓ_{t,i};
- per (record, position): `prediction`, −1 beyond the record's length.
Attributes: every provenance value under `provenance.<key>` (nested keys
joined with "."; booleans as "true"/"false", lists as JSON), the whole
provenance again as JSON in `provenance_json`, and `rrmdyn_layout`.
"""

import json

import numpy as np

from .records import as_frame
from .report import provenance_dict

LAYOUT = "rrmdyn records v1: record x segment x exponent (docs: rrmdyn.xarray_export)"

_RECORD_FIELDS = (("job_id", str), ("example_index", np.int64), ("puzzle_id", str), ("restart", np.int64),
                  ("restart_kind", str), ("seed", np.uint64), ("givens", np.int64),
                  ("updates_per_segment", np.int64), ("correct", bool), ("first_correct_segment", np.int64),
                  ("lyapunov_method", str), ("device", str), ("compute_seconds", np.float64), ("error", str),
                  ("T", np.int64), ("d_T", np.float64), ("h_T", np.float64),
                  # Newer record fields (SPEC §4 additions), kept when the records carry them.
                  ("model", str), ("model_family", str), ("lyapunov_converged", bool))
_SEGMENT_FIELDS = ("correct", "token_accuracy", "halt_confidence", "q_halt_logit", "q_continue_logit", "flips",
                   "displacement_h", "displacement_l", "displacement_joint")


def _attribute(value):
    # netCDF attributes hold strings and numbers only.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def provenance_attributes(provenance):
    """The provenance dict as flat netCDF-safe attributes (module docstring)."""
    out = {}

    def walk(prefix, obj):
        for key, value in obj.items():
            name = "%s.%s" % (prefix, key)
            if isinstance(value, dict):
                walk(name, value)
            elif value is not None:
                out[name] = _attribute(value)
    provenance = provenance_dict(provenance)
    if provenance:
        walk("provenance", dict(provenance))
        out["provenance_json"] = json.dumps(provenance, sort_keys=True, default=str)
    return out


def _column(frame, name, dtype):
    if dtype is str:
        return np.array([str(v) for v in frame[name]], dtype=object)
    return frame[name].to_numpy().astype(dtype)


def to_xarray(records, provenance=None):
    """Records (dicts, ExampleRecord messages or the wide DataFrame) ->
    xarray.Dataset (module docstring); `provenance`: the job's provenance
    dict (model, checkpoint sha256, config, options, rrm version, …)."""
    import xarray as xr
    frame = as_frame(records).reset_index(drop=True)
    n = len(frame)
    T = int(frame["T"].max()) if n else 0
    k = max((len(v) for v in frame["lyapunov"]), default=0) if n else 0
    k = max([k] + [int(v.shape[1]) for v in frame["seg_lyapunov_increments"]]) if n else 0
    positions = max((len(v) for v in frame["prediction"]), default=0) if n else 0

    data = {}
    for name, dtype in _RECORD_FIELDS:
        if name in frame:
            data[name] = ("record", _column(frame, name, dtype))
    for name in _SEGMENT_FIELDS:
        values = np.full((n, T), np.nan)
        for r, series in enumerate(frame["seg_" + name] if n else []):
            values[r, :len(series)] = np.asarray(series, dtype=np.float64)
        data["segment_" + name] = (("record", "segment"), values)
    for name in ("lyapunov", "lyapunov_sd"):
        values = np.full((n, k), np.nan)
        for r, lam in enumerate(frame[name] if n else []):
            values[r, :len(lam)] = lam
        data[name] = (("record", "exponent"), values)
    increments = np.full((n, T, k), np.nan)
    for r, inc in enumerate(frame["seg_lyapunov_increments"] if n else []):
        increments[r, :inc.shape[0], :inc.shape[1]] = inc
    data["lyapunov_increments"] = (("record", "segment", "exponent"), increments)
    prediction = np.full((n, positions), -1, dtype=np.int64)
    for r, p in enumerate(frame["prediction"] if n else []):
        prediction[r, :len(p)] = p
    data["prediction"] = (("record", "position"), prediction)

    ds = xr.Dataset(data, coords={"record": np.arange(n), "segment": np.arange(1, T + 1),
                                  "exponent": np.arange(1, k + 1), "position": np.arange(positions)})
    ds["segment_correct"].attrs["meaning"] = "correct_t: 1 true, 0 false, NaN beyond the record's T"
    ds["lyapunov"].attrs["units"] = "per segment (divide by updates_per_segment for per update)"
    ds["lyapunov_increments"].attrs["meaning"] = "l_{t,i} = log R_t[i,i] (SPEC 3); lyapunov = their mean over t"
    ds["d_T"].attrs["meaning"] = "displacement_joint of the last segment (SPEC 5)"
    ds["h_T"].attrs["meaning"] = "halt_confidence of the last segment (SPEC 5)"
    ds.attrs.update(provenance_attributes(provenance))
    ds.attrs["rrmdyn_layout"] = LAYOUT
    return ds
