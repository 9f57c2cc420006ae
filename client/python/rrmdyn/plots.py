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
from . import spectrum  # noqa: E402
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


def lyapunov_distributions(records, bins=None, ax=None, report=None):
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
    if bins is None:  # about two bins per √n, 6..30: a few puzzles do not get 30 slivers
        bins = int(min(30, max(6, 2 * math.sqrt(finite.size))))
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


# SPEC §5: every AUC has a pre-specified direction; the ROC curves are drawn in
# it (positive class failure: higher λ_1, higher d_T, lower h_T flag a
# failure), so a score that works against its stated direction falls below
# the diagonal instead of being silently flipped.
ROC_SCORES = (("lambda_1", +1, "#7570b3", "higher λ_1 → failure"),
              ("d_T", +1, "#e7298a", "higher d_T → failure"),
              ("h_T", -1, "#66a61e", "lower h_T → failure"))


def _finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def stated_auc_ci(given, auc):
    """The Analyze report's 95% CI for the AUC `auc` in the stated direction.

    The report's `ci_low`/`ci_high` belong to `auc_raw` (the AUC in its
    stated direction) when it also gives `auc_folded`, and to the folded
    `auc` in reports from before SPEC §5 fixed the directions. A percentile
    bootstrap CI of 1 − A is [1 − high, 1 − low], so either converts exactly
    to the orientation of `auc`. None when the report has no CI for it."""
    if not given:
        return None
    value = given.get("auc_raw") if "auc_folded" in given else given.get("auc")
    low, high = given.get("ci_low"), given.get("ci_high")
    if not (_finite(value) and _finite(low) and _finite(high)):
        return None
    if abs(value - auc) < 1e-6:
        return low, high
    if abs((1 - value) - auc) < 1e-6:
        return 1 - high, 1 - low
    return None


def roc_curves(records, ax=None, report=None):
    """ROC curves of λ_1, d_T and h_T for detecting failures, each in its
    SPEC §5 direction; the legend gives the AUC in that direction (may be
    below 0.5) with the Analyze report's 95% CI when `report` is given."""
    pop = analysis.population(as_frame(records))
    fig, ax = _figure(6.0, 6.0) if ax is None else (ax.figure, ax)
    ax.set_title("ROC: scores vs failure (stated directions)")
    ax.set_xlabel("false positive rate (successes flagged)")
    ax.set_ylabel("true positive rate (failures flagged)")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    failures = pop[~pop["correct"]] if not pop.empty else pop
    successes = pop[pop["correct"]] if not pop.empty else pop
    if failures.empty or successes.empty:
        _note(ax, "needs successes and failures\n(%s)" % (_count(pop) if not pop.empty else "no records"))
        return fig
    drawn = 0
    for score, sign, color, direction in ROC_SCORES:
        pos = sign * failures[score].to_numpy(dtype=float)
        neg = sign * successes[score].to_numpy(dtype=float)
        auc = analysis.auc_raw(pos, neg)
        if math.isnan(auc):
            continue
        fpr, tpr = analysis.roc(pos, neg)
        ci = stated_auc_ci(_report_auc(report, score), auc)
        label = "%s: AUC %.3f%s (%s)" % (score, auc, " [%.3f, %.3f]" % ci if ci else "", direction)
        ax.plot(fpr, tpr, color=color, linewidth=2, label=label, drawstyle="steps-post")
        drawn += 1
    if drawn == 0:
        _note(ax, "no usable scores")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8, title="AUC [95% CI]" if report else "AUC", title_fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig


def _share(v):
    """A share from the report: a number, or a Proportion {share, ci_low, ci_high, k, n}."""
    if isinstance(v, dict):
        v = v.get("share")
    return float(v) if _finite(v) else math.nan


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
        source = {"p95_d_T_successes": "p95 d_T of successes"}.get(source, source)
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
    # Strategies often tie (at R = 1 they all equal the first run): each is
    # shifted a little along R so that no line hides another.
    for j, (key, color, marker, style) in enumerate((("first_run", "#1f78b4", "x", "-"),
                                                     ("best_of_h", "#e7298a", "o", "-"),
                                                     ("majority", "#7570b3", "s", "-."),
                                                     ("oracle", "0.3", "^", "--"))):
        y = [_share(r.get(key)) for r in rows]
        if all(math.isnan(v) for v in y):
            continue
        x = [r + (j - 1.5) * 0.03 for r in R]
        ax.plot(x, y, marker=marker, color=color, linestyle=style, label=key.replace("_", " "), linewidth=1.8)
    if len(R) == 1:
        ax.text(0.5, 0.08, "no restarts in these records (R = 1)", ha="center", transform=ax.transAxes, color="0.3")
    ax.set_xticks(R)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", fontsize=9)
    ax.grid(True, alpha=0.3)
    return fig


