"""Plots on real records (headless), the CLI, and the Analyze report."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import matplotlib
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import rrmdyn  # noqa: E402
from rrmdyn import plots  # noqa: E402
from conftest import ROOT, SUDOKU, SOLUTION  # noqa: E402

PLOTS = ["displacement_trajectories", "lyapunov_distributions", "exponent_convergence", "spectrum_and_dimension",
         "roc_curves", "decomposition", "accuracy_vs_restarts"]


def _non_empty_png(path):
    assert os.path.getsize(path) > 5000
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert float(image[..., :3].std()) > 0.01, "a blank image"


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


def test_mixed_job_has_both_outcomes_and_restarts(mixed_job):
    frame = mixed_job.to_pandas()
    assert len(frame) == 24
    first = frame[frame["restart"] == 0]
    assert first["correct"].any() and (~first["correct"]).any()
    assert set(frame["restart"]) == {0, 1}
    assert np.isfinite(frame["lambda_1"]).all()


def test_every_plot_draws_real_records(mixed_job, tmp_path):
    frame = mixed_job.to_pandas()
    for name in PLOTS:
        fig = getattr(plots, name)(frame)
        assert isinstance(fig, Figure)
        path = tmp_path / (name + ".png")
        fig.savefig(path)
        _non_empty_png(path)
    assert plots.displacement_trajectories(frame).axes[0].get_yscale() == "log"
    roc = plots.roc_curves(frame)
    labels = [line.get_label() for line in roc.axes[0].get_lines()]
    assert any(label.startswith("lambda_1: AUC") for label in labels)
    assert "no Lyapunov" not in _texts(plots.lyapunov_distributions(frame))
    # A list of dicts works as well as the DataFrame.
    assert isinstance(plots.decomposition(mixed_job.all_records(), tau=0.05), Figure)


def test_lyapunov_plot_says_when_there_is_no_data(client):
    job = client.submit("trm", [SUDOKU] * 2, solutions=[SOLUTION] * 2, segments=2)
    job.wait(progress=False, timeout=120)
    fig = plots.lyapunov_distributions(job.to_pandas())
    assert "no Lyapunov data" in _texts(fig)


def _cli(*args, check=True):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "rrmdyn"] + list(args), env=env, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_cli_plot_writes_pngs(rrmd, mixed_job, tmp_path):
    out = tmp_path / "plots"
    done = _cli("--target", rrmd.target, "plot", mixed_job.job_id, "--out", str(out))
    assert sorted(os.listdir(out)) == sorted(n + ".png" for n in PLOTS)
    for name in PLOTS:
        _non_empty_png(out / (name + ".png"))
    assert str(out) in done.stdout
    # Offline: the same plots from a JSONL file of records.
    records = tmp_path / "r.jsonl"
    _cli("--target", rrmd.target, "records", mixed_job.job_id, "--out", str(records))
    assert len(rrmdyn.read_jsonl(str(records))) == 24
    _cli("plot", str(records), "--out", str(tmp_path / "offline"))
    assert len(os.listdir(tmp_path / "offline")) == len(PLOTS)


def test_cli_submit_status_records(rrmd, tmp_path):
    puzzles = tmp_path / "sudoku.txt"
    puzzles.write_text("%s,%s\n%s,%s\n" % (SUDOKU, SOLUTION, SUDOKU, SOLUTION))
    out = tmp_path / "records.jsonl"
    done = _cli("--target", rrmd.target, "submit", "--model", "trm", "--sudoku", str(puzzles), "--segments", "2",
                "--out", str(out))
    job_id = done.stdout.strip()
    assert job_id.startswith("j-")
    assert "2/2" in done.stderr  # the progress line
    assert len(rrmdyn.read_jsonl(str(out))) == 2
    status = _cli("--target", rrmd.target, "status", job_id)
    assert "succeeded 2/2" in status.stdout
    as_json = json.loads(_cli("--target", rrmd.target, "status", job_id, "--json").stdout)
    assert as_json["job_id"] == job_id
    lines = _cli("--target", rrmd.target, "records", job_id, "--from", "1").stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["job_id"] == job_id
    # Exit codes as rrmctl: 4 not found, 5 invalid argument, 3 unavailable, 2 usage.
    assert _cli("--target", rrmd.target, "status", "j-0-missing", check=False).returncode == 4
    bad = tmp_path / "bad.txt"
    bad.write_text(SUDOKU[:80] + "\n")
    invalid = _cli("--target", rrmd.target, "submit", "--model", "trm", "--sudoku", str(bad), check=False)
    assert invalid.returncode == 5 and "81" in invalid.stderr
    from conftest import free_port
    assert _cli("--target", "127.0.0.1:%d" % free_port(), "--retry_seconds", "1", "records", "j-1",
                check=False).returncode == 3
    assert _cli("--target", rrmd.target, "submit", check=False).returncode == 2


def test_report_from_analyze(rrmd, mixed_job, tmp_path):
    try:
        report = mixed_job.report(bootstrap=50)
    except rrmdyn.Unimplemented as error:
        pytest.skip("this rrmd does not serve Analyze yet: %s" % error)
    assert report["counts"]["records"] == 24
    assert report["counts"]["population"] == 12
    assert {"settling", "aucs", "matched", "early", "halting", "restarts"} <= set(report)
    assert len(report["frames"]["restarts"]) == 2
    assert list(report["frames"]["aucs"]["score"]) == ["lambda_1", "d_T", "h_T"]
    assert report["table"] and report["complete"]
    assert json.loads(_cli("--target", rrmd.target, "report", mixed_job.job_id, "--json").stdout)["counts"][
        "records"] == 24
    page = tmp_path / "report.html"
    _cli("--target", rrmd.target, "report", mixed_job.job_id, "--html", str(page))
    text = page.read_text()
    assert text.count("data:image/png;base64,") == len(PLOTS)
    assert "Decomposition" in text or "decomposition" in text


def test_readme_python_example_works_as_written(rrmd, capsys, monkeypatch):
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Python: `rrmdyn`"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    code = code[:code.index("```")]
    assert len(code.strip().splitlines()) == 5
    monkeypatch.chdir(ROOT)
    # Only the address differs: the test server listens on a free port.
    exec(compile(code.replace("127.0.0.1:50051", rrmd.target), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "puzzle_id" in out and "lambda_1" in out and len(out.strip().splitlines()) == 3
