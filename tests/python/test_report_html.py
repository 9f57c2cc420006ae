"""report.html as a document, checked the way a person sees it: opened in
headless Chromium (Debian's `chromium`) at 1280 px, every image loaded, no
console error, no table wider than the page, and a screenshot kept under
build/test-artifacts/ (RRM_BUILD_DIR/test-artifacts)."""

import copy
import html
import json
import os
import re
import shutil
import subprocess

import pytest

import rrmdyn  # noqa: F401
from rrmdyn import plots, report as report_module
from conftest import BUILD_DIR

ARTIFACTS = os.path.join(BUILD_DIR, "test-artifacts")

# The SPEC §6 claims in the shape core/analysis's ReportToJson writes; used
# when the rrmd under test predates the claims table.
FIXTURE_CLAIMS = [
    {"id": "accuracy", "claim": "Sudoku-Extreme accuracy", "paper": "TRM 87.6%, HRM 52.6%", "paper_value": 0.876,
     "measured": 0.5, "ci_low": 0.254, "ci_high": 0.746, "measured_text": "50.0% [25.4%, 74.6%]",
     "verdict": "not consistent", "reason": "the paper's 87.6% lies above the interval"},
    {"id": "failures_settled", "claim": "Failures almost never settle", "paper": "TRM 0 of 254",
     "paper_value": 0.0, "measured": 0.5, "ci_low": 0.188, "ci_high": 0.812,
     "measured_text": "50.0% [18.8%, 81.2%]", "verdict": "consistent", "reason": "fixture row"},
    {"id": "auc_lambda_1", "claim": "λ1 separates failures from successes", "paper": "AUC 0.993",
     "paper_value": 0.993, "measured": None, "ci_low": None, "ci_high": None, "measured_text": "n/a",
     "verdict": "not measurable", "reason": "fixture: no interval without bootstrap"},
]

@pytest.fixture(scope="module")
def analysed(mixed_job):
    try:
        report = mixed_job.report(bootstrap=50)
    except rrmdyn.Unimplemented as error:
        pytest.skip("this rrmd does not serve Analyze yet: %s" % error)
    report = copy.copy(report)
    if not report.get("claims"):
        report["claims"] = FIXTURE_CLAIMS
    return report, mixed_job.to_pandas(), mixed_job.provenance


@pytest.fixture(scope="module")
def page(analysed, tmp_path_factory):
    report, frame, provenance = analysed
    text = report_module.to_html(report, frame, title="rrm-dynamics report: job %s" % report.get("job_id"),
                                 provenance=provenance)
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(text)
    return path, text


def _sections(text):
    return [html.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", text)]


def test_report_opens_with_the_claims_table_then_findings(analysed, page):
    report, _, _ = analysed
    _, text = page
    sections = _sections(text)
    assert sections[0].startswith("The reference paper's claims")
    assert sections[1] == "Findings"
    claims_at = text.index("<table class='full claims'>")
    assert claims_at < text.index("data:image/png;base64,")
    for claim in report["claims"]:
        assert html.escape(claim["claim"]) in text[claims_at:text.index("<h2>Findings")]
        assert "class='verdict" in text
    assert "Of the %d puzzles as given" % report["counts"]["population"] in text


def test_report_puts_each_figure_beside_its_numbers(page):
    _, text = page
    pairs = re.findall(r"<div class='pair[^']*'><figure><img alt='([a-z_]+)'", text)
    assert sorted(pairs) == sorted(name for name, _ in plots.ALL)
    assert text.count("data:image/png;base64,") == len(plots.ALL)
    # Self-contained: nothing is fetched.
    assert not re.search(r"(src|href)=['\"](https?:|//|file:)", text)


def test_report_folds_bins_and_raw_tables_and_never_prints_none(analysed, page):
    report, _, _ = analysed
    _, text = page
    assert "<details><summary>Per-bin counts and AUCs</summary>" in text
    bins_at = text.index("<summary>Per-bin counts and AUCs</summary>")
    assert "d_T bin" in text[bins_at:] or "givens" in text[bins_at:]
    assert "None" not in re.sub(r"<[^>]+>", " ", text)
    # Unset optional parameters (JSON null) read as the core's default.
    unset = [k for k, v in report["parameters"].items() if v is None]
    assert unset, report["parameters"]
    for name in unset:
        assert "<td>analysis parameter %s</td><td>default</td>" % name in text
    # The text report is not dumped again.
    assert "<pre>" not in text
    assert report["table"].splitlines()[0] not in text


def test_report_ends_with_the_jobs_provenance(analysed, page):
    _, _, provenance = analysed
    _, text = page
    assert _sections(text)[-1] == "Provenance"
    tail = text[text.index("<h2>Provenance</h2>"):]
    assert len(provenance.checkpoint_sha256) == 64
    for value in (provenance.checkpoint_sha256, html.escape(provenance.arch), provenance.rrm_version,
                  "<td>options.lyapunov_k</td><td>1</td>", "<td>options.restarts.kind</td><td>init_noise</td>"):
        assert value in tail


def test_report_shows_keys_it_does_not_know(analysed):
    report, frame, _ = analysed
    report = copy.deepcopy({k: v for k, v in report.items() if k != "frames"})
    report["settling"]["some_new_share"] = {"k": 1, "n": 4, "share": 0.25, "ci_low": 0.05, "ci_high": 0.7}
    report["a_new_section"] = {"answer": 42, "rows": [{"x": 1, "y": "two"}]}
    text = report_module.to_html(report, None)
    assert "some_new_share" in text and "25.0%" in text
    assert "a_new_section" in text and "answer" in text and "two" in text


# --- headless Chromium ------------------------------------------------------

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

# Captures every error event (scripts, and images that fail to load) before
# the page's own content runs.
PROBE_HEAD = ("<script>window.__rrmErrors=[];window.addEventListener('error',function(e){"
              "window.__rrmErrors.push(e.message||('failed to load '+((e.target&&e.target.src||'').slice(0,40))))"
              "},true);</script>")
# After load: the page's height as shown (details closed), then every
# <details> opened (folded tables must fit too), and the images, the tables
# and the page width written into the DOM for --dump-dom.
PROBE_BODY = """<script>window.addEventListener('load',function(){
var height=document.documentElement.scrollHeight;
document.querySelectorAll('details').forEach(function(d){d.open=true;});
var out={viewport:document.documentElement.clientWidth,pageWidth:document.documentElement.scrollWidth,
height:height,errors:window.__rrmErrors,images:[],tables:[]};
document.querySelectorAll('img').forEach(function(i){out.images.push({alt:i.alt,complete:i.complete,
naturalWidth:i.naturalWidth});});
document.querySelectorAll('table').forEach(function(t){var r=t.getBoundingClientRect();
out.tables.push({text:t.textContent.slice(0,60),right:r.right,scrollWidth:t.scrollWidth,clientWidth:t.clientWidth});});
var p=document.createElement('pre');p.id='rrm-probe';p.textContent=JSON.stringify(out);document.body.appendChild(p);
});</script>"""


def _chromium(args, tmp_path):
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                           "--user-data-dir=%s" % (tmp_path / "chromium-profile"), "--enable-logging=stderr",
                           "--v=0"] + args, capture_output=True, text=True, timeout=180)