def exponent_convergence(records, ax=None, report=None, max_exponents=4):
    """Convergence of the exponents: the running mean of the increments
    m_{t,i} = λ_i[1..t] against t, median and IQR band by outcome, one panel
    per exponent (the first `max_exponents`); data: spectrum.convergence_frame."""
    data = spectrum.convergence_frame(records)
    k = int(data["exponent"].max()) if not data.empty else 0
    shown = max(1, min(k, max_exponents))
    cols = 1 if shown == 1 else 2
    rows = (shown + cols - 1) // cols
    if ax is not None:
        fig, axes = ax.figure, [ax]
        shown = 1
    else:
        fig = Figure(figsize=(7.0, 4.5 if rows == 1 else 3.2 * rows), dpi=100)
        axes = [fig.add_subplot(rows, cols, i + 1) for i in range(shown)]
    if data.empty:
        axes[0].set_title("Convergence of the exponents")
        _note(axes[0], "no per-segment increments\n(k = 0, or the propagator method)")
        return fig
    for i, a in enumerate(axes, 1):
        a.set_title("λ_%d[1..t]: running mean of the increments" % i, fontsize=10)
        for ok, name, color in _OUTCOMES:
            part = data[(data["exponent"] == i) & (data["outcome"] == name)]
            if part.empty:
                continue
            t = part["segment"].to_numpy()
            a.fill_between(t, part["q1"], part["q3"], color=color, alpha=0.2, linewidth=0)
            a.plot(t, part["median"], color=color, linewidth=2, marker="o", markersize=3,
                   label="%s median, IQR (n=%d)" % (name, int(part["n"].iloc[-1])))
        a.axhline(0, color="0.5", linewidth=0.8)
        a.set_xlabel("segment t")
        a.set_ylabel("λ_%d after t segments" % i)
        a.grid(True, alpha=0.3)
        a.legend(loc="best", fontsize=8)
    if k > shown:
        fig.suptitle("first %d of k = %d exponents" % (shown, k), fontsize=9)
    fig.tight_layout()
    return fig


def spectrum_and_dimension(records, ax=None, report=None):
    """Left: the summed spectrum Σλ_i (log-volume growth per segment) by
    outcome; right: the Kaplan–Yorke dimension by outcome, lower bounds
    ("≥ k", every partial sum positive) drawn as open triangles at k.
    Data: spectrum.spectrum_frame."""
    spec = spectrum.spectrum_frame(records)
    spec = spec[spec["restart"] == 0]
    fig = Figure(figsize=(8.0, 4.0), dpi=100)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    left.set_title(r"Summed spectrum $\Sigma_i\,\lambda_i$ (log-volume growth)", fontsize=10)
    right.set_title("Kaplan–Yorke dimension", fontsize=10)
    usable = spec[np.isfinite(spec["lambda_sum"].to_numpy(dtype=float))] if not spec.empty else spec
    if usable.empty:
        for a in (left, right):
            _note(a, "no Lyapunov data (k = 0)")
        return fig
    k = int(usable["k"].max())
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    for x, (ok, name, color) in enumerate(_OUTCOMES):
        group = usable[usable["correct"] == ok]
        if group.empty:
            continue
        s = group["lambda_sum"].to_numpy(dtype=float)
        jitter = rng.uniform(-0.15, 0.15, s.size)
        left.scatter(x + jitter, s, s=14, color=color, alpha=0.6)
        left.hlines(np.median(s), x - 0.3, x + 0.3, color=color, linewidth=2.5)
        d = group["ky_dimension"].to_numpy(dtype=float)
        bound = group["ky_lower_bound"].to_numpy(dtype=bool)
        jitter = rng.uniform(-0.15, 0.15, d.size)
        right.scatter((x + jitter)[~bound], d[~bound], s=14, color=color, alpha=0.6)
        right.scatter((x + jitter)[bound], d[bound], s=30, marker="^", facecolors="none", edgecolors=color,
                      label="%s: %d of %d ≥ k" % (name, int(bound.sum()), d.size))
    for a in (left, right):
        a.set_xticks([0, 1])
        a.set_xticklabels(["success (n=%d)" % int(usable["correct"].sum()),
                           "failure (n=%d)" % int((~usable["correct"]).sum())])
        a.set_xlim(-0.6, 1.6)
        a.grid(True, axis="y", alpha=0.3)
    left.axhline(0, color="0.5", linewidth=0.8)
    left.set_ylabel(r"$\Sigma_{i \leq %d}\,\lambda_i$ per segment" % k)
    right.axhline(k, color="0.5", linestyle="--", linewidth=0.8)
    right.set_ylabel("D_KY (k = %d measured)" % k)
    # D_KY ≤ k always: the legend goes in the empty band above k, never over points.
    right.set_ylim(-0.2, k + max(0.9, 0.4 * k))
    if right.get_legend_handles_labels()[0]:
        right.legend(loc="upper center", fontsize=8, ncol=2, title="open ▲ at k: only D_KY ≥ k known",
                     title_fontsize=8)
    fig.tight_layout()
    return fig


