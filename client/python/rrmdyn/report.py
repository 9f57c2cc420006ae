"""The SPEC §5 report (docs/analysis.md) from the Analyze RPC, as a dict,
DataFrames and one self-contained HTML page (tables + base64 PNG plots)."""

import base64
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


def _cell(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return "%.4g" % v
    return html.escape(str(v))


def _table(rows, columns=None):
    if not rows:
        return "<p class=absent>none</p>"
    columns = columns or list(rows[0].keys())
    head = "".join("<th>%s</th>" % html.escape(c) for c in columns)
    body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % _cell(r.get(c, "")) for c in columns) for r in rows)
    return "<table><tr>%s</tr>%s</table>" % (head, body)


def _kv(obj):
    rows = [{"name": k, "value": v} for k, v in obj.items() if not isinstance(v, (dict, list))]
    return _table(rows, ["name", "value"])


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def to_html(report=None, records=None, title="rrm-dynamics report"):
    """One self-contained HTML page: the report's tables (when `report` is
    given) and every plot of rrmdyn.plots embedded as base64 PNG (when
    `records` are given)."""
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title>" % html.escape(title),
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "margin:.5em 0}td,th{border:1px solid #bbb;padding:2px 8px;font-size:90%}th{background:#eee}"
             ".absent{color:#777}img{max-width:100%}</style></head><body>",
             "<h1>%s</h1>" % html.escape(title)]
    if report and report.get("note"):
        parts.append("<p><b>Note:</b> %s</p>" % html.escape(report["note"]))
    if report:
        parts.append("<h2>Counts</h2>" + _kv(report.get("counts", {})))
        parts.append("<h2>Parameters</h2>" + _kv(report.get("parameters", {})))
        parts.append("<h2>Lyapunov</h2>" + _kv(report.get("lyapunov", {})))
        parts.append("<h2>Settling and decomposition</h2>" + _kv(report.get("settling", {})))
        parts.append("<h2>Summaries</h2>" + _table(report["frames"]["summaries"].to_dict("records")))
        parts.append("<h2>AUCs</h2>" + _table(report.get("aucs", [])))
        parts.append("<h2>Matched AUCs</h2>" + _table(report["frames"]["matched"].to_dict("records")))
        parts.append("<h3>Per bin</h3>" + _table(report["frames"]["matched_bins"].to_dict("records")))
        early = report.get("early", {})
        parts.append("<h2>Early window</h2>" + _kv(early) + _table(report["frames"]["early"].to_dict("records")))
        halting = report.get("halting", {})
        parts.append("<h2>Halting</h2>" + _kv(halting) + _table([halting["auc"]] if isinstance(
            halting.get("auc"), dict) else []))
        restarts = report.get("restarts", {})
        parts.append("<h2>Restarts and selection</h2>" + _kv(restarts) + _table(restarts.get("rows", []))
                     + "<h3>Early pruning</h3>" + _table(restarts.get("pruning", [])))
    if report and report.get("table"):
        parts.append("<h2>The report as text</h2><pre>%s</pre>" % html.escape(report["table"]))
    if records is not None:
        from . import plots
        parts.append("<h2>Plots</h2>")
        for name, fig in plots.all_figures(records, report=report):
            parts.append("<h3>%s</h3><img alt='%s' src='data:image/png;base64,%s'>" % (name, name, _png(fig)))
    parts.append("</body></html>")
    return "\n".join(parts)