def probe(path, tmp_path, width=1280):
    """Opens `path` (with the probe scripts added) at `width` px; returns
    (what the probe measured, console lines Chromium logged)."""
    text = open(path).read()
    text = text.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>", PROBE_BODY + "</body>", 1)
    probed = tmp_path / "probed.html"
    probed.write_text(text)
    done = _chromium(["--window-size=%d,2000" % width, "--virtual-time-budget=10000", "--dump-dom",
                      "file://%s" % probed], tmp_path)
    match = re.search(r'<pre id="rrm-probe">(.*?)</pre>', done.stdout, re.S)
    assert match, "the probe did not run: %s" % done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return json.loads(html.unescape(match.group(1))), console


def problems(measured, console):
    out = ["console: " + line for line in console]
    out += ["error event: %s" % e for e in measured["errors"]]
    out += ["image %r did not load" % i["alt"] for i in measured["images"]
            if not (i["complete"] and i["naturalWidth"] > 0)]
    out += ["table wider than the page: %r (right %.0f)" % (t["text"], t["right"]) for t in measured["tables"]
            if t["right"] > measured["viewport"] + 0.5]
    out += ["table content overflows: %r (%d > %d)" % (t["text"], t["scrollWidth"], t["clientWidth"])
            for t in measured["tables"] if t["scrollWidth"] > t["clientWidth"] + 1]
    if measured["pageWidth"] > measured["viewport"]:
        out.append("page scrolls sideways: %d > %d" % (measured["pageWidth"], measured["viewport"]))
    return out


@needs_chromium
def test_chromium_probe_catches_a_broken_image_and_a_wide_table(tmp_path):
    # The probe itself, on a page with exactly the faults it must report.
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><meta charset=utf-8></head><body>"
                   "<img alt=broken src='data:image/png;base64,bm90IGEgcG5n'>"
                   "<details><table><tr><td style='white-space:nowrap'>%s</td></tr></table></details>"
                   "</body></html>" % ("wide " * 400))
    found = problems(*probe(bad, tmp_path))
    assert any("image 'broken' did not load" in p for p in found), found
    assert any("table wider than the page" in p for p in found), found
    assert any("page scrolls sideways" in p for p in found), found


@needs_chromium
def test_report_in_chromium_loads_every_image_and_fits_1280px(page, tmp_path):
    path, _ = page
    measured, console = probe(path, tmp_path)
    assert len(measured["images"]) == len(plots.ALL)
    assert problems(measured, console) == []
    # The artefacts a person looks at: the first screen and the whole page.
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copy(path, os.path.join(ARTIFACTS, "report.html"))
    for name, height in (("report.png", 2000), ("report-full.png", min(int(measured["height"]) + 20, 16000))):
        target = os.path.join(ARTIFACTS, name)
        if os.path.exists(target):
            os.remove(target)
        done = _chromium(["--window-size=1280,%d" % height, "--screenshot=%s" % target, "file://%s" % path],
                         tmp_path)
        assert os.path.getsize(target) > 50000, done.stderr[-2000:]