# --- energy maps (issue 17, docs/analysis.md "Energy maps") -----------------

# The map shown when none is asked for: the first of these the data carries.
ENERGY_METHODS = ("propagator_right", "qr_frame", "propagator_left", "window_right", "window_left")


def _energy_maps(report):
    """(report["energy"], its maps with data) of an Analyze report."""
    energy = (report or {}).get("energy") or {}
    maps = [m for m in energy.get("maps") or [] if isinstance(m, dict) and not m.get("absent_reason")
            and (m.get("mean_cells_failure") or m.get("mean_cells_success"))]
    return energy, maps


def _pick_method(methods, method):
    """`method` when given (None when absent), else the first of ENERGY_METHODS present, else the first."""
    methods = list(methods)
    if method is not None:
        return method if method in methods else None
    for m in ENERGY_METHODS:
        if m in methods:
            return m
    return methods[0] if methods else None


def _grid(cells):
    """L cell values -> the puzzle's grid: 9 x 9 for a Sudoku, n x n for a
    maze (L = n²), one row when L is not a square."""
    cells = np.asarray(cells, dtype=float)
    n = math.isqrt(cells.size)
    return cells.reshape(n, n) if n * n == cells.size and n > 0 else cells.reshape(1, -1)


def _grid_lines(ax, shape):
    """Thin cell lines; for a Sudoku the 3 x 3 boxes bold."""
    rows, cols = shape
    if rows * cols > 400:  # a large maze: cell lines would hide the cells
        return
    for i in range(1, rows):
        ax.axhline(i - 0.5, color="white", linewidth=1.6 if (rows, cols) == (9, 9) and i % 3 == 0 else 0.4)
    for j in range(1, cols):
        ax.axvline(j - 0.5, color="white", linewidth=1.6 if (rows, cols) == (9, 9) and j % 3 == 0 else 0.4)


def _cells_axes(ax, shape):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlim(-0.5, shape[1] - 0.5)
    ax.set_ylim(shape[0] - 0.5, -0.5)


def _comparison_text(c, name):
    """"wrong vs right AUC 0.530 [0.434, 0.627], 10 puzzles" from a report comparison."""
    if not isinstance(c, dict):
        return "%s: n/a" % name
    auc = c.get("auc_raw")
    if not _finite(auc):
        return "%s: n/a%s" % (name, " (%s)" % c["absent_reason"] if c.get("absent_reason") else "")
    ci = " [%.3f, %.3f]" % (c["ci_low"], c["ci_high"]) if _finite(c.get("ci_low")) and _finite(c.get("ci_high")) \
        else ""
    return "%s AUC %.3f%s over %s puzzles" % (name, auc, ci, c.get("puzzles", "?"))


