"""The SPEC §5 report (docs/analysis.md) from the Analyze RPC, as a dict,
DataFrames and one self-contained HTML document (claims, findings, figures
beside their numbers, provenance)."""

import base64
import dataclasses
import html
import io
import json
import math


def _number(value):
    # The report writes NaN / ±∞ as strings, as the records do.
    if value == "NaN":
        return math.nan
    if value == "Infinity":
        return math.inf
    if value == "-Infinity":
        return -math.inf
    return value


def _decode(obj):
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return _number(obj) if isinstance(obj, str) else obj


def _encode(obj):
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items() if k != "frames"}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    return obj


def to_json(report):
    """The report dict back to JSON (NaN / ±∞ as strings, as rrmd writes them; no frames)."""
    return json.dumps(_encode(report), indent=2)


def frames(report):
    """DataFrames of the report's row-shaped parts."""
    import pandas as pd
    out = {}
    out["aucs"] = pd.DataFrame(report.get("aucs", []))
    rows = []
    for m in report.get("matched", []):
        pooled = m.get("pooled", {})
        for b in m.get("bins", []):
            rows.append(dict(binning=m.get("binning", ""), score=pooled.get("score", ""), **b))
    out["matched_bins"] = pd.DataFrame(rows)
    out["matched"] = pd.DataFrame([dict(binning=m.get("binning", ""), **m.get("pooled", {}))
                                   for m in report.get("matched", [])])
    summary_rows = []
    for s in report.get("summaries", []):
        for outcome in ("success", "failure"):
            q = s.get(outcome, {}) or {}
            summary_rows.append({"score": s.get("score"), "outcome": outcome, **q})
    out["summaries"] = pd.DataFrame(summary_rows)
    restarts = report.get("restarts", {}) or {}
    out["restarts"] = pd.DataFrame(restarts.get("rows", []))
    out["pruning"] = pd.DataFrame(restarts.get("pruning", []))
    early = report.get("early", {}) or {}
    out["early"] = pd.DataFrame([early[k] for k in ("lambda_1", "d_w", "h_w") if isinstance(early.get(k), dict)])
    return out


def parse_report(report_json):
    """Analyze's report_json -> dict (NaN strings as floats) with report["frames"] DataFrames."""
    report = _decode(json.loads(report_json))
    report["frames"] = frames(report)
    return report


# ---------------------------------------------------------------------------
# report.html: a document a researcher shows a colleague. The claims table
# (SPEC §6) and a few sentences of findings first, then each figure beside
# the numbers it illustrates, bulky tables folded in <details>, every number
# of the report JSON once more (generically, so keys added to ReportToJson
# appear without a change here), and the job's provenance last.

