"""Energy maps (issue 17) in rrmdyn.plots and report.html, on real parts:
records that rrm-measure writes for the demo Sudoku checkpoint (a few
puzzles, few segments, k = 1), analysed by a real rrmd (AnalyzeRecords)."""

import copy
import html
import os
import re
import subprocess

import numpy as np
import pytest

import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import rrmdyn  # noqa: E402
from rrmdyn import plots, report as report_module  # noqa: E402
from conftest import BUILD_DIR, ROOT  # noqa: E402
from test_report_html import needs_chromium, probe, problems  # noqa: E402

MEASURE = os.path.join(BUILD_DIR, "bin", "rrm-measure")
CHECKPOINT = os.path.join(ROOT, "models", "demo-trm-sudoku", "step_1250")
DATA = os.path.join(ROOT, "data", "demo-sudoku")
PUZZLES = 8


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """rrm-measure's records of the first 8 demo puzzles, 6 segments, the
    propagator with k = 1 and energy maps of its top direction."""
    if not os.path.exists(MEASURE):
        pytest.skip("rrm-measure not built: %s (set RRM_BUILD_DIR)" % MEASURE)
    out = tmp_path_factory.mktemp("energy") / "records.jsonl"
    done = subprocess.run([MEASURE, "--checkpoint", CHECKPOINT, "--data", DATA, "--limit", str(PUZZLES),
                           "--segments", "6", "--lyapunov_k", "1", "--lyapunov_method", "propagator",
                           "--energy_map_directions", "1", "--batch", str(PUZZLES), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = rrmdyn.read_jsonl(str(out))
    assert len(result) == PUZZLES
    assert all(r["energy_maps"] for r in result)
    # The demo model solves some and fails others: both panels have data.
    assert any(r["correct"] for r in result) and any(not r["correct"] and r["wrong_cells"] for r in result)
    return result


@pytest.fixture(scope="module")
def report(client, records):
    return client.analyze_records(records, bootstrap=50)


def _without_maps(records):
    out = copy.deepcopy(records)
    for r in out:
        r["energy_maps"] = []
    return out


@pytest.fixture(scope="module")
def report_without_maps(client, records):
    return client.analyze_records(_without_maps(records), bootstrap=20)


def _map(report, method):
    return next(m for m in report["energy"]["maps"] if m["method"] == method)


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title]) + " " + (
        fig._suptitle.get_text() if fig._suptitle else "")


def test_report_has_the_energy_maps(report):
    maps = report["energy"]["maps"]
    assert [m["method"] for m in maps][:1] == ["propagator_right"]
    m = maps[0]
    assert len(m["mean_cells_failure"]) == len(m["mean_cells_success"]) == 81 == m["cells"]
    assert np.isfinite(m["wrong_vs_right"]["auc_raw"]) and np.isfinite(m["blank_vs_given"]["auc_raw"])


def test_heatmaps_are_the_reports_mean_maps_on_one_scale(report):
    fig = plots.energy_heatmaps(report)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # failures, successes, the colour bar
    failures, successes = fig.axes[0], fig.axes[1]
    m = _map(report, "propagator_right")
    np.testing.assert_array_equal(np.asarray(failures.images[0].get_array()),
                                  np.asarray(m["mean_cells_failure"]).reshape(9, 9))
    np.testing.assert_array_equal(np.asarray(successes.images[0].get_array()),
                                  np.asarray(m["mean_cells_success"]).reshape(9, 9))
    assert failures.images[0].get_clim() == successes.images[0].get_clim()
    assert failures.images[0].get_clim()[1] == pytest.approx(max(max(m["mean_cells_failure"]),
                                                                 max(m["mean_cells_success"])))
    wr = m["wrong_vs_right"]
    n_fail = m["concentration"][0]["failure"]["n"]
    assert failures.get_title().startswith("failures (n = %d)" % n_fail)
    assert "AUC %.3f [%.3f, %.3f] over %d puzzles" % (wr["auc_raw"], wr["ci_low"], wr["ci_high"], wr["puzzles"]) \
        in failures.get_title()
    assert successes.get_title().startswith("successes (n = %d)" % m["concentration"][0]["success"]["n"])
    assert "propagator_right" in _texts(fig)


def test_heatmaps_of_another_method_and_of_one_absent(report):
    fig = plots.energy_heatmaps(report, method="window_left")
    np.testing.assert_array_equal(np.asarray(fig.axes[0].images[0].get_array()),
                                  np.asarray(_map(report, "window_left")["mean_cells_failure"]).reshape(9, 9))
    fig = plots.energy_heatmaps(report, method="qr_frame")  # the propagator's records have no QR frame
    assert len(fig.axes) == 1 and not fig.axes[0].images
    assert "no map 'qr_frame'" in _texts(fig)


def _failing(records):
    return sorted((r for r in records if not r["correct"] and r["restart"] == 0), key=lambda r: r["example_index"])


def _check_examples(fig, records, count):
    shown = _failing(records)[:count]
    assert len(fig.axes) == 2 * len(shown)  # a heat map and its colour bar per puzzle
    for ax, r in zip(fig.axes[::2], shown):
        assert ax.get_title().startswith("puzzle %s:" % r["puzzle_id"])
        m = next(x for x in r["energy_maps"] if x["method"] == "propagator_right")
        cells = np.asarray(m["positions"], dtype=float)[m["puzzle_positions"]:]
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), (cells / cells.sum()).reshape(9, 9))
        outlined = sorted(int(round(p.get_y() + 0.5)) * 9 + int(round(p.get_x() + 0.5))
                          for p in ax.patches if p.get_gid() == "wrong_cell")
        assert outlined == sorted(r["wrong_cells"]) and outlined
        given = [line for line in ax.lines if line.get_gid() == "given_cells"]
        assert len(given) == 1
        dotted = sorted(int(y) * 9 + int(x) for x, y in zip(given[0].get_xdata(), given[0].get_ydata()))
        assert dotted == sorted(r["given_cells"])