def _outcome_count(m, outcome):
    for c in m.get("concentration") or []:
        n = (c.get(outcome) or {}).get("n")
        if _finite(n):
            return int(n)
    return None


def energy_heatmaps(report, method=None):
    """The mean cell map c (docs/analysis.md: a cell's share of the top
    directions' energy over the cells) of one method, over failures and over
    successes, side by side on one colour scale: a 9 x 9 grid for a Sudoku,
    n x n for a maze. `report`: the Analyze report (report["energy"]);
    `method`: one of ENERGY_METHODS (default: the first present). Without
    energy maps: one panel with a note saying why."""
    energy, maps = _energy_maps(report)
    chosen = _pick_method([m.get("method") for m in maps], method)
    if chosen is None:
        fig, ax = _figure(7.0, 3.0)
        ax.set_axis_off()
        ax.set_title("Energy maps")
        if method is not None and maps:
            why = "no map '%s' in the report (it has %s)" % (method, ", ".join(m.get("method", "?") for m in maps))
        else:
            why = energy.get("absent_reason") or next(
                (m.get("absent_reason") for m in energy.get("maps") or [] if m.get("absent_reason")), "") or (
                "the report has no energy section (an rrmd before issue 17)" if not energy else
                "no record carries an energy map")
        _note(ax, "no energy maps:\n" + why)
        return fig
    m = next(x for x in maps if x.get("method") == chosen)
    fig = Figure(figsize=(10.0, 4.9), dpi=100)
    axes = [fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)]
    panels = (("failure", "failures", m.get("mean_cells_failure") or []),
              ("success", "successes", m.get("mean_cells_success") or []))
    values = [np.asarray(v, dtype=float) for _, _, v in panels]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    vmax = float(finite.max()) if finite.size else 1.0
    image = None
    for ax, (outcome, label, _), v in zip(axes, panels, values):
        n = _outcome_count(m, outcome)
        title = "%s (n = %s)" % (label, n if n is not None else "?")
        if outcome == "failure":  # the within-failure comparison belongs to this panel
            title += "\n" + _comparison_text(m.get("wrong_vs_right"), "wrong vs right")
        ax.set_title(title, fontsize=9.5)
        if v.size == 0 or not np.isfinite(v).any():
            _cells_axes(ax, (1, 1))
            _note(ax, "no %s with this map" % outcome)
            continue
        grid = _grid(v)
        image = ax.imshow(grid, cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest", aspect="equal")
        _grid_lines(ax, grid.shape)
        _cells_axes(ax, grid.shape)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.85, pad=0.03)
        bar.set_label("mean cell share c (uniform = 1/%d)" % int(m.get("cells") or values[0].size or 1))
    fig.suptitle("Where the energy of the top %s direction(s) lives: %s, %s records\n%s" % (
        m.get("directions", "?"), chosen, m.get("records", "?"),
        _comparison_text(m.get("blank_vs_given"), "blank vs given (all records)")), fontsize=10)
    return fig


def _as_dict(record):
    if isinstance(record, dict):
        return record
    from .records import record_to_dict
    return record_to_dict(record)


def _has_maps(records):
    """True when `records` (dicts or messages, not a DataFrame) carry energy maps."""
    if records is None or hasattr(records, "columns"):
        return False
    return any((r.get("energy_maps") if isinstance(r, dict) else len(getattr(r, "energy_maps", ())) > 0)
               for r in records)


def _cell_shares(energy_map):
    """positions[P:] normalised over the cells (the report's c)."""
    p = int(energy_map.get("puzzle_positions") or 0)
    cells = np.array([float(x) for x in energy_map.get("positions") or []][p:], dtype=float)
    total = cells.sum() if cells.size else 0.0
    return cells / total if total > 0 else cells


