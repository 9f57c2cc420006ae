"""The Lyapunov outputs users ask for, as data (DataFrames); rrmdyn.plots
draws them. Definitions (docs/analysis.md "Convergence, summed spectrum and
Kaplan–Yorke dimension"):

- Running mean of the increments (SPEC §3): m_{t,i} = (1/t) Σ_{s≤t} ℓ_{s,i},
  the exponent λ_i[1..t] measured after t segments; m_{T,i} is the QR λ_i.
  A plateau by t = T says the estimate has converged; a slope says T is short.
- Summed spectrum Σ_{i≤k} λ_i: the growth rate (log per segment) of a
  k-dimensional volume carried by the tangent map; negative = it contracts.
- Kaplan–Yorke dimension of the exponents sorted λ_1 ≥ … ≥ λ_k, partial sums
  S_j = Σ_{i≤j} λ_i: 0 when S_1 < 0; j + S_j / |λ_{j+1}| for the largest j
  with S_j ≥ 0 when j < k; when every S_j ≥ 0 (j = k) the k measured exponents
  cannot say where the sum turns negative, so the dimension is only known to
  be at least k: reported as k with `ky_lower_bound` True and text "≥ k".
  NaN when there are no exponents or one is NaN.

Outcome statistics use the outcome population (restart 0, no error; success =
correct_T) as every SPEC §5 number does.
"""

import math

import numpy as np

from . import analysis
from .records import as_frame

OUTCOMES = ((True, "success"), (False, "failure"))


def running_means(increments):
    """(T, k) increments ℓ_{t,i} -> (T, k) running means m_{t,i} (a NaN
    increment makes every later mean of that exponent NaN)."""
    inc = np.asarray(increments, dtype=float)
    if inc.ndim != 2 or inc.shape[0] == 0:
        return np.zeros((0, inc.shape[1] if inc.ndim == 2 else 0))
    return np.cumsum(inc, axis=0) / np.arange(1, inc.shape[0] + 1)[:, None]


def _quartiles(values):
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0, math.nan, math.nan, math.nan
    q1, median, q3 = np.percentile(v, [25, 50, 75])
    return int(v.size), float(median), float(q1), float(q3)


CONVERGENCE_COLUMNS = ["exponent", "segment", "outcome", "n", "median", "q1", "q3"]


def convergence_frame(records):
    """Median and quartiles (IQR) over the outcome population of the running
    mean m_{t,i}, per exponent i (1-based), segment t and outcome. Records
    without increments (k = 0, or the propagator method, which stores none)
    give an empty frame."""
    import pandas as pd
    pop = analysis.population(as_frame(records))
    rows = []
    if pop.empty:
        return pd.DataFrame(columns=CONVERGENCE_COLUMNS)
    means = [(bool(ok), running_means(inc)) for ok, inc in zip(pop["correct"], pop["seg_lyapunov_increments"])]
    k = max((m.shape[1] for _, m in means), default=0)
    T = max((m.shape[0] for _, m in means), default=0)
    for i in range(k):
        for t in range(T):
            for ok, name in OUTCOMES:
                values = [m[t, i] for o, m in means if o == ok and t < m.shape[0] and i < m.shape[1]]
                n, median, q1, q3 = _quartiles(values)
                if n:
                    rows.append({"exponent": i + 1, "segment": t + 1, "outcome": name, "n": n, "median": median,
                                 "q1": q1, "q3": q3})
    return pd.DataFrame(rows, columns=CONVERGENCE_COLUMNS)


def kaplan_yorke(exponents):
    """(dimension, lower_bound) of the exponents (module docstring)."""
    lam = np.sort(np.asarray(exponents, dtype=float))[::-1]
    if lam.size == 0 or np.isnan(lam).any():
        return math.nan, False
    partial = np.cumsum(lam)
    if partial[0] < 0:
        return 0.0, False
    # Sorted descending, the partial sums rise then fall: once negative they stay so.
    j = int((partial >= 0).sum())
    if j == lam.size:
        return float(j), True
    return float(j + partial[j - 1] / abs(lam[j])), False


def ky_text(dimension, lower_bound):
    if isinstance(dimension, float) and math.isnan(dimension):
        return "n/a"
    return "≥ %d" % int(dimension) if lower_bound else "%.2f" % dimension


SPECTRUM_COLUMNS = ["job_id", "example_index", "puzzle_id", "restart", "correct", "k", "lambda_sum",
                    "lambda_sum_per_update", "ky_dimension", "ky_lower_bound", "ky_text"]


def spectrum_frame(records):
    """One row per valid record (every restart; filter `restart == 0` for the
    outcome population): k, the summed spectrum Σλ_i (per segment and per
    update), the Kaplan–Yorke dimension, whether it is only a lower bound,
    and its text ("2.37", "≥ 4", "n/a")."""
    import pandas as pd
    frame = analysis.valid(as_frame(records))
    rows = []
    for r in frame.itertuples(index=False):
        lam = np.asarray(r.lyapunov, dtype=float)
        dim, bound = kaplan_yorke(lam)
        total = float(lam.sum()) if lam.size else math.nan
        updates = int(r.updates_per_segment)
        rows.append({"job_id": r.job_id, "example_index": int(r.example_index), "puzzle_id": r.puzzle_id,
                     "restart": int(r.restart), "correct": bool(r.correct), "k": int(lam.size),
                     "lambda_sum": total, "lambda_sum_per_update": total / updates if updates > 0 else math.nan,
                     "ky_dimension": dim, "ky_lower_bound": bound, "ky_text": ky_text(dim, bound)})
    return pd.DataFrame(rows, columns=SPECTRUM_COLUMNS)


def spectrum_summary(records):
    """Per outcome (population): n, median [q1, q3] of Σλ_i and of the
    Kaplan–Yorke dimension, and how many dimensions are lower bounds."""
    spec = spectrum_frame(records)
    spec = spec[spec["restart"] == 0]
    out = []
    for ok, name in OUTCOMES:
        group = spec[spec["correct"] == ok]
        n_sum, m_sum, q1_sum, q3_sum = _quartiles(group["lambda_sum"])
        n_ky, m_ky, q1_ky, q3_ky = _quartiles(group["ky_dimension"])
        out.append({"outcome": name, "n": int(len(group)), "lambda_sum_median": m_sum, "lambda_sum_q1": q1_sum,
                    "lambda_sum_q3": q3_sum, "ky_median": m_ky, "ky_q1": q1_ky, "ky_q3": q3_ky,
                    "ky_lower_bounds": int(group["ky_lower_bound"].sum())})
    return out