def test_examples_outline_the_wrong_cells_and_mark_the_givens(records):
    fig = plots.energy_examples(records, count=4)
    _check_examples(fig, records, 4)
    assert "wrong at T" in [t.get_text() for t in fig.legends[0].get_texts()]
    # Messages work as the dicts do; count bounds the panels.
    from google.protobuf import json_format
    from rrmdyn._stubs import pb
    messages = [json_format.ParseDict(r, pb.ExampleRecord()) for r in records]
    _check_examples(plots.energy_examples(messages, count=2), records, 2)


def test_without_maps_the_figures_say_why(records, report_without_maps):
    energy = report_without_maps["energy"]
    assert energy["maps"] == [] and energy["absent_reason"]
    fig = plots.energy_heatmaps(report_without_maps)
    assert len(fig.axes) == 1 and not fig.axes[0].images
    assert energy["absent_reason"] in _texts(fig)
    assert "no energy section" in _texts(plots.energy_heatmaps({}))
    fig = plots.energy_examples(_without_maps(records))
    assert len(fig.axes) == 1 and "carry no energy maps" in _texts(fig)
    assert "DataFrame" in _texts(plots.energy_examples(rrmdyn.to_dataframe(records)))
    names = [n for n, _ in plots.all_figures(_without_maps(records), report=report_without_maps)]
    assert names == [n for n, _ in plots.ALL]


def test_all_figures_and_save_all_add_the_energy_figures(records, report, tmp_path):
    names = [n for n, _ in plots.all_figures(iter(records), report=report)]
    assert names == [n for n, _ in plots.ALL] + ["energy_heatmaps", "energy_examples"]
    # A DataFrame holds no maps: the heat maps come from the report alone.
    names = [n for n, _ in plots.all_figures(rrmdyn.to_dataframe(records), report=report)]
    assert names == [n for n, _ in plots.ALL] + ["energy_heatmaps"]
    paths = plots.save_all(records, str(tmp_path), report=report)
    assert sorted(os.path.basename(p) for p in paths) == sorted(
        n + ".png" for n in [n for n, _ in plots.ALL] + ["energy_heatmaps", "energy_examples"])
    assert os.path.getsize(tmp_path / "energy_heatmaps.png") > 5000


SECTION = "Where the instability lives (energy maps)"


def _section(text):
    start = text.index("<h2>%s</h2>" % SECTION)
    return text[start:text.index("<h2>", start + 4)]


@pytest.fixture(scope="module")
def page(report, records, tmp_path_factory):
    text = report_module.to_html(report, records, title="energy maps")
    path = tmp_path_factory.mktemp("energy-html") / "report.html"
    path.write_text(text)
    return path, text


def test_html_section_has_the_figures_and_every_methods_numbers(report, page):
    _, text = page
    section = _section(text)
    assert re.findall(r"<img alt='([a-z_]+)'", section) == ["energy_heatmaps", "energy_examples"]
    assert text.count("data:image/png;base64,") == len(plots.ALL) + 2
    for m in report["energy"]["maps"]:
        assert "<h3>%s " % m["method"] in section
        for key in ("wrong_vs_right", "blank_vs_given"):
            c = m[key]
            assert "%.3f <span class=ci>[%.3f, %.3f]</span>" % (c["auc_raw"], c["ci_low"], c["ci_high"]) in section
            assert "%d puzzles, %d pairs" % (c["puzzles"], c["pairs"]) in section
        for c in m["concentration"]:
            for outcome in ("success", "failure", "difference"):
                q = c[outcome]
                if c["score"] == "entropy":
                    assert "%.3f <span class=ci>[" % q["mean"] in section
                else:
                    assert "%.1f%% <span class=ci>[" % (100 * q["mean"]) in section
        share = m["puzzle_position_share"]
        assert "%.1f%%" % (100 * share["mean"]) in section
    assert "entropy (1 = uniform)" in section and "top-5 cell share" in section
    # The sections around it are unchanged.
    sections = [html.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", text)]
    at = sections.index(SECTION)
    assert sections[at - 1] == "Separating failures from successes" and sections[at + 1] == "Restarts and selection"
    assert "None" not in re.sub(r"<[^>]+>", " ", section)


def test_html_heat_maps_come_from_the_report_alone(report):
    section = _section(report_module.to_html(report, None))
    assert re.findall(r"<img alt='([a-z_]+)'", section) == ["energy_heatmaps"]


def test_html_without_maps_is_one_line_with_the_reason(records, report_without_maps):
    text = report_module.to_html(report_without_maps, _without_maps(records))
    section = _section(text)
    reason = report_without_maps["energy"]["absent_reason"]
    assert section.count("<p") == 1 and html.escape(reason) in section and "<img" not in section
    assert text.count("data:image/png;base64,") == len(plots.ALL)
    # A report from before energy maps: no section at all.
    old = {k: v for k, v in report_without_maps.items() if k != "energy"}
    assert SECTION not in report_module.to_html(old, None)
    # The JSON round trip keeps the section (NaN as strings, decoded again).
    again = report_module.parse_report(report_module.to_json(report_without_maps))
    assert again["energy"]["absent_reason"] == reason


@needs_chromium
def test_html_with_energy_maps_in_chromium_fits_1280px(page, tmp_path):
    path, _ = page
    measured, console = probe(path, tmp_path)
    assert len(measured["images"]) == len(plots.ALL) + 2
    assert problems(measured, console) == []
