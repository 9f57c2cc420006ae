"""Several jobs' analyses side by side (issue 16): the SPEC §6 claims table
with one column per model, the decomposition, the AUCs with intervals, the
matched and early-window AUCs, halting and the restart curves, plus overlaid
figures, as a DataFrame or one HTML page.

    comparison = rrmdyn.compare([trm_job, hrm_job], tau=0.05)
    comparison.puzzle_sets          # "puzzle sets: identical (400 puzzles)"
    comparison.table()              # rows: quantities; one column per model
    comparison.to_html("compare.html")

The rows are the ones `rrmctl report JOB_A JOB_B ...` prints
(core/analysis/comparison.h), computed from each job's Analyze report.
"""

import html
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

_VERDICT_CLASS = {"consistent": "ok", "not consistent": "bad", "not measurable": "na"}
_SUCCESS_STYLE = "-"
_FAILURE_STYLE = "--"

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;margin:0;background:#fff}
main{max-width:1280px;margin:0 auto;padding:1.2em 2em 3em}
h1{font-size:1.6em;margin:.3em 0 .1em}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#555;margin:0 0 1em}
.note{background:#fff7dc;border:1px solid #eed98a;padding:.4em .8em}
table{border-collapse:collapse;margin:.3em 0 .8em;width:100%}
td,th{border:1px solid #ccc;padding:3px 7px;font-size:.88em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f2f2f2;font-weight:600}
.verdict{display:inline-block;padding:1px 7px;border-radius:9px;font-weight:600;font-size:.85em;white-space:nowrap}
.verdict.ok{background:#d5f0e2;color:#145c3a}.verdict.bad{background:#fadbd3;color:#8a2a12}
.verdict.na{background:#ececec;color:#555}
.paper{display:block;color:#666;font-size:.85em;margin-top:2px}
figure{margin:.5em 0}
figure img{max-width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{font-size:.85em;color:#555;margin-top:.3em}
details{margin:.4em 0;border:1px solid #e3e3e3;border-radius:4px;padding:.2em .7em}
summary{cursor:pointer;font-weight:600}
pre{font-size:.78em;overflow-x:auto}
"""


# --- numbers as the C++ table writes them ----------------------------------

def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _num(v: Any, digits: int = 3) -> str:
    return "%.*f" % (digits, v) if _finite(v) else "n/a"


def _pct(v: Any) -> str:
    return "%.1f%%" % (100.0 * v) if _finite(v) else "n/a"


def _pct_ci(p: Any) -> str:
    if not isinstance(p, dict) or not p.get("n") or not _finite(p.get("share")):
        return "n/a"
    return "%s [%s, %s]" % (_pct(p.get("share")), _pct(p.get("ci_low")), _pct(p.get("ci_high")))


def _count_pct_ci(p: Any) -> str:
    if not isinstance(p, dict) or not p.get("n"):
        return "n/a"
    return "%s/%s %s" % (p.get("k", 0), p.get("n"), _pct_ci(p))


def _auc_text(a: Any) -> str:
    if not isinstance(a, dict) or a.get("absent_reason") or not _finite(a.get("auc_raw")):
        return "n/a"
    ci = " [%s, %s]" % (_num(a.get("ci_low")), _num(a.get("ci_high"))) if _finite(a.get("ci_low")) else " [no CI]"
    return _num(a.get("auc_raw")) + ci


def _binning_short(binning: str) -> str:
    i = binning.find(" (")
    return binning if i < 0 else binning[:i]


def _keys(reports: Sequence[Dict[str, Any]], field: str, key_of: Any) -> List[str]:
    keys: List[str] = []
    for r in reports:
        for item in r.get(field) or []:
            k = key_of(item)
            if k not in keys:
                keys.append(k)
    return keys


def _find(items: Any, key: str, key_of: Any) -> Optional[Dict[str, Any]]:
    for item in items or []:
        if key_of(item) == key:
            return item
    return None


def _restart_row(report: Dict[str, Any], runs: int) -> Optional[Dict[str, Any]]:
    t = report.get("restarts") or {}
    if t.get("absent_reason"):
        return None
    for row in t.get("rows") or []:
        if row.get("runs") == runs:
            return row
    return None


def _max_runs(reports: Sequence[Dict[str, Any]]) -> int:
    runs = [int((r.get("restarts") or {}).get("max_runs") or 0) for r in reports
            if not (r.get("restarts") or {}).get("absent_reason")]
    return max(runs, default=0)


def comparison_rows(reports: Sequence[Dict[str, Any]]) -> List[Tuple[str, str, List[str]]]:
    """(section, quantity, one text cell per report): the rows of
    core/analysis/comparison.h's FormatComparisonTable, from report dicts."""
    rows: List[Tuple[str, str, List[str]]] = []

    def row(section: str, label: str, cell: Any) -> None:
        rows.append((section, label, [cell(r) for r in reports]))

    def counts(r: Dict[str, Any]) -> Dict[str, Any]:
        return r.get("counts") or {}

    def pop_info(r: Dict[str, Any]) -> str:
        p = r.get("population") or {}
        return "%s, %s, T = %s" % ("+".join(p.get("models") or []) or "n/a", p.get("model_family") or "mixed",
                                   "+".join(str(t) for t in p.get("segment_counts") or []) or "n/a")

    def lyapunov(r: Dict[str, Any]) -> str:
        lyap = r.get("lyapunov") or {}
        return "n/a" if lyap.get("absent_reason") or not lyap else "%s, k = %s" % (lyap.get("method"), lyap.get("k"))

    s = "population"
    row(s, "records", lambda r: str(counts(r).get("records", "n/a")))
    row(s, "population (restart 0)", lambda r: "%s: %s successes, %s failures" % (
        counts(r).get("population", "n/a"), counts(r).get("successes", "n/a"), counts(r).get("failures", "n/a")))
    row(s, "accuracy [Wilson 95%]", lambda r: _pct_ci(counts(r).get("accuracy")))
    row(s, "model, family, T", pop_info)
    row(s, "lyapunov", lyapunov)

    s = "claims"

    def claim_key(c: Dict[str, Any]) -> str:
        return str(c.get("id", ""))
    for cid in _keys(reports, "claims", claim_key):
        def measured(r: Dict[str, Any], cid: str = cid) -> str:
            c = _find(r.get("claims"), cid, claim_key)
            if c is None:
                return "n/a"
            return "%s (%s)" % (c.get("measured_text") or "n/a", c.get("verdict") or "not measurable")

        def paper(r: Dict[str, Any], cid: str = cid) -> str:
            c = _find(r.get("claims"), cid, claim_key)
            return (c or {}).get("paper") or "n/a"
        row(s, cid, measured)
        row(s, cid + ": paper", paper)

    s = "decomposition"

    def settling(r: Dict[str, Any]) -> Dict[str, Any]:
        return r.get("settling") or {}

    def tau(r: Dict[str, Any]) -> str:
        t: Any = settling(r).get("tau")
        if not _finite(t):
            return "n/a"
        return "%.6g %s" % (t, "(given)" if settling(r).get("tau_source") == "given" else "(p95 successes)")
    row(s, "tau", tau)
    for label, key in (("success settled", "share_success_settled"), ("success unsettled", "share_success_unsettled"),
                       ("failure settled", "share_failure_settled"), ("failure unsettled", "share_failure_unsettled"),
                       ("settled share of successes", "settled_share_of_successes"),
                       ("settled share of failures", "settled_share_of_failures")):
        row(s, label, lambda r, key=key: _count_pct_ci(settling(r).get(key)) if _finite(settling(r).get("tau"))
            else "n/a")

    s = "aucs"

    def auc_key(a: Dict[str, Any]) -> str:
        return str(a.get("score", ""))
    for score in _keys(reports, "aucs", auc_key):
        row(s, score, lambda r, score=score: _auc_text(_find(r.get("aucs"), score, auc_key)))

    s = "matched"

    def matched_key(m: Dict[str, Any]) -> str:
        return "%s in %s" % ((m.get("pooled") or {}).get("score", ""), _binning_short(str(m.get("binning", ""))))
    for key in _keys(reports, "matched", matched_key):
        row(s, key, lambda r, key=key: _auc_text((_find(r.get("matched"), key, matched_key) or {}).get("pooled")))

    s = "early window"

    def early(r: Dict[str, Any]) -> Dict[str, Any]:
        return r.get("early") or {}
    row(s, "w, at risk", lambda r: "w = %s, %s at risk" % (early(r).get("w", "n/a"), early(r).get("n_at_risk", "n/a")))
    for label, key in (("lambda_1[1..w]", "lambda_1"), ("d_w", "d_w"), ("h_w", "h_w")):
        row(s, label, lambda r, key=key: _auc_text(early(r).get(key)))

    s = "halting"

    def halting(r: Dict[str, Any]) -> Dict[str, Any]:
        return r.get("halting") or {}
    row(s, "AUC of h_T (success)", lambda r: _auc_text(halting(r).get("auc")))
    row(s, "failures with h_T > 0.5", lambda r: _count_pct_ci(halting(r).get("failures_confident")))
    row(s, "failures settled, h_T > 0.5", lambda r: _count_pct_ci(halting(r).get("failures_settled_confident")))
    row(s, "failures halted by own rule", lambda r: "n/a" if halting(r).get("rule_absent_reason")
        else _count_pct_ci(halting(r).get("failures_halted_by_rule")))

    s = "restarts"
    max_runs = _max_runs(reports)
    if max_runs == 0:
        row(s, "restarts", lambda r: "n/a")
    for runs in range(1, max_runs + 1):
        for label, key in (("first run", "first_run"), ("best h_T", "best_of_h")):
            row(s, "R = %d %s" % (runs, label),
                lambda r, runs=runs, key=key: _pct_ci((_restart_row(r, runs) or {}).get(key)))
    return rows


# --- puzzle sets -------------------------------------------------------------

def _puzzle_keys(records: Sequence[Dict[str, Any]]) -> List[str]:
    keys = []
    for r in records:
        if int(r.get("restart", 0) or 0) != 0:
            continue
        pid = r.get("puzzle_id") or ""
        keys.append(str(pid) if pid else "#%s" % r.get("example_index", 0))
    return sorted(keys)


def puzzle_set_note(named_records: Sequence[Tuple[str, Sequence[Dict[str, Any]]]]) -> str:
    """"puzzle sets: identical (N puzzles)" or "puzzle sets differ: ..." from
    the records of the puzzle as given (restart 0; by puzzle_id, else
    example_index), as core/analysis/comparison.h's PuzzleSetNote."""
    sets = [_puzzle_keys(records) for _, records in named_records]
    if not sets:
        return "puzzle sets: n/a (no jobs)"
    if all(s == sets[0] for s in sets):
        return "puzzle sets: identical (%d puzzles)" % len(sets[0])
    from collections import Counter
    shared = Counter(sets[0])
    for s in sets[1:]:
        shared &= Counter(s)
    parts = ", ".join("%s %d puzzles" % (name, len(s)) for (name, _), s in zip(named_records, sets))
    return "puzzle sets differ: %s; %d shared (by puzzle_id); compare with care" % (parts, sum(shared.values()))


# --- the comparison ----------------------------------------------------------

class Comparison:
    """Reports side by side. `reports`: name -> report dict (Job.report());
    `jobs`: name -> the Job (None for a report given as a dict);
    `puzzle_sets`: the line saying whether the puzzle sets agree."""

    def __init__(self, reports: Mapping[str, Dict[str, Any]], jobs: Optional[Mapping[str, Any]] = None,
                 records: Optional[Mapping[str, Sequence[Dict[str, Any]]]] = None) -> None:
        self.reports: Dict[str, Dict[str, Any]] = dict(reports)
        self.jobs: Dict[str, Any] = dict(jobs or {})
        self._records: Dict[str, List[Dict[str, Any]]] = {k: list(v) for k, v in (records or {}).items()}
        self._puzzle_sets: Optional[str] = None

    def __repr__(self) -> str:
        return "Comparison(%s)" % ", ".join(self.reports)

    @property
    def names(self) -> List[str]:
        return list(self.reports)

    def records(self, name: str) -> Optional[List[Dict[str, Any]]]:
        """The records behind column `name` (read from its job once), or None."""
        if name not in self._records:
            job = self.jobs.get(name)
            if job is None or not hasattr(job, "all_records"):
                return None
            self._records[name] = list(job.all_records())
        return self._records[name]

    @property
    def puzzle_sets(self) -> str:
        """"puzzle sets: identical (N puzzles)" or "puzzle sets differ: ..."
        (the records' puzzle_ids); without records, the population sizes."""
        if self._puzzle_sets is None:
            named = [(name, self.records(name)) for name in self.reports]
            if all(records is not None for _, records in named):
                self._puzzle_sets = puzzle_set_note([(n, r or []) for n, r in named])
            else:
                sizes = ", ".join("%s %s" % (name, (r.get("counts") or {}).get("population", "n/a"))
                                  for name, r in self.reports.items())
                self._puzzle_sets = "puzzle sets: unknown (no records to compare); population sizes: " + sizes
        return self._puzzle_sets

    def rows(self) -> List[Tuple[str, str, List[str]]]:
        return comparison_rows(list(self.reports.values()))

    def table(self) -> Any:
        """A pandas DataFrame: index (section, quantity), one column per name,
        text cells as `rrmctl report JOB_A JOB_B` prints them ("n/a" when absent)."""
        import pandas as pd
        rows = self.rows()
        index = pd.MultiIndex.from_tuples([(s, q) for s, q, _ in rows], names=["section", "quantity"])
        return pd.DataFrame([cells for _, _, cells in rows], index=index, columns=self.names)

    def to_text(self) -> str:
        """The plain-text table (the layout of rrmctl's)."""
        rows = self.rows()
        label_width = max([len("quantity")] + [len(q) + 2 for _, q, _ in rows])
        widths = [max([len(n)] + [len(cells[i]) for _, _, cells in rows]) for i, n in enumerate(self.names)]

        def line(label: str, cells: Sequence[str]) -> str:
            return (label.ljust(label_width) + "".join(" | " + c.ljust(w) for c, w in zip(cells, widths))).rstrip()
        out = ["Comparison of %d analyses (SPEC 5, 6; one column each)" % len(self.names), self.puzzle_sets,
               line("quantity", self.names), "-" * (label_width + sum(3 + w for w in widths))]
        section = None
        for s, q, cells in rows:
            if s != section:
                out.append(s)
                section = s
            out.append(line("  " + q, cells))
        return "\n".join(out) + "\n"

    # --- figures ---

    def _populations(self) -> Dict[str, Any]:
        from .analysis import population
        from .records import as_frame
        out = {}
        for name in self.names:
            records = self.records(name)
            if records:
                out[name] = population(as_frame(records))
        return out

    def displacement_figure(self) -> Any:
        """Median d_t^joint per segment by outcome, one colour per model
        (solid: success, dashed: failure), log scale."""
        import numpy as np
        from . import plots  # noqa: F401 (selects the headless backend)
        from matplotlib.figure import Figure
        fig = Figure(figsize=(7.5, 4.5), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        ax.set_title("Joint displacement d_t by outcome (median over puzzles)")
        ax.set_xlabel("segment t")
        ax.set_ylabel("median d_t")
        colours = _colours(len(self.names))
        drawn = False
        for (name, pop), colour in zip(self._populations().items(), colours):
            for ok, outcome, style in ((True, "success", _SUCCESS_STYLE), (False, "failure", _FAILURE_STYLE)):
                group = pop[pop["correct"] == ok]
                if group.empty:
                    continue
                series = list(group["seg_displacement_joint"])
                T = max(len(d) for d in series)
                padded = np.full((len(series), T), np.nan)
                for i, d in enumerate(series):
                    padded[i, :len(d)] = d
                with np.errstate(all="ignore"):
                    median = np.nanmedian(padded, axis=0) if np.isfinite(padded).any() else np.full(T, np.nan)
                median = np.where(median > 0, median, np.nan)
                ax.plot(np.arange(1, T + 1), median, style, color=colour, linewidth=2,
                        label="%s %s (n=%d)" % (name, outcome, len(group)))
                drawn = drawn or bool(np.isfinite(median).any())
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if drawn:
            ax.set_yscale("log")
            ax.legend(loc="best", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no records", ha="center", va="center", transform=ax.transAxes, color="0.3")
        ax.grid(True, which="both", alpha=0.3)
        return fig

    def lyapunov_figure(self) -> Any:
        """λ_1 histograms by outcome, one panel per model, shared bins."""
        import numpy as np
        from . import plots
        from matplotlib.figure import Figure
        pops = self._populations()
        n = max(1, len(self.names))
        fig = Figure(figsize=(4.0 * n, 3.6), dpi=100)
        axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
        values = [pop["lambda_1"].to_numpy(dtype=float) for pop in pops.values() if not pop.empty]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
        edges = np.histogram_bin_edges(finite, bins=int(min(30, max(6, 2 * math.sqrt(finite.size))))) \
            if finite.size else None
        for ax, name in zip(axes, self.names):
            ax.set_title("λ_1: %s" % name, fontsize=10)
            ax.set_xlabel("λ_1 (per segment)")
            pop = pops.get(name)
            drawn = False
            if pop is not None and not pop.empty and edges is not None:
                for ok, outcome, colour in ((True, "success", plots.SUCCESS), (False, "failure", plots.FAILURE)):
                    v = pop.loc[pop["correct"] == ok, "lambda_1"].to_numpy(dtype=float)
                    v = v[np.isfinite(v)]
                    if v.size == 0:
                        continue
                    ax.hist(v, bins=edges, alpha=0.55, color=colour, label="%s (n=%d)" % (outcome, v.size))
                    ax.axvline(float(np.median(v)), color=colour, linestyle="--", linewidth=1.2)
                    drawn = True
            if drawn:
                ax.legend(loc="best", fontsize=8)
            else:
                ax.text(0.5, 0.5, "no Lyapunov data", ha="center", va="center", transform=ax.transAxes, color="0.3")
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("puzzles")
        fig.tight_layout()
        return fig

    def restart_figure(self) -> Any:
        """Accuracy by runs R per model: first run (solid), best of R by h_T (dashed)."""
        from . import plots  # noqa: F401
        from matplotlib.figure import Figure
        fig = Figure(figsize=(7.5, 4.0), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        ax.set_title("Accuracy by runs per puzzle R")
        ax.set_xlabel("runs R")
        ax.set_ylabel("accuracy")
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        drawn = False
        for (name, report), colour in zip(self.reports.items(), _colours(len(self.names))):
            rows = [] if (report.get("restarts") or {}).get("absent_reason") else \
                (report.get("restarts") or {}).get("rows") or []
            for key, style, label in (("first_run", "-", "first run"), ("best_of_h", "--", "best h_T")):
                points = [(r.get("runs"), (r.get(key) or {}).get("share")) for r in rows]
                points = [(x, y) for x, y in points if _finite(y)]
                if points:
                    ax.plot([x for x, _ in points], [y for _, y in points], style, marker="o", color=colour,
                            label="%s %s" % (name, label))
                    drawn = True
        if drawn:
            ax.legend(loc="best", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no restart analysis", ha="center", va="center", transform=ax.transAxes, color="0.3")
        ax.grid(True, alpha=0.3)
        return fig

    # --- HTML ---

    def to_html(self, path: Union[str, None] = None,
                records: Optional[Mapping[str, Sequence[Dict[str, Any]]]] = None,
                title: str = "rrm-dynamics comparison") -> str:
        """One self-contained page (PNG figures embedded): the puzzle-set line,
        the claims side by side with verdicts, decomposition, AUCs, matched,
        early window, halting and restarts tables, the overlaid figures
        (displacement by outcome per model, λ_1 per model, restart curves),
        and each report's own table folded. `records` (name -> records)
        replaces the jobs' records; written to `path` when given. Returns the HTML."""
        if records:
            self._records.update({k: list(v) for k, v in records.items()})
            self._puzzle_sets = None
        names = self.names
        esc = html.escape
        parts = ["<!DOCTYPE html><html lang=en><head><meta charset='utf-8'><title>%s</title><style>%s</style>"
                 "</head><body><main><h1>%s</h1>" % (esc(title), _CSS, esc(title))]
        columns = []
        for name in names:
            job_id = self.reports[name].get("job_id") or getattr(self.jobs.get(name), "job_id", "")
            columns.append("%s%s" % (name, " (job %s)" % job_id if job_id and job_id not in name else ""))
        parts.append("<p class=sub>%s</p>" % esc(" · ".join(columns)))
        note_class = "sub" if self.puzzle_sets.startswith("puzzle sets: identical") else "note"
        parts.append("<p class=%s>%s</p>" % (note_class, esc(self.puzzle_sets)))
        for name in names:
            if self.reports[name].get("note"):
                parts.append("<p class=note><b>%s:</b> %s</p>" % (esc(name), esc(self.reports[name]["note"])))

        header = "<tr><th>quantity</th>%s</tr>" % "".join("<th>%s</th>" % esc(n) for n in names)
        parts.append("<h2>Reference paper's claims (SPEC §6)</h2>")
        parts.append(self._claims_html(header))
        titles = {"population": "Population", "decomposition": "Decomposition (Wilson 95%)",
                  "aucs": "AUC in its stated direction: auc_raw [95% bootstrap CI]",
                  "matched": "Matched AUC (pairs within bin, pooled)",
                  "early window": "Early window (positive class: eventual success)", "halting": "Halting",
                  "restarts": "Restarts: accuracy by runs R [Wilson 95%]"}
        sections: Dict[str, List[Tuple[str, List[str]]]] = {}
        for s, q, cells in self.rows():
            if s != "claims":
                sections.setdefault(s, []).append((q, cells))
        figures = {"decomposition": None, "restarts": ("restart_curves", self.restart_figure,
                                                       "accuracy by R per model: first run solid, best h_T dashed")}
        for s, rows in sections.items():
            parts.append("<h2>%s</h2><table>%s%s</table>" % (esc(titles.get(s, s)), header, "".join(
                "<tr><td>%s</td>%s</tr>" % (esc(q), "".join("<td>%s</td>" % esc(c) for c in cells))
                for q, cells in rows)))
            fig = figures.get(s)
            if fig:
                parts.append(_figure_html(fig[0], fig[1](), fig[2]))
        parts.append("<h2>Figures</h2>")
        parts.append(_figure_html("displacement_by_model", self.displacement_figure(),
                                  "median d_t^joint per segment; one colour per model, solid success, dashed failure"))
        parts.append(_figure_html("lambda_1_by_model", self.lyapunov_figure(),
                                  "λ_1 per puzzle by outcome, one panel per model (shared bins), medians dashed"))
        parts.append("<h2>Each report</h2>")
        for name in names:
            table = self.reports[name].get("table")
            if table:
                parts.append("<details><summary>%s</summary><pre>%s</pre></details>" % (esc(name), esc(table)))
        parts.append("</main></body></html>")
        page = "".join(parts)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(page)
        return page

    def _claims_html(self, header: str) -> str:
        def claim_key(c: Dict[str, Any]) -> str:
            return str(c.get("id", ""))
        reports = list(self.reports.values())
        rows = []
        for cid in _keys(reports, "claims", claim_key):
            claim_text = ""
            cells = []
            for r in reports:
                c = _find(r.get("claims"), cid, claim_key)
                if c is None:
                    cells.append("<td>n/a</td>")
                    continue
                claim_text = claim_text or c.get("claim") or cid
                verdict = c.get("verdict") or "not measurable"
                reason = c.get("reason") if verdict != "consistent" else ""
                cells.append("<td>%s <span class='verdict %s'>%s</span><span class=paper>paper: %s%s</span></td>" % (
                    html.escape(c.get("measured_text") or "n/a"), _VERDICT_CLASS.get(verdict, "na"),
                    html.escape(verdict), html.escape(c.get("paper") or "n/a"),
                    "; " + html.escape(reason) if reason else ""))
            rows.append("<tr><td><b>%s</b><span class=paper>%s</span></td>%s</tr>" % (
                html.escape(cid), html.escape(claim_text), "".join(cells)))
        if not rows:
            return "<p>no claims in these reports</p>"
        return "<table class=claims>%s%s</table>" % (header, "".join(rows))


def _colours(n: int) -> List[Any]:
    from matplotlib import colormaps
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(max(n, 1))]


def _figure_html(name: str, fig: Any, caption: str) -> str:
    import base64
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return "<figure><img alt='%s' src='data:image/png;base64,%s'><figcaption>%s</figcaption></figure>" % (
        html.escape(name), data, html.escape(caption))


def _model_name(report: Dict[str, Any], job: Any) -> str:
    models = (report.get("population") or {}).get("models") or []
    if models:
        return "+".join(str(m) for m in models)
    if job is not None:
        try:
            model = getattr(job.provenance, "model", "")
            if model:
                return str(model)
        except Exception:  # a job whose status cannot be read: its id names it
            pass
        return str(getattr(job, "job_id", "job"))
    return "report"


def compare(jobs: Union[Sequence[Any], Mapping[str, Any]], names: Optional[Sequence[str]] = None,
            **analysis_parameters: Any) -> Comparison:
    """Puts several jobs' analyses side by side.

    jobs: rrmdyn Job objects (their report(**analysis_parameters) is fetched:
    rrmd's Analyze RPC, the numbers every client shows) or report dicts
    (Job.report() results, used as they are), or a mapping name -> either.
    names: the columns; default: each report's model name, with the job id
    appended where two columns share a model.
    Returns a Comparison (.reports, .table(), .to_html(), .puzzle_sets)."""
    if isinstance(jobs, Mapping):
        if names is not None:
            raise ValueError("compare: give names or a mapping name -> job, not both")
        names = list(jobs.keys())
        items = list(jobs.values())
    else:
        items = list(jobs)
    if not items:
        raise ValueError("compare: expected at least one job or report")
    if names is not None and len(names) != len(items):
        raise ValueError("compare: %d names for %d jobs" % (len(names), len(items)))
    reports: List[Dict[str, Any]] = []
    job_objects: List[Any] = []
    for item in items:
        if isinstance(item, dict):
            reports.append(item)
            job_objects.append(None)
        elif hasattr(item, "report"):
            reports.append(item.report(**analysis_parameters))
            job_objects.append(item)
        else:
            raise TypeError("compare: expected rrmdyn Jobs or report dicts, found %s" % type(item).__name__)
    if names is None:
        base = [_model_name(r, j) for r, j in zip(reports, job_objects)]
        names = []
        for i, (b, r, j) in enumerate(zip(base, reports, job_objects)):
            if base.count(b) > 1:
                job_id = r.get("job_id") or getattr(j, "job_id", "") or "#%d" % (i + 1)
                b = "%s (%s)" % (b, job_id)
            names.append(b)
        names = ["%s #%d" % (n, i + 1) if names.count(n) > 1 else n for i, n in enumerate(names)]
    if len(set(names)) != len(names):
        raise ValueError("compare: column names must differ, found %s" % list(names))
    named_jobs = {n: j for n, j in zip(names, job_objects) if j is not None}
    return Comparison(dict(zip(names, reports)), named_jobs)
