"""Client-side versions of the few SPEC §5 numbers the plots need, with the
definitions of docs/analysis.md (population = restart 0 without error;
success = correct_T; τ = 95th percentile of d_T among successes, numpy's
linear interpolation; Mann–Whitney AUC with ties one half; selection ties
as documented). When an Analyze report is at hand its numbers win."""

import math

import numpy as np

from .records import as_frame


def valid(frame):
    """Records without error and with segments."""
    return frame[(frame["error"] == "") & (frame["T"] > 0)]


def population(frame):
    """The outcome population: valid records of the puzzle as given (restart 0)."""
    v = valid(frame)
    return v[v["restart"] == 0]


def default_tau(pop):
    d = pop.loc[pop["correct"], "d_T"].to_numpy(dtype=float)
    d = d[~np.isnan(d)]
    return float(np.percentile(d, 95)) if d.size else math.nan


def auc_raw(positive, negative):
    """P(pos > neg) + ½ P(pos = neg); NaN values dropped; NaN if a class is empty."""
    p = np.asarray(positive, dtype=float)
    n = np.asarray(negative, dtype=float)
    p = p[~np.isnan(p)]
    n = n[~np.isnan(n)]
    if p.size == 0 or n.size == 0:
        return math.nan
    n_sorted = np.sort(n)
    below = np.searchsorted(n_sorted, p, side="left")
    not_above = np.searchsorted(n_sorted, p, side="right")
    return float((below.sum() + 0.5 * (not_above - below).sum()) / (p.size * n.size))


def roc(positive, negative):
    """ROC points (fpr, tpr) for 'higher score -> positive'."""
    p = np.asarray(positive, dtype=float)
    n = np.asarray(negative, dtype=float)
    p = p[~np.isnan(p)]
    n = n[~np.isnan(n)]
    thresholds = np.unique(np.concatenate([p, n]))[::-1]
    tpr = [0.0] + [float((p >= t).mean()) for t in thresholds]
    fpr = [0.0] + [float((n >= t).mean()) for t in thresholds]
    return np.array(fpr), np.array(tpr)


def restart_curves(records_or_frame):
    """Accuracy vs R for first run, best-of-R by h_T, majority vote and oracle
    (docs/analysis.md "Restarts and selection"). Returns a list of row dicts."""
    frame = valid(as_frame(records_or_frame))
    if frame.empty:
        return []
    by_puzzle = {}
    for row in frame.itertuples(index=False):
        by_puzzle.setdefault(row.example_index, {})[row.restart] = row
    # R_max: the largest R such that some puzzle has runs 0..R-1.
    def contiguous(runs):
        r = 0
        while r in runs:
            r += 1
        return r
    r_max = max(contiguous(runs) for runs in by_puzzle.values())
    if r_max == 0:
        return []
    puzzles = [runs for runs in by_puzzle.values() if contiguous(runs) >= r_max]
    T = int(frame["T"].max())
    out = []
    for R in range(1, r_max + 1):
        first = best = major = oracle = 0
        majority_ok = True
        for runs in puzzles:
            chosen = [runs[r] for r in range(R)]
            first += bool(chosen[0].correct)
            oracle += any(bool(c.correct) for c in chosen)
            def h(c):
                return -math.inf if c.h_T is None or math.isnan(c.h_T) else c.h_T
            best_run = max(chosen, key=lambda c: (h(c), -c.restart))
            best += bool(best_run.correct)
            groups = {}
            for c in chosen:
                if len(c.prediction) == 0:
                    majority_ok = False
                groups.setdefault(tuple(int(v) for v in c.prediction), []).append(c)
            def group_key(members):
                return (len(members), max(h(c) for c in members), -min(c.restart for c in members))
            winner = max(groups.values(), key=group_key)
            major += bool(max(winner, key=lambda c: (h(c), -c.restart)).correct)
        n = len(puzzles)
        out.append({"runs": R, "segments": float(R * T), "first_run": first / n, "best_of_h": best / n,
                    "majority": major / n if majority_ok else math.nan, "oracle": oracle / n})
    return out