def energy_examples(records, method=None, count=4):
    """The cell map c of a few failing puzzles (restart 0, not correct, with
    energy maps; the first `count` by example_index), one heat map each (9 x 9
    for a Sudoku, n x n for a maze) with the cells wrong at T outlined and the
    given cells dotted. records: dicts (JSONL) or rrm.v1.ExampleRecord
    messages (a DataFrame has no maps: the figure says so)."""
    rows = [] if records is None or hasattr(records, "columns") else [_as_dict(r) for r in records]
    failing = sorted((r for r in rows if r.get("energy_maps") and not r.get("correct") and not r.get("error")
                      and int(r.get("restart") or 0) == 0), key=lambda r: int(r.get("example_index") or 0))
    methods = []
    for r in failing:
        methods += [m.get("method") for m in r["energy_maps"] if m.get("method") not in methods]
    chosen = _pick_method(methods, method)
    shown = [(r, next(m for m in r["energy_maps"] if m.get("method") == chosen)) for r in failing
             if any(m.get("method") == chosen for m in r["energy_maps"])][:max(0, int(count))] if chosen else []
    if not shown:
        fig, ax = _figure(7.0, 3.0)
        ax.set_axis_off()
        ax.set_title("Energy maps of failing puzzles")
        if not any(r.get("energy_maps") for r in rows):
            why = "the records carry no energy maps" + (" (a DataFrame holds none)" if hasattr(records, "columns")
                                                         else "")
        elif method is not None and chosen is None:
            why = "no failing puzzle has the map '%s'" % method
        else:
            why = "no failing puzzle as given"
        _note(ax, why)
        return fig
    cols = min(len(shown), 4)
    rows_n = (len(shown) + cols - 1) // cols
    fig = Figure(figsize=(3.6 * cols + 0.6, 3.7 * rows_n + 0.5), dpi=100)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    for i, (record, energy_map) in enumerate(shown):
        ax = fig.add_subplot(rows_n, cols, i + 1)
        cells = _cell_shares(energy_map)
        grid = _grid(cells)
        width = grid.shape[1]
        image = ax.imshow(grid, cmap="magma", vmin=0.0, interpolation="nearest", aspect="equal")
        _grid_lines(ax, grid.shape)
        _cells_axes(ax, grid.shape)
        wrong = [int(c) for c in record.get("wrong_cells") or [] if 0 <= int(c) < cells.size]
        for c in wrong:
            ax.add_patch(Rectangle((c % width - 0.5, c // width - 0.5), 1, 1, fill=False, edgecolor="#00e5ff",
                                   linewidth=2.0, gid="wrong_cell"))
        given = [int(c) for c in record.get("given_cells") or [] if 0 <= int(c) < cells.size]
        if given:
            ax.plot([c % width for c in given], [c // width for c in given], linestyle="none", marker="o",
                    markersize=2.5, color="white", markeredgecolor="black", markeredgewidth=0.4, label="given",
                    gid="given_cells")
        ax.set_title("puzzle %s: %d wrong cells" % (record.get("puzzle_id") or record.get("example_index", "?"),
                                                    len(wrong)), fontsize=9.5)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    handles = [Rectangle((0, 0), 1, 1, fill=False, edgecolor="#00e5ff", linewidth=2.0, label="wrong at T"),
               Line2D([], [], linestyle="none", marker="o", markersize=4, color="white", markeredgecolor="black",
                      label="given")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle("Cell share c of %s, failing puzzles (first %d by example index)" % (chosen, len(shown)),
                 fontsize=10.5)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    return fig


ALL = (("displacement_trajectories", displacement_trajectories),
       ("lyapunov_distributions", lyapunov_distributions),
       ("exponent_convergence", exponent_convergence),
       ("spectrum_and_dimension", spectrum_and_dimension),
       ("roc_curves", roc_curves),
       ("decomposition", decomposition),
       ("accuracy_vs_restarts", accuracy_vs_restarts))


def all_figures(records, report=None):
    """[(name, Figure)] for every plot above; with energy maps also
    energy_heatmaps (from the report's) and energy_examples (from records
    given as dicts or messages: a DataFrame holds no maps)."""
    if records is not None and not hasattr(records, "columns"):
        records = list(records)  # read twice: the frame, then the maps
    frame = as_frame(records)
    out = []
    for name, fn in ALL:
        out.append((name, fn(frame) if name == "displacement_trajectories" else fn(frame, report=report)))
    if _energy_maps(report)[1]:
        out.append(("energy_heatmaps", energy_heatmaps(report)))
    if _has_maps(records):
        out.append(("energy_examples", energy_examples(records)))
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