_PERCENT_WORDS = ("share", "accuracy", "first_run", "best_of_h", "majority", "oracle")
_VERDICT_CLASS = {"consistent": "ok", "not consistent": "bad", "not measurable": "na"}

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;margin:0;background:#fff}
main{max-width:1180px;margin:0 auto;padding:1.2em 2em 3em}
h1{font-size:1.6em;margin:.3em 0 .1em}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.02em;margin:1em 0 .3em}
.sub{color:#555;margin:0 0 1em}
.pair{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1.6em;align-items:start}
.pair.single{grid-template-columns:minmax(0,1fr)}
.pair.even{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
figure{margin:0}
figure img{width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{font-size:.85em;color:#555;margin-top:.3em}
table{border-collapse:collapse;margin:.3em 0 .8em;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 7px;font-size:.88em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f2f2f2;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ci{color:#666;font-size:.86em}
td .ci{display:block}
table.full{width:100%;table-layout:fixed}
.verdict{display:inline-block;padding:1px 7px;border-radius:9px;font-weight:600;font-size:.85em;white-space:nowrap}
.verdict.ok{background:#d5f0e2;color:#145c3a}.verdict.bad{background:#fadbd3;color:#8a2a12}
.verdict.na{background:#ececec;color:#555}
.reason{display:block;color:#666;font-size:.85em;margin-top:2px}
.findings li{margin:.2em 0}
.absent{color:#777;font-style:italic}
.note{background:#fff7dc;border:1px solid #eed98a;padding:.4em .8em}
details{margin:.4em 0;border:1px solid #e3e3e3;border-radius:4px;padding:.2em .7em}
details[open]{padding-bottom:.6em}
summary{cursor:pointer;font-weight:600;color:#333;padding:.2em 0}
.kv td:first-child{color:#444;width:45%}
"""


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v):
    return _is_number(v) and math.isfinite(v)


def _is_proportion(v):
    # core/analysis Proportion: {k, n, share, ci_low, ci_high} (Wilson 95%).
    return isinstance(v, dict) and "share" in v


def _share_value(v):
    """A share as a number, whether the report gives it bare or as a Proportion."""
    return v.get("share") if _is_proportion(v) else v


def _pct(v):
    v = _share_value(v)
    return "%.1f%%" % (100.0 * v) if _finite(v) else "n/a"


def _proportion_text(p):
    """HTML: the share, then its Wilson 95% interval and k of n in small print."""
    detail = _ci_text(p.get("ci_low"), p.get("ci_high"), percent=True).strip()
    if _is_number(p.get("k")) and _is_number(p.get("n")):
        detail += " %d/%d" % (p["k"], p["n"])
    return _pct(p) + (" <span class=ci>%s</span>" % html.escape(detail.strip()) if detail.strip() else "")


def _num(v, digits=3):
    if not _is_number(v):
        return "n/a" if v is None else html.escape(str(v))
    if isinstance(v, int) or (v.is_integer() and abs(v) < 1e15):
        return "%d" % v
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
        return "%.*e" % (max(digits - 1, 1), v)
    return "%.*f" % (digits, v)


def _value(key, v):
    """A JSON value as table text: shares as percentages, NaN as n/a, no None."""
    if v is None:
        return "—"
    if _is_proportion(v):
        return _proportion_text(v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if _is_number(v):
        if isinstance(v, float) and any(w in key for w in _PERCENT_WORDS):
            return _pct(v)
        return _num(v, 4)
    if isinstance(v, list):
        return html.escape(", ".join(str(x) for x in v)) if v else "—"
    if isinstance(v, dict):  # a small nested object inside a table row: inline
        return "; ".join("%s %s" % (html.escape(str(k)), _value(k, x)) for k, x in v.items())
    return html.escape(str(v).replace("->", "→"))


def _ci_text(low, high, percent=False):
    if not (_finite(low) and _finite(high)):
        return ""
    f = _pct if percent else _num
    return " [%s, %s]" % (f(low), f(high))


def _interval(obj, key):
    """(low, high) of a share/number `key` of `obj` when the report gives one
    (`key_ci_low`/`key_ci_high` or `key_low`/`key_high`), else None."""
    for low, high in (("%s_ci_low" % key, "%s_ci_high" % key), ("%s_low" % key, "%s_high" % key)):
        if _finite(obj.get(low)) and _finite(obj.get(high)):
            return obj[low], obj[high]
    return None


def _share(obj, key):
    """"12.5% [8.0%, 19.0%]" from a share and its interval when given."""
    v = obj.get(key)
    if _is_proportion(v):
        return _proportion_text(v)
    ci = _interval(obj, key)
    return _pct(v) + (_ci_text(*ci, percent=True) if ci else "")


def _tr(cells, header=False):
    tag = "th" if header else "td"
    return "<tr>%s</tr>" % "".join(
        "<%s%s>%s</%s>" % (tag, " class=num" if (not header and num) else "", text, tag) for text, num in cells)


def _table(header, rows, css=""):
    """header: [text]; rows: [[(html, is_number)]]."""
    if not rows:
        return "<p class=absent>none</p>"
    return "<table%s>%s%s</table>" % (" class='%s'" % css if css else "", _tr([(h, False) for h in header], True),
                                       "".join(_tr(r) for r in rows))


def _kv_table(pairs):
    """[(label, html)] as a two-column table."""
    return "<table class='kv full'>%s</table>" % "".join(
        "<tr><td>%s</td><td>%s</td></tr>" % (html.escape(k), v) for k, v in pairs)


def _scalar(v):
    return not isinstance(v, (dict, list)) or _is_proportion(v)


def _flat(v):
    """A scalar, or an object of scalars (shown inline in a table cell)."""
    return _scalar(v) or (isinstance(v, dict) and all(_scalar(x) for x in v.values()))


def _generic(obj, key=""):
    """Any JSON value as HTML: objects as name/value tables (nested objects
    under their own heading), lists of objects as tables (transposed when
    they have many fields, so no table outgrows the page)."""
    if isinstance(obj, dict):
        scalars = [(k, v) for k, v in obj.items() if _scalar(v) or
                   (isinstance(v, list) and all(_scalar(x) for x in v))]
        scalars = [(k, v) for k, v in scalars if v not in ("", None, [])]
        parts = [_kv_table([(k, _value(k, v)) for k, v in scalars])] if scalars else []
        for k, v in obj.items():
            if (isinstance(v, dict) and not _scalar(v)) or (isinstance(v, list) and not all(_scalar(x) for x in v)):
                parts.append("<h4>%s</h4>%s" % (html.escape(k), _generic(v, k)))
        return "".join(parts) or "<p class=absent>none</p>"
    if isinstance(obj, list):
        if not obj:
            return "<p class=absent>none</p>"
        if not all(isinstance(x, dict) for x in obj):
            return "<p>%s</p>" % _value(key, obj)
        columns = []
        for x in obj:
            columns += [k for k, v in x.items() if k not in columns and _flat(v)]
        nested = any(not _flat(v) and v for x in obj for v in x.values())
        if len(columns) > 8 and len(obj) <= 8:
            # Transposed: one column per item, one row per field.
            label = columns[0]
            rows = [[(html.escape(c), False)] + [(_value(c, x.get(c)), _is_number(x.get(c))) for x in obj]
                    for c in columns[1:]]
            table = _table([html.escape(label)] + [_value(label, x.get(label)) for x in obj], rows, "full")
        else:
            rows = [[(_value(c, x.get(c)), _is_number(x.get(c))) for c in columns] for x in obj]
            table = _table([html.escape(c) for c in columns], rows, "full" if len(columns) > 5 else "")
        if nested:
            for x in obj:
                for k, v in x.items():
                    if not _flat(v) and v:
                        name = " ".join(str(x.get(c)) for c in columns[:1])
                        table += "<h4>%s: %s</h4>%s" % (html.escape(name), html.escape(k), _generic(v, k))
        return table
    return "<p>%s</p>" % _value(key, obj)


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(figures, name, caption):
    fig = figures.get(name)
    if fig is None:
        return ""
    return "<figure><img alt='%s' src='data:image/png;base64,%s'><figcaption>%s</figcaption></figure>" % (
        html.escape(name), _png(fig), caption)


def _pair(figure_html, numbers_html, even=False):
    if not figure_html:
        return "<div class='pair single'><div>%s</div></div>" % numbers_html
    return "<div class='pair%s'>%s<div>%s</div></div>" % (" even" if even else "", figure_html, numbers_html)


def _details(summary, body):
    return "<details><summary>%s</summary>%s</details>" % (html.escape(summary), body)


# --- the parts of the document ---------------------------------------------

def claims_table(claims):
    """SPEC §6: claim, the paper's value, the value measured here with its 95%
    interval, and the verdict (with its reason)."""
    if not claims:
        return ("<p class=absent>This report carries no claims table (the rrmd that computed it predates "
                "SPEC §6's claims).</p>")
    rows = []
    for c in claims:
        verdict = c.get("verdict") or "not measurable"
        reason = c.get("reason") or ""
        measured = c.get("measured_text") or (_num(c.get("measured")) + _ci_text(c.get("ci_low"), c.get("ci_high")))
        rows.append([(html.escape(c.get("claim") or c.get("id", "")), False),
                     (html.escape(c.get("paper") or "—"), False),
                     (html.escape(measured), False),
                     ("<span class='verdict %s'>%s</span>%s" % (
                         _VERDICT_CLASS.get(verdict, "na"), html.escape(verdict),
                         "<span class=reason>%s</span>" % html.escape(reason) if reason else ""), False)])
    return ("<table class='full claims'><colgroup><col style='width:30%'><col style='width:17%'>"
            "<col style='width:20%'><col style='width:33%'></colgroup>" +
            _tr([("Claim (reference paper)", False), ("Paper", False), ("Measured here [95% CI]", False),
                 ("Verdict", False)], True) + "".join(_tr(r) for r in rows) + "</table>")


def _auc_entry(report_aucs, score):
    for a in report_aucs or []:
        if a.get("score") == score:
            return a
    return None


def _auc_cells(a):
    """An AucSummary as (stated AUC [CI], folded, direction, n) cells: the AUC
    in its SPEC §5 direction (auc_raw, may be < 0.5), the folded one beside it."""
    from .plots import stated_auc_ci
    if a.get("absent_reason"):
        return [("<span class=absent>n/a: %s</span>" % html.escape(a["absent_reason"]), False), ("", False),
                ("", False), ("", False)]
    raw = a.get("auc_raw")
    ci = stated_auc_ci(a, raw) if _finite(raw) else None
    n = "%s / %s" % (a.get("n_positive", "?"), a.get("n_negative", "?"))
    if a.get("n_missing"):
        n += " (%s missing)" % a["n_missing"]
    folded = a.get("auc_folded", a.get("auc"))
    return [(_num(raw) + (" <span class=ci>%s</span>" % _ci_text(*ci).strip() if ci else ""), True),
            (_num(folded), True),
            (html.escape(a.get("direction", "").replace("->", "→")), False),
            (html.escape(n), False)]


_AUC_HEADER = ["AUC as stated, 95% CI", "folded", "direction", "n pos / neg"]


def _auc_table(entries):
    """[(label, AucSummary)] as one compact table; the absent ones below it,
    grouped by their reason."""
    entries = [(label, a) for label, a in entries if isinstance(a, dict)]
    rows = [[(html.escape(label), False)] + _auc_cells(a) for label, a in entries if not a.get("absent_reason")]
    absent = {}
    for label, a in entries:
        if a.get("absent_reason"):
            absent.setdefault(a["absent_reason"], []).append(label)
    out = _table(["score"] + _AUC_HEADER, rows, "full") if rows else ""
    out += "".join("<p class=absent>n/a (%s): %s</p>" % (html.escape(reason), html.escape(", ".join(labels)))
                   for reason, labels in absent.items())
    return out or "<p class=absent>none</p>"


def _quartile_text(q):
    if not isinstance(q, dict) or not q.get("n"):
        return "n/a"
    return "%s [%s, %s] n=%d" % (_num(q.get("median")), _num(q.get("q1")), _num(q.get("q3")), q["n"])


def _mean_ci_text(q, percent=False):
    """A bootstrap mean {n, mean, ci_low, ci_high} as "mean [low, high]" HTML."""
    if not isinstance(q, dict) or not _finite(q.get("mean")):
        return "n/a"
    f = _pct if percent else _num
    ci = _ci_text(q.get("ci_low"), q.get("ci_high"), percent=percent).strip()
    return f(q["mean"]) + (" <span class=ci>%s</span>" % ci if ci else "")


def _comparison_cells(c):
    """A pairs-within-puzzle AUC (energy maps) as (AUC [CI], counts, direction) cells."""
    if not isinstance(c, dict):
        return [("n/a", False), ("", False), ("", False)]
    direction = html.escape(c.get("direction", "").replace("->", "→"))
    if not _finite(c.get("auc_raw")):
        return [("<span class=absent>n/a%s</span>" % (": " + html.escape(c["absent_reason"])
                                                      if c.get("absent_reason") else ""), False), ("", False),
                (direction, False)]
    ci = _ci_text(c.get("ci_low"), c.get("ci_high")).strip()
    return [(_num(c["auc_raw"]) + (" <span class=ci>%s</span>" % ci if ci else ""), True),
            ("%s puzzles, %s pairs" % (_num(c.get("puzzles")), _num(c.get("pairs"))), True), (direction, False)]


def energy_table(m):
    """One method's energy-map statistics (report energy.maps[i]) as two
    tables: the AUCs and the puzzle-position share, then the concentration
    by outcome."""
    share = m.get("puzzle_position_share") or {}
    rows = [[("wrong vs right blank cells, within failures", False)] + _comparison_cells(m.get("wrong_vs_right")),
            [("blank vs given cells", False)] + _comparison_cells(m.get("blank_vs_given")),
            [("share on puzzle positions (mean)", False), (_mean_ci_text(share, True), True),
             ("%s records" % _num(share.get("n")), True), ("energy outside the cells", False)]]
    head = "<h3>%s <span class=ci>top %s direction(s), %s records, %s cells</span></h3>" % (
        html.escape(str(m.get("method", ""))), _num(m.get("directions")), _num(m.get("records")),
        _num(m.get("cells")))
    if m.get("absent_reason"):
        head += "<p class=absent>n/a: %s</p>" % html.escape(m["absent_reason"])
    concentration = []
    for c in m.get("concentration") or []:
        name = {"entropy": "entropy (1 = uniform)", "top5_share": "top-5 cell share"}.get(c.get("score"),
                                                                                           c.get("score", ""))
        percent = c.get("score") == "top5_share"
        concentration.append([(html.escape(name), False)] + [
            (_mean_ci_text(c.get(k), percent), True) for k in ("success", "failure", "difference")])
    out = head + _table(["statistic", "AUC / mean [95% CI]", "n", "direction"], rows, "full")
    if concentration:
        out += _table(["score (mean)", "success", "failure", "failure − success"], concentration, "full")
    return out


def energy_section(report, figures):
    """"Where the instability lives": the mean cell maps beside the tables of
    report["energy"] (docs/analysis.md, energy maps), the examples below;
    one line with the reason when there are none; "" for reports without an
    energy section."""
    energy = report.get("energy")
    if not isinstance(energy, dict):
        return ""
    out = "<h2>Where the instability lives (energy maps)</h2>"
    maps = [m for m in energy.get("maps") or [] if isinstance(m, dict)]
    if not maps:
        return out + "<p class=absent>No energy maps: %s.</p>" % html.escape(
            energy.get("absent_reason") or "no record carries an energy map")
    from .plots import ENERGY_METHODS, _pick_method
    shown = _pick_method([m.get("method") for m in maps if m.get("mean_cells_failure") or
                          m.get("mean_cells_success")], None)
    maps.sort(key=lambda m: (m.get("method") != shown, ENERGY_METHODS.index(m["method"])
                             if m.get("method") in ENERGY_METHODS else len(ENERGY_METHODS)))
    out += ("<p>Each cell's share c of the top directions' energy over the puzzle's cells (per record, summing to 1; "
            "docs/analysis.md). AUCs are pairs within a puzzle, in their stated direction; intervals are 95%% "
            "bootstrap over puzzles.%s</p>" % (
                " %s records of the population carry no map." % _num(energy["records_without_maps"])
                if energy.get("records_without_maps") else ""))
    out += _pair(_figure(figures, "energy_heatmaps", "Mean cell share c of %s over failures and successes, one "
                         "colour scale." % html.escape(str(shown))), energy_table(maps[0]))
    rest = [energy_table(m) for m in maps[1:]]
    for i in range(0, len(rest), 2):
        out += "<div class='pair even'>%s</div>" % "".join("<div>%s</div>" % t for t in rest[i:i + 2])
    if figures.get("energy_examples") is not None:
        out += "<div class='pair single'>%s</div>" % _figure(
            figures, "energy_examples", "Failing puzzles as given: cells wrong at T outlined, given cells dotted; "
            "each on its own colour scale.")
    return out


def _least_mobile_key(settling):
    # A Proportion `successes_below_least_mobile_failure`, or (older reports)
    # the bare share beside the count.
    for key in ("successes_below_least_mobile_failure", "share_successes_below_least_mobile_failure"):
        if _is_proportion(settling.get(key)) or (_finite(settling.get(key)) and key.startswith("share")):
            if _finite(_share_value(settling[key])):
                return key
    return None


def findings(report, spectrum_rows=None):
    """A few plain sentences of what the numbers say (each only when its
    numbers are present)."""
    out = []
    c = report.get("counts", {}) or {}
    if c.get("population"):
        out.append("Of the %d puzzles as given, %d were solved and %d failed: accuracy %s." % (
            c["population"], c.get("successes", 0), c.get("failures", 0), _share(c, "accuracy")))
    s = report.get("settling", {}) or {}
    if _finite(s.get("tau")):
        out.append("With the settling threshold τ = %s (%s), %s of the failures settled (d_T ≤ τ) against %s of "
                   "the successes." % (_num(s["tau"], 4), "given" if s.get("tau_source") == "given" else
                                       "95th percentile of d_T among successes",
                                       _share(s, "settled_share_of_failures"),
                                       _share(s, "settled_share_of_successes")))
    below = _least_mobile_key(s)
    if below:
        out.append("The least mobile failure still moves faster at T than %s of the successes." % _share(s, below))
    summary = {x.get("score"): x for x in report.get("summaries", []) or []}
    lam = summary.get("lambda_1")
    a = _auc_entry(report.get("aucs"), "lambda_1")
    if lam and (lam.get("failure") or {}).get("n") and (lam.get("success") or {}).get("n"):
        text = "Median λ₁ is %s for failures vs %s for successes" % (
            _num(lam["failure"].get("median")), _num(lam["success"].get("median")))
        if a and _finite(a.get("auc_raw")):
            text += "; the AUC of λ₁ in its stated direction (%s) is %s" % (a.get("direction", ""),
                                                                          _auc_cells(a)[0][0])
        out.append(text + ".")
    elif (report.get("lyapunov") or {}).get("absent_reason"):
        out.append("No Lyapunov statistics: %s." % report["lyapunov"]["absent_reason"])
    if spectrum_rows:
        bounds = sum(r["ky_lower_bounds"] for r in spectrum_rows)
        rows = {r["outcome"]: r for r in spectrum_rows if r["n"] and _finite(r["lambda_sum_median"])}
        if len(rows) == 2:
            out.append("The summed spectrum Σλ (log-volume growth per segment) has median %s for failures vs %s for "
                       "successes; the Kaplan–Yorke dimension, median %s vs %s%s." % (
                           _num(rows["failure"]["lambda_sum_median"]), _num(rows["success"]["lambda_sum_median"]),
                           _num(rows["failure"]["ky_median"], 2), _num(rows["success"]["ky_median"], 2),
                           " (%d records only bounded below, ≥ k)" % bounds if bounds else ""))
    rows = (report.get("restarts") or {}).get("rows") or []
    if len(rows) > 1:
        last = rows[-1]
        out.append("With %d runs per puzzle, best-of-R by h_T reaches %s and majority vote %s, against %s for the "
                   "first run alone (oracle ceiling %s)." % (last.get("runs"), _pct(last.get("best_of_h")),
                                                            _pct(last.get("majority")), _pct(last.get("first_run")),
                                                            _pct(last.get("oracle"))))
    claims = report.get("claims") or []
    if claims:
        verdicts = [cl.get("verdict") for cl in claims]
        out.append("Of the reference paper's %d claims, %d %s consistent with these records, %d %s not, and %d "
                   "cannot be measured here." % (len(claims), verdicts.count("consistent"),
                                                 "is" if verdicts.count("consistent") == 1 else "are",
                                                 verdicts.count("not consistent"),
                                                 "is" if verdicts.count("not consistent") == 1 else "are",
                                                 verdicts.count("not measurable")))
    return out


_STRATEGIES = (("first_run", "first run"), ("best_of_h", "best of R by h_T"), ("majority", "majority"),
               ("oracle", "oracle"))


def _restart_tables(rows):
    """Accuracy per R and strategy, then each strategy's paired comparison
    with the first run (any `*_vs_first` object of the row)."""
    if not rows:
        return "<p class=absent>none</p>"
    table = _table(["R", "segments"] + [label for _, label in _STRATEGIES],
                   [[(_value("runs", r.get("runs")), True), (_value("segments", r.get("segments")), True)] +
                    [(_value(key, r.get(key)), True) for key, _ in _STRATEGIES] for r in rows], "full")
    paired = []
    for r in rows:
        for key, v in r.items():
            if key.endswith("_vs_first") and isinstance(v, dict) and r.get("runs") != 1:  # R = 1 is the first run
                paired.append([(_value("runs", r.get("runs")), True), (html.escape(key[:-len("_vs_first")]), False),
                               ("+%s / −%s" % (v.get("only_strategy", "?"), v.get("only_first", "?")), True),
                               (_value("difference", v.get("difference")), True),
                               (_value("p_value", v.get("p_value")), True)])
    if paired:
        table += "<h3>Against the first run, same puzzles</h3>" + _table(
            ["R", "strategy", "only it / only first correct", "difference", "p"], paired, "full")
    return table


def _parameters_pairs(parameters):
    # Unset optional parameters are JSON null: the core's default applies.
    return [(k, "default" if v is None else _value(k, v)) for k, v in (parameters or {}).items()]


def provenance_dict(provenance):
    """A provenance as a plain dict: a dict, a dataclass (dataclasses.asdict)
    or an object with to_dict(); None stays None."""
    if provenance is None or isinstance(provenance, dict):
        return provenance
    if dataclasses.is_dataclass(provenance):
        return dataclasses.asdict(provenance)
    if hasattr(provenance, "to_dict"):
        return provenance.to_dict()
    raise TypeError("provenance: expected a dict, a dataclass or an object with to_dict(), found %s"
                    % type(provenance).__name__)


def _flatten(obj, prefix=""):
    out = []
    for k, v in (obj or {}).items():
        name = "%s.%s" % (prefix, k) if prefix else str(k)
        if isinstance(v, dict):
            out += _flatten(v, name)
        elif v not in (None, "", [], {}):
            out.append((name, v))
    return out


def records_provenance(frame):
    """What the records themselves say about how they were made (SPEC §4)."""
    out = []
    if frame is None or frame.empty:
        return out

    def distinct(column):
        if column not in frame:
            return ""
        values = sorted({str(v) for v in frame[column] if str(v) != ""})
        return ", ".join(values)
    for label, column in (("job", "job_id"), ("model", "model"), ("model family", "model_family"),
                          ("Lyapunov method", "lyapunov_method"), ("restart kinds", "restart_kind"),
                          ("devices", "device")):
        text = distinct(column)
        if text:
            out.append((label, text))
    out.append(("segments T", ", ".join(str(t) for t in sorted(set(int(t) for t in frame["T"])))))
    ks = sorted({len(v) for v in frame["lyapunov"]})
    out.append(("Lyapunov exponents k", ", ".join(str(k) for k in ks)))
    ups = sorted({int(u) for u in frame["updates_per_segment"]})
    out.append(("updates per segment", ", ".join(str(u) for u in ups)))
    out.append(("records", str(len(frame))))
    return out


def to_html(report=None, records=None, title="rrm-dynamics report", provenance=None):
    """One self-contained HTML page (images embedded as base64 PNG): the
    claims table and findings, each figure of rrmdyn.plots (when `records`
    are given) beside the numbers of the report (when `report` is given)
    that it illustrates, per-bin and raw tables folded, and the provenance
    (`provenance`, a dict such as the job's, plus what the records say)."""
    from . import plots, spectrum
    from .records import as_frame
    if records is not None and not hasattr(records, "columns"):
        records = list(records)  # read twice: the frame, then the energy maps
    frame = as_frame(records) if records is not None else None
    figures = dict(plots.all_figures(frame, report=report)) if frame is not None else {}
    if plots._has_maps(records):
        figures["energy_examples"] = plots.energy_examples(records)
    if "energy_heatmaps" not in figures and plots._energy_maps(report)[1]:
        figures["energy_heatmaps"] = plots.energy_heatmaps(report)
    spectrum_rows = spectrum.spectrum_summary(frame) if frame is not None else None
    report = report or {}
    parts = ["<!DOCTYPE html><html lang=en><head><meta charset='utf-8'>"
             "<meta name=viewport content='width=device-width, initial-scale=1'><title>%s</title>"
             "<style>%s</style></head><body><main>" % (html.escape(title), _CSS),
             "<h1>%s</h1>" % html.escape(title)]
    sub = []
    if report.get("job_id"):
        sub.append("job %s" % report["job_id"])
    if report.get("job_state"):
        sub.append(str(report["job_state"]).replace("JOB_STATE_", "").lower())
    counts = report.get("counts") or {}
    if counts.get("records") is not None:
        sub.append("%s records" % counts["records"])
    if sub:
        parts.append("<p class=sub>%s</p>" % html.escape(" · ".join(sub)))
    if report.get("note"):
        parts.append("<p class=note><b>Note:</b> %s</p>" % html.escape(report["note"]))

    if report:
        parts.append("<h2>The reference paper's claims, measured on these records</h2>")
        parts.append(claims_table(report.get("claims")))
        sentences = findings(report, spectrum_rows)
        if sentences:
            parts.append("<h2>Findings</h2><ul class=findings>%s</ul>" % "".join(
                "<li>%s</li>" % s for s in sentences))

    # Outcomes and settling: the decomposition beside its 2×2 table.
    s = report.get("settling") or {}
    numbers = ""
    if counts:
        numbers += "<h3>Counts</h3>" + _kv_table([
            ("puzzles as given (population)", _value("n", counts.get("population"))),
            ("successes / failures", "%s / %s" % (counts.get("successes"), counts.get("failures"))),
            ("accuracy", _share(counts, "accuracy")),
            ("restart runs", _value("n", counts.get("restart_records"))),
            ("excluded: errors / no segments", "%s / %s" % (counts.get("errors"), counts.get("without_segments")))])
    if s:
        if s.get("absent_reason"):
            numbers += "<p class=absent>Settling n/a: %s</p>" % html.escape(s["absent_reason"])
        else:
            numbers += "<h3>Settled ⇔ d_T ≤ τ = %s</h3>" % _num(s.get("tau"), 4)
            numbers += _table(["", "settled", "unsettled", "settled share"], [
                [("success", False), ("%s (%s)" % (s.get("success_settled"), _pct(s.get("share_success_settled"))),
                                      True),
                 ("%s (%s)" % (s.get("success_unsettled"), _pct(s.get("share_success_unsettled"))), True),
                 (_share(s, "settled_share_of_successes"), True)],
                [("failure", False), ("%s (%s)" % (s.get("failure_settled"), _pct(s.get("share_failure_settled"))),
                                      True),
                 ("%s (%s)" % (s.get("failure_unsettled"), _pct(s.get("share_failure_unsettled"))), True),
                 (_share(s, "settled_share_of_failures"), True)]], "full")
    if numbers or figures:
        parts.append("<h2>Outcomes and settling</h2>")
        parts.append(_pair(_figure(figures, "decomposition", "Success/failure × settled/unsettled (SPEC §5)."),
                           numbers or "<p class=absent>no report numbers</p>"))
    if s and not s.get("absent_reason") or figures.get("displacement_trajectories"):
        numbers = ""
        if s:
            numbers = _kv_table([
                ("settling segment, successes: median [q1, q3]", _quartile_text(s.get("settling_segment_success"))),
                ("settling segment, failures: median [q1, q3]", _quartile_text(s.get("settling_segment_failure"))),
                ("least mobile failure d_T", _num(s.get("least_mobile_failure_d_t"), 4)),
                ("successes slower than it", _share(s, _least_mobile_key(s)) if _least_mobile_key(s) else
                 html.escape(s.get("least_mobile_absent_reason") or "n/a"))])
        parts.append("<h3>Displacement along the trajectory</h3>")
        parts.append(_pair(_figure(figures, "displacement_trajectories",
                                   "d_t per segment, one thin line per puzzle, medians bold."), numbers))

    # Lyapunov exponents.
    lyap = report.get("lyapunov") or {}
    summaries = report.get("summaries") or []
    if lyap or summaries or figures:
        parts.append("<h2>Lyapunov exponents</h2>")
        numbers = ""
        if lyap:
            if lyap.get("absent_reason"):
                numbers += "<p class=absent>n/a: %s</p>" % html.escape(lyap["absent_reason"])
            else:
                numbers += _kv_table([("method", _value("method", lyap.get("method"))),
                                      ("k", _value("k", lyap.get("k"))),
                                      ("records with exponents", _value("n", lyap.get("records_with_lyapunov"))),
                                      ("mean seed sd of λ₁", _num(lyap.get("lambda_1_seed_sd_mean"), 4)
                                       if _finite(lyap.get("lambda_1_seed_sd_mean"))
                                       else html.escape(lyap.get("seed_sd_absent_reason") or "n/a"))])
        if summaries:
            numbers += "<h3>Median [q1, q3] by outcome</h3>" + _table(
                ["score", "success", "failure"],
                [[(html.escape(x.get("score", "")), False), (_quartile_text(x.get("success")), False),
                  (_quartile_text(x.get("failure")), False)] for x in summaries], "full")
        parts.append(_pair(_figure(figures, "lyapunov_distributions", "λ₁ by outcome, medians dashed."), numbers))
        numbers = ""
        if frame is not None:
            conv = spectrum.convergence_frame(frame)
            if not conv.empty:
                last = conv[conv["segment"] == conv["segment"].max()]
                numbers = ("<p>m<sub>t,i</sub> = (1/t) Σ<sub>s≤t</sub> ℓ<sub>s,i</sub>, the exponent after t "
                           "segments; flat by t = T means converged.</p>" + _table(
                               ["exponent", "outcome", "λ at t = T: median [q1, q3]", "n"],
                               [[("λ_%d" % r.exponent, False), (r.outcome, False),
                                 ("%s [%s, %s]" % (_num(r.median), _num(r.q1), _num(r.q3)), True), (str(r.n), True)]
                                for r in last.itertuples()], "full"))
                numbers += _details("Convergence data (every segment)", _table(
                    list(conv.columns), [[(_value(c, v), _is_number(v)) for c, v in zip(conv.columns, row)]
                                         for row in conv.itertuples(index=False)], "full"))
        if figures.get("exponent_convergence") is not None:
            parts.append("<h3>Convergence of the exponents</h3>")
            parts.append(_pair(_figure(figures, "exponent_convergence",
                                       "Running mean of the increments by outcome: median line, IQR band."),
                               numbers or "<p class=absent>no per-segment increments</p>"))
        if figures.get("spectrum_and_dimension") is not None:
            numbers = ""
            if spectrum_rows:
                numbers = _table(["outcome", "Σλ: median [q1, q3]", "D_KY: median [q1, q3]", "D_KY ≥ k"],
                                 [[(r["outcome"], False),
                                   ("%s [%s, %s]" % (_num(r["lambda_sum_median"]), _num(r["lambda_sum_q1"]),
                                                     _num(r["lambda_sum_q3"])), True),
                                   ("%s [%s, %s]" % (_num(r["ky_median"], 2), _num(r["ky_q1"], 2),
                                                     _num(r["ky_q3"], 2)), True),
                                   ("%d of %d" % (r["ky_lower_bounds"], r["n"]), True)] for r in spectrum_rows],
                                 "full")
                numbers += ("<p>Σλ<sub>i</sub>: growth of a k-dimensional tangent volume (log per segment). "
                            "D<sub>KY</sub> = j + S<sub>j</sub>/|λ<sub>j+1</sub>| for the largest j with partial "
                            "sum S<sub>j</sub> ≥ 0; “≥ k” when every partial sum stays positive.</p>")
                per_record = spectrum.spectrum_frame(frame)
                numbers += _details("Per record (%d)" % len(per_record), _table(
                    list(per_record.columns), [[(_value(c, v), _is_number(v)) for c, v in
                                                zip(per_record.columns, row)]
                                               for row in per_record.itertuples(index=False)], "full"))
            parts.append("<h3>Summed spectrum and Kaplan–Yorke dimension</h3>")
            parts.append(_pair(_figure(figures, "spectrum_and_dimension",
                                       "Per record, puzzles as given; bars are medians."), numbers))

    # Separating failures: ROC beside the AUCs, halting and the early window.
    aucs = report.get("aucs") or []
    if aucs or figures.get("roc_curves") is not None:
        parts.append("<h2>Separating failures from successes</h2>")
        numbers = ""
        if aucs:
            numbers += "<h3>AUC (Mann–Whitney, ties ½)</h3>" + _auc_table([(a.get("score", ""), a) for a in aucs])
        halting = report.get("halting") or {}
        if halting:
            numbers += "<h3>Halting</h3>" + _auc_table([("h_T (correctness)", halting.get("auc"))])
            numbers += _generic({k: v for k, v in halting.items() if k != "auc"}, "halting")
        parts.append(_pair(_figure(figures, "roc_curves",
                                   "ROC in each score's stated direction (SPEC §5); AUC [95% CI] in the legend."),
                           numbers, even=True))
    early = report.get("early") or {}
    if early:
        parts.append("<h3>Early window (w = %s)</h3>" % early.get("w"))
        parts.append("<p>%s puzzles not correct at segment w (%s eventually correct); positive class: eventual "
                     "success.</p>" % (early.get("n_at_risk"), early.get("n_eventual_success")))
        parts.append(_auc_table([(k, early.get(k)) for k in early if isinstance(early.get(k), dict)]))
    matched = report.get("matched") or []
    if matched:
        parts.append("<h3>Matched AUCs (pairs only within a bin)</h3>")
        entries = []
        for m in matched:
            pooled = m.get("pooled") or {}
            entries.append(("%s within %s" % (pooled.get("score", ""), m.get("binning", "")), pooled))
            if isinstance(m.get("plain"), dict):  # the plain AUC of the same matched sample, beside it
                entries.append(("%s, same sample unmatched" % pooled.get("score", ""), m["plain"]))
        parts.append(_auc_table(entries))
        bins = "".join("<h4>%s, %s</h4>%s" % (html.escape(str(m.get("pooled", {}).get("score", ""))),
                                               html.escape(str(m.get("binning", ""))), _generic(m.get("bins", [])))
                       for m in matched)
        parts.append(_details("Per-bin counts and AUCs", bins))

    # Energy maps: where the instability lives.
    parts.append(energy_section(report, figures))

    # Restarts.
    restarts = report.get("restarts") or {}
    if restarts or figures.get("accuracy_vs_restarts") is not None:
        parts.append("<h2>Restarts and selection</h2>")
        numbers = ""
        if restarts.get("absent_reason"):
            numbers += "<p class=absent>n/a: %s</p>" % html.escape(restarts["absent_reason"])
        elif restarts:
            numbers += "<p>%s puzzles with runs 0..%s (%s left out), T = %s, kinds: %s.</p>" % (
                restarts.get("puzzles"), (restarts.get("max_runs") or 1) - 1, restarts.get("puzzles_left_out"),
                restarts.get("segments_per_run"), html.escape(", ".join(restarts.get("restart_kinds") or [])
                                                              or "none"))
            numbers += _restart_tables(restarts.get("rows") or [])
            if restarts.get("majority_absent_reason"):
                numbers += "<p class=absent>majority n/a: %s</p>" % html.escape(restarts["majority_absent_reason"])
            pruning = restarts.get("pruning") or []
            body = _generic(pruning) if pruning else "<p class=absent>n/a: %s</p>" % html.escape(
                restarts.get("pruning_absent_reason") or "none")
            numbers += _details("Early pruning at w = %s" % restarts.get("prune_window"), body)
        parts.append(_pair(_figure(figures, "accuracy_vs_restarts", "Accuracy vs runs per puzzle."), numbers,
                           even=True))

    if report:
        skip = ("frames", "table", "note", "job_id", "job_state", "complete", "claims", "provenance")
        raw = "".join(_details(k, _generic(v, k)) for k, v in report.items() if k not in skip)
        parts.append("<h2>Every number of the report</h2><p>The report JSON as computed by core/analysis "
                     "(docs/analysis.md), section by section.</p>" + raw)

    # Provenance last: where these numbers came from.
    pairs = [(k, _value(k, v)) for k, v in _flatten(provenance_dict(provenance))]
    pairs += [(k, _value(k, v)) for k, v in _flatten(report.get("provenance")) if k not in dict(pairs)]
    known = {k for k, _ in pairs}
    known |= {"job" if "job_id" in known else "", "model" if "model" in known else ""}
    pairs += [(k, html.escape(v)) for k, v in records_provenance(frame) if k not in known]
    if report.get("parameters"):
        pairs += [("analysis parameter " + k, v) for k, v in _parameters_pairs(report.get("parameters"))]
    if "complete" in report:
        pairs.append(("records complete when analysed", "yes" if report["complete"] else "no (job unfinished)"))
    if pairs:
        parts.append("<h2>Provenance</h2>" + _kv_table(pairs))
    parts.append("</main></body></html>")
    return "\n".join(parts)
