"""Figures a researcher looks at first (SPEC §5, docs/analysis.md).

Each function takes the records (a wide DataFrame from Job.to_pandas(), or a
list of record dicts) and returns a matplotlib Figure; nothing is shown, so
they run headless (the Agg backend is selected when no backend was chosen).
Outcome plots use the outcome population of docs/analysis.md: records of the
puzzle as given (restart 0) without error; success = correct_T.
"""

import math
import os

import matplotlib

if not os.environ.get("MPLBACKEND") and not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")  # headless: no GUI backend is tried
from matplotlib.figure import Figure  # noqa: E402
import numpy as np  # noqa: E402

from . import analysis  # noqa: E402
from .records import as_frame  # noqa: E402

SUCCESS = "#1b9e77"
FAILURE = "#d95f02"
_OUTCOMES = ((True, "success", SUCCESS), (False, "failure", FAILURE))


def _figure(width=7.0, height=4.5):
    # Figure() directly (not pyplot): no global state, no GUI, safe in threads.
    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def _note(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.3")


def _count(pop):
    return "n = %d (%d success, %d failure)" % (len(pop), int(pop["correct"].sum()), int((~pop["correct"]).sum()))


def displacement_trajectories(records, max_lines=300, ax=None):
    """d_t (joint displacement) per segment, log scale, one thin line per
    puzzle colored by outcome, with the median per segment in bold."""
    pop = analysis.population(as_frame(records))
    fig, ax = _figure() if ax is None else (ax.figure, ax)
    ax.set_title("Joint displacement d_t by outcome")
    ax.set_xlabel("segment t")
    ax.set_ylabel("d_t = |x_t - x_{t-1}| / sqrt(N)")
    if pop.empty:
        _note(ax, "no records")
        return fig
    drawn = False
    for ok, name, color in _OUTCOMES:
        group = pop[pop["correct"] == ok]
        if group.empty:
            continue
        series = list(group["seg_displacement_joint"])
        for d in series[:max_lines]:
            d = np.where(d > 0, d, np.nan)  # log scale: 0 is not drawable
            ax.plot(np.arange(1, len(d) + 1), d, color=color, alpha=0.15, linewidth=0.7)
        T = max(len(d) for d in series)
        padded = np.full((len(series), T), np.nan)
        for i, d in enumerate(series):
            padded[i, :len(d)] = d
        with np.errstate(all="ignore"):
            median = np.nanmedian(padded, axis=0) if np.isfinite(padded).any() else np.full(T, np.nan)
        median = np.where(median > 0, median, np.nan)
        ax.plot(np.arange(1, T + 1), median, color=color, linewidth=2.5, label="%s median (n=%d)" % (name, len(group)))
        drawn = drawn or np.isfinite(median).any()
    if drawn:
        ax.set_yscale("log")
    ax.legend(loc="best", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def lyapunov_distributions(records, bins=30, ax=None, report=None):
    """Histograms of λ_1 (per segment) by outcome, medians marked."""
    pop = analysis.population(as_frame(records))
    fig, ax = _figure() if ax is None else (ax.figure, ax)
    ax.set_title("Largest Lyapunov exponent λ_1 by outcome")
    ax.set_xlabel("λ_1 (per segment)")
    ax.set_ylabel("puzzles")
    values = pop["lambda_1"].to_numpy(dtype=float) if not pop.empty else np.array([])
    if values.size == 0 or np.isnan(values).all():
        _note(ax, "no Lyapunov data (k = 0)")
        return fig
    finite = values[np.isfinite(values)]
    edges = np.histogram_bin_edges(finite, bins=bins) if finite.size else bins
    for ok, name, color in _OUTCOMES:
        v = pop.loc[pop["correct"] == ok, "lambda_1"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        med = float(np.median(v))
        ax.hist(v, bins=edges, alpha=0.55, color=color, label="%s (n=%d, median %+.3f)" % (name, v.size, med))
        ax.axvline(med, color=color, linestyle="--", linewidth=1.5)
    ax.legend(loc="best", fontsize=9)
    ax.grid(True, alpha=0.3)
    return fig


def _report_auc(report, score):
    if not report:
        return None
    for a in report.get("aucs", []):
        if a.get("score") == score:
            return a
    return None


def roc_curves(records, ax=None, report=None):
    """ROC curves of λ_1, d_T and h_T for detecting failures (positive class
    failure), each oriented by its direction; AUC in the legend (the Analyze
    report's value and CI when `report` is given)."""
    pop = analysis.population(as_frame(records))
    fig, ax = _figure(6.0, 6.0) if ax is None else (ax.figure, ax)
    ax.set_title("ROC: scores vs failure")
    ax.set_xlabel("false positive rate (successes flagged)")
    ax.set_ylabel("true positive rate (failures flagged)")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    failures = pop[~pop["correct"]] if not pop.empty else pop
    successes = pop[pop["correct"]] if not pop.empty else pop
    if failures.empty or successes.empty:
        _note(ax, "needs successes and failures\n(%s)" % (_count(pop) if not pop.empty else "no records"))
        return fig
    drawn = 0
    for score, color in (("lambda_1", "#7570b3"), ("d_T", "#e7298a"), ("h_T", "#66a61e")):
        pos = failures[score].to_numpy(dtype=float)
        neg = successes[score].to_numpy(dtype=float)
        raw = analysis.auc_raw(pos, neg)
        if math.isnan(raw):
            continue
        higher = raw >= 0.5
        fpr, tpr = analysis.roc(pos if higher else -pos, neg if higher else -neg)
        auc = max(raw, 1 - raw)
        label = "%s: AUC %.3f (%s %s -> failure)" % (score, auc, "higher" if higher else "lower", score)
        given = _report_auc(report, score)
        if given is not None and isinstance(given.get("auc"), (int, float)):
            label = "%s: AUC %.3f [%s, %s] (%s)" % (score, given["auc"], _fmt(given.get("ci_low")),
                                                  _fmt(given.get("ci_high")), given.get("direction", ""))
        ax.plot(fpr, tpr, color=color, linewidth=2, label=label, drawstyle="steps-post")
        drawn += 1
    if drawn == 0:
        _note(ax, "no usable scores")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig


def _fmt(v):
    return "%.3f" % v if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"


def decomposition(records, tau=None, ax=None, report=None):
    """SPEC §5 decomposition: success/failure × settled/unsettled counts and
    shares, settled ⇔ d_T ≤ τ; τ = 95th percentile of d_T among successes
    unless given (or the Analyze report's τ)."""
    pop = analysis.population(as_frame(records))
    fig, ax = _figure(6.5, 4.5) if ax is None else (ax.figure, ax)
    source = "given"
    if tau is None and report and isinstance(report.get("settling", {}).get("tau"), (int, float)):
        tau, source = report["settling"]["tau"], report["settling"].get("tau_source", "report")
    if tau is None:
        tau, source = (analysis.default_tau(pop) if not pop.empty else math.nan), "p95 d_T of successes"
    ax.set_title("Decomposition (τ = %s, %s)" % (_fmt(tau) if tau is None or tau >= 1e-3 or tau == 0
                                                   else "%.2e" % tau, source))
    if pop.empty or tau is None or math.isnan(tau):
        _note(ax, "no records" if pop.empty else "τ undefined: no success and no τ given")
        return fig
    d = pop["d_T"].to_numpy(dtype=float)
    ok = pop["correct"].to_numpy(dtype=bool)
    known = ~np.isnan(d)
    settled = d <= tau
    cells = {
        ("success", "settled"): int((ok & settled & known).sum()),
        ("success", "unsettled"): int((ok & ~settled & known).sum()),
        ("failure", "settled"): int((~ok & settled & known).sum()),
        ("failure", "unsettled"): int((~ok & ~settled & known).sum()),
    }
    total = sum(cells.values())
    x = np.arange(2)
    width = 0.38
    for j, (state, shade) in enumerate((("settled", 1.0), ("unsettled", 0.45))):
        counts = [cells[("success", state)], cells[("failure", state)]]
        bars = ax.bar(x + (j - 0.5) * width, counts, width, color=[SUCCESS, FAILURE], alpha=shade,
                      edgecolor="black", label=state)
        for b, c in zip(bars, counts):
            ax.annotate("%d\n%.1f%%" % (c, 100.0 * c / total if total else 0.0),
                        (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x)
    ax.set_xticklabels(["success", "failure"])
    ax.set_ylabel("puzzles")
    ax.set_ylim(0, max(cells.values()) * 1.3 + 1)
    ax.legend(title="d_T ≤ τ", loc="upper right", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def accuracy_vs_restarts(records, ax=None, report=None):
    """Accuracy vs runs per puzzle R: first run, best-of-R by h_T, majority
    vote, oracle (SPEC §5 restarts; the Analyze report's rows when given)."""
    rows = None
    if report and report.get("restarts", {}).get("rows"):
        rows = report["restarts"]["rows"]
    if rows is None:
        rows = analysis.restart_curves(records)
    fig, ax = _figure() if ax is None else (ax.figure, ax)
    ax.set_title("Accuracy vs restarts")
    ax.set_xlabel("runs per puzzle R")
    ax.set_ylabel("accuracy")
    if not rows:
        _note(ax, "no records")
        return fig
    R = [r["runs"] for r in rows]
    for key, color, marker, style in (("first_run", "#1f78b4", "x", "-"), ("best_of_h", "#e7298a", "o", "-"),
                                      ("majority", "#7570b3", "s", "-"), ("oracle", "0.3", "^", "--")):
        y = [float(r.get(key)) if isinstance(r.get(key), (int, float)) else math.nan for r in rows]
        if all(math.isnan(v) for v in y):
            continue
        ax.plot(R, y, marker=marker, color=color, linestyle=style, label=key.replace("_", " "), linewidth=1.8)
    if len(R) == 1:
        ax.text(0.5, 0.08, "no restarts in these records (R = 1)", ha="center", transform=ax.transAxes, color="0.3")
    ax.set_xticks(R)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", fontsize=9)
    ax.grid(True, alpha=0.3)
    return fig


ALL = (("displacement_trajectories", displacement_trajectories),
       ("lyapunov_distributions", lyapunov_distributions),
       ("roc_curves", roc_curves),
       ("decomposition", decomposition),
       ("accuracy_vs_restarts", accuracy_vs_restarts))


def all_figures(records, report=None):
    """[(name, Figure)] for every plot above."""
    frame = as_frame(records)
    out = []
    for name, fn in ALL:
        out.append((name, fn(frame) if name == "displacement_trajectories" else fn(frame, report=report)))
    return out


def save_all(records, out_dir, report=None, dpi=110):
    """Writes every figure as OUT_DIR/<name>.png; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, fig in all_figures(records, report=report):
        path = os.path.join(out_dir, name + ".png")
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths
