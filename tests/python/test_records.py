"""Records -> DataFrames without a server, and the generated stubs."""

import json
import math
import os
import subprocess
import sys


import rrmdyn
from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import generate_stubs  # noqa: E402  (the build step, not part of the package)


def record(index, correct, d, h, lam=None, restart=0, prediction=(1, 2)):
    segments = [{"index": t + 1, "correct": correct and t == len(d) - 1, "token_accuracy": "NaN",
                 "halt_confidence": h[t], "q_halt_logit": 0.0, "q_continue_logit": 0.0, "flips": 1,
                 "displacement_h": d[t], "displacement_l": d[t], "displacement_joint": d[t],
                 "lyapunov_increments": [] if lam is None else [lam]} for t in range(len(d))]
    return {"job_id": "j", "example_index": index, "puzzle_id": str(index), "restart": restart,
            "restart_kind": "none", "seed": "0", "givens": 30, "updates_per_segment": 21, "segments": segments,
            "lyapunov": [] if lam is None else [lam], "lyapunov_sd": [], "lyapunov_method": "qr" if lam else "",
            "correct": correct, "first_correct_segment": len(d) if correct else 0, "prediction": list(prediction),
            "device": "cpu#0", "compute_seconds": 0.1, "error": ""}


def test_wide_and_long_frames():
    rs = [record(0, True, [1.0, 0.1], [0.2, 0.9], lam=-0.1), record(1, False, [1.0, "NaN"], [0.2, 0.3], lam=0.2)]
    wide = rrmdyn.to_dataframe(rs)
    assert list(wide["d_T"][:1]) == [0.1] and math.isnan(wide["d_T"][1])
    assert list(wide["lambda_1"]) == [-0.1, 0.2]
    assert wide["seg_lyapunov_increments"][0].shape == (2, 1)
    assert wide["seed"].dtype.kind == "i"
    long = rrmdyn.to_dataframe(rs, per_segment=True)
    assert len(long) == 4 and list(long["lyapunov_increment_1"]) == [-0.1, -0.1, 0.2, 0.2]
    empty = rrmdyn.to_dataframe([])
    assert "d_T" in empty.columns and len(empty) == 0


def test_jsonl_round_trip(tmp_path):
    rs = [record(0, True, [1.0, 0.1], [0.2, 0.9])]
    path = tmp_path / "r.jsonl"
    rrmdyn.write_jsonl(rs, str(path))
    assert rrmdyn.read_jsonl(str(path)) == rs


def test_restart_curves_follow_the_documented_selection():
    # Puzzle 0: run 0 wrong, run 1 right with higher h_T. Puzzle 1: both wrong.
    rs = [record(0, False, [1, 1], [0.1, 0.2], restart=0, prediction=(1,)),
          record(0, True, [1, 1], [0.1, 0.8], restart=1, prediction=(2,)),
          record(1, False, [1, 1], [0.1, 0.2], restart=0, prediction=(3,)),
          record(1, False, [1, 1], [0.1, 0.3], restart=1, prediction=(3,))]
    from rrmdyn.analysis import restart_curves
    rows = restart_curves(rs)
    assert [r["runs"] for r in rows] == [1, 2]
    assert rows[1]["first_run"] == 0.0 and rows[1]["best_of_h"] == 0.5 and rows[1]["oracle"] == 0.5
    # Majority at R=2, puzzle 0: a 1-1 tie goes to the group with the higher h_T (run 1, right).
    assert rows[1]["majority"] == 0.5


def test_auc_counts_ties_one_half():
    from rrmdyn.analysis import auc_raw
    assert auc_raw([1, 2], [0, 2]) == 0.625  # (1 + 0.5 + 1 + 0) / 4
    assert auc_raw([3, 3], [1, 3]) == 0.75
    assert math.isnan(auc_raw([], [1]))


def test_stubs_regenerate_with_debian_protoc(tmp_path):
    out = tmp_path / "_proto"
    generate_stubs.generate(out=str(out))
    names = sorted(os.listdir(out))
    assert names == ["__init__.py", "dynamics_pb2.py", "dynamics_pb2.pyi", "dynamics_pb2_grpc.py", "health_pb2.py",
                     "health_pb2.pyi", "health_pb2_grpc.py"]
    text = (out / "health_pb2_grpc.py").read_text()
    assert "from . import health_pb2" in text and "from grpc.health" not in text


def test_cli_help_runs_from_the_source_tree():
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"))
    done = subprocess.run([sys.executable, "-m", "rrmdyn", "--help"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for command in ("submit", "status", "records", "plot", "report"):
        assert command in done.stdout
    bad = subprocess.run([sys.executable, "-m", "rrmdyn", "status"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2


def test_report_json_reads_nan_strings_and_round_trips():
    # The JSON shape of core/analysis/report_format.cc (a trimmed report).
    from rrmdyn import report as report_module
    text = json.dumps({
        "parameters": {"tau": None, "early_window": 4, "bootstrap": 0, "seed": "0"},
        "counts": {"records": 2, "population": 2, "successes": 1, "failures": 1, "accuracy": 0.5},
        "settling": {"tau": 0.1, "tau_source": "p95_d_T_successes", "success_settled": 1},
        "summaries": [{"score": "d_T", "success": {"n": 1, "q1": 0.1, "median": 0.1, "q3": 0.1},
                       "failure": {"n": 1, "q1": "NaN", "median": "NaN", "q3": "NaN"}}],
        "aucs": [{"score": "d_T", "auc": "NaN", "absent_reason": "one pair"}],
        "matched": [{"binning": "givens", "pooled": {"score": "d_T", "auc": 0.5},
                     "bins": [{"label": "givens 30", "low": 30, "high": 30, "pairs": 1, "auc": 0.5}]}],
        "early": {"w": 4, "lambda_1": {"score": "lambda_1[1..4]", "auc": "NaN"}},
        "halting": {"auc": {"score": "h_T", "auc": 1.0}, "share_failures_confident": 0.0},
        "restarts": {"rows": [{"runs": 1, "segments": 2, "first_run": 0.5, "best_of_h": 0.5,
                               "majority": 0.5, "oracle": 0.5}], "pruning": []}})
    report = report_module.parse_report(text)
    assert math.isnan(report["aucs"][0]["auc"])
    assert list(report["frames"]["matched_bins"]["label"]) == ["givens 30"]
    assert len(report["frames"]["summaries"]) == 2
    assert json.loads(report_module.to_json(report))["aucs"][0]["auc"] == "NaN"
    # The HTML page itself: tests/python/test_report_html.py.
