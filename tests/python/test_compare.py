"""rrmdyn.compare (issue 16): two real jobs of two fixture models (TRM mlp_t
and HRM) on one rrmd, side by side: the table has one column per model and
the claims rows, the HTML names both models and embeds the figures."""

import os

import numpy as np
import pytest

import rrmdyn
from conftest import ROOT, Rrmd, varied_puzzles

HRM_FLAG = "--model=hrm=" + os.path.join(ROOT, "tests", "fixtures", "hrm", "step_0")
TRM_FLAG = "--model=trm=" + os.path.join(ROOT, "tests", "fixtures", "trm_mlpt", "step_0")
CLAIMS = ["accuracy", "failures_settled", "least_mobile_failure", "median_lambda_1", "auc_lambda_1",
          "matched_auc_deciles", "auc_within_givens", "early_window", "halting"]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    server = Rrmd(tmp_path_factory.mktemp("rrmd_compare") / "data", [TRM_FLAG, HRM_FLAG])
    server.start()
    with rrmdyn.Client(server.target, retry_seconds=30) as client:
        yield client
    server.stop()


def _job(client, model, puzzles):
    # Labels: the model's own predictions for even puzzles, one changed cell
    # for odd ones, so both outcomes occur with random weights.
    probe = client.submit(model, puzzles, segments=3, batch_size=6)
    probe.wait(progress=False, timeout=300)
    predictions = {r["example_index"]: np.array(r["prediction"]) for r in probe.records()}
    labels = []
    for i in range(len(puzzles)):
        label = predictions[i].copy()
        if i % 2 == 1:
            label[0] = 2 if label[0] != 2 else 3
        labels.append(label)
    job = client.submit(model, puzzles, labels=labels, segments=3, lyapunov_k=1, batch_size=6)
    job.wait(progress=False, timeout=300)
    return job


@pytest.fixture(scope="module")
def jobs(two_models):
    puzzles = varied_puzzles(6, seed=3)
    return _job(two_models, "trm", puzzles), _job(two_models, "hrm", puzzles)


def test_compare_puts_two_models_side_by_side(jobs, tmp_path):
    comparison = rrmdyn.compare(list(jobs), bootstrap=20)
    assert isinstance(comparison, rrmdyn.Comparison)
    assert comparison.names == ["trm", "hrm"]
    assert set(comparison.reports) == {"trm", "hrm"}
    assert comparison.puzzle_sets == "puzzle sets: identical (6 puzzles)"

    table = comparison.table()
    assert list(table.columns) == ["trm", "hrm"]
    claims = table.loc["claims"]
    for cid in CLAIMS:
        assert cid in claims.index
        assert cid + ": paper" in claims.index
    assert table.loc[("population", "accuracy [Wilson 95%]"), "trm"].startswith("50.0% [")
    for section in ("decomposition", "aucs", "matched", "early window", "halting", "restarts"):
        assert section in table.index.get_level_values(0)
    assert ("aucs", "lambda_1") in table.index
    assert not table.apply(lambda col: col.str.contains("nan")).any().any()
    text = comparison.to_text()
    assert "puzzle sets: identical (6 puzzles)" in text and "| trm" in text and "| hrm" in text

    path = tmp_path / "compare.html"
    page = comparison.to_html(str(path))
    assert path.read_text(encoding="utf-8") == page
    for expected in ("trm", "hrm", "puzzle sets: identical", "displacement_by_model", "lambda_1_by_model",
                     "restart_curves", "Reference paper's claims"):
        assert expected in page
    assert page.count("data:image/png;base64,") == 3


def test_compare_accepts_reports_and_names_and_says_when_puzzle_sets_differ(jobs, two_models):
    trm, hrm = jobs
    other = _job(two_models, "trm", varied_puzzles(4, seed=5))
    same = rrmdyn.compare([trm, other], bootstrap=0)
    assert same.names == ["trm (%s)" % trm.job_id, "trm (%s)" % other.job_id]
    assert rrmdyn.compare([trm, trm], bootstrap=0).names == ["trm (%s) #1" % trm.job_id, "trm (%s) #2" % trm.job_id]
    differ = rrmdyn.compare([trm, other], names=["six", "four"], bootstrap=0)
    assert differ.puzzle_sets.startswith("puzzle sets differ: six 6 puzzles, four 4 puzzles")
    as_dicts = rrmdyn.compare({"a": trm.report(bootstrap=0), "b": hrm.report(bootstrap=0)})
    assert as_dicts.names == ["a", "b"]
    assert as_dicts.puzzle_sets.startswith("puzzle sets: unknown")
    assert "data:image/png;base64," in as_dicts.to_html(records={"a": trm.all_records(), "b": hrm.all_records()})
    with pytest.raises(ValueError):
        rrmdyn.compare([trm], names=["x", "y"])


def test_cli_report_of_two_jobs_writes_the_comparison(jobs, two_models, tmp_path):
    import subprocess
    import sys
    trm, hrm = jobs
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"), MPLBACKEND="Agg")
    base = [sys.executable, "-m", "rrmdyn", "--target", two_models.target, "report", trm.job_id, hrm.job_id,
            "--bootstrap", "0"]
    text = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "puzzle sets: identical (6 puzzles)" in text.stdout
    assert "| trm" in text.stdout and "| hrm" in text.stdout and "  auc_lambda_1" in text.stdout
    out = tmp_path / "cmp.html"
    page = subprocess.run(base + ["--html", str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert page.returncode == 0, page.stderr
    assert "lambda_1_by_model" in out.read_text(encoding="utf-8")
    import json
    js = subprocess.run(base + ["--json"], env=env, capture_output=True, text=True, timeout=120)
    assert js.returncode == 0, js.stderr
    parsed = json.loads(js.stdout)
    assert parsed["jobs"] == [trm.job_id, hrm.job_id]
    assert set(parsed["reports"]) == {trm.job_id, hrm.job_id}
