"""rrmdyn.Client against a real rrmd on loopback: submit, stream, resume
after a restart, cancel, auth, bad input."""

import io
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import rrmdyn
from rrmdyn._stubs import pb
from conftest import FIXTURE, MODEL_FLAG, ROOT, SOLUTION, SUDOKU, Rrmd, fixture_inputs, varied_puzzles


def test_models_lists_the_fixture(client):
    models = client.models()
    assert [m.name for m in models] == ["trm"]
    assert models[0].seq_len == 81 and isinstance(models[0].seq_len, int)


def test_submit_streams_records_equal_to_the_jsonl_form(client):
    job = client.submit("trm", [SUDOKU] * 3, solutions=[SOLUTION] * 3, ids=["a", "b", "c"], segments=2)
    assert job.total_records == 3
    records = list(job.records())
    assert sorted(r["example_index"] for r in records) == [0, 1, 2]
    assert sorted(r["puzzle_id"] for r in records) == ["a", "b", "c"]
    # Every field present, proto field names, 64-bit integers as strings (SPEC §4 JSON form).
    first = records[0]
    for field in pb.ExampleRecord.DESCRIPTOR.fields_by_name:
        assert field in first
    assert isinstance(first["seed"], str)
    assert [s["index"] for s in first["segments"]] == [1, 2]
    assert first["givens"] == sum(c != "." for c in SUDOKU)
    assert job.status().state is rrmdyn.JobState.SUCCEEDED

    wide = job.to_pandas()
    assert len(wide) == 3
    assert wide["seg_displacement_joint"].iloc[0].shape == (2,)
    assert wide["d_T"].iloc[0] == pytest.approx(first_by(records, wide["example_index"].iloc[0])
                                                ["segments"][-1]["displacement_joint"])
    assert np.isnan(wide["lambda_1"]).all()  # k = 0
    long = job.to_pandas(per_segment=True)
    assert len(long) == 6
    assert list(long["segment"][:2]) == [1, 2]
    assert {"displacement_joint", "halt_confidence", "final_correct"} <= set(long.columns)


def first_by(records, index):
    return next(r for r in records if r["example_index"] == index)


def test_submit_accepts_arrays_lists_and_dataset_folders(client):
    x = fixture_inputs()
    jobs = [client.submit("trm", x, segments=1),                                     # 2-D NumPy array
            client.submit("trm", [list(row) for row in x], ids=["p", "q"], segments=1),  # list of token lists
            client.submit("trm", os.path.join(FIXTURE, "data"), segments=1),            # root folder -> test/
            client.submit("trm", os.path.join(FIXTURE, "data", "test"), limit=1, segments=1)]
    assert [j.total_records for j in jobs] == [2, 2, 2, 1]
    for job in jobs:
        job.wait(progress=False, timeout=120)
    by_dataset = sorted(jobs[2].all_records(), key=lambda r: r["example_index"])
    by_array = sorted(jobs[0].all_records(), key=lambda r: r["example_index"])
    # The local dataset reader sends the labels: outcomes come with token accuracies.
    assert not np.isnan(float(by_dataset[0]["segments"][0]["token_accuracy"]))
    assert by_dataset[0]["prediction"] == by_array[0]["prediction"]


def test_a_sudoku_dataset_folder_stays_sudoku_symmetry_restarts_and_givens(client):
    # The fixture folder's puzzles carry identifiers, so they travel as tokens
    # that say they are Sudoku.
    request = rrmdyn.submit_request("trm", os.path.join(FIXTURE, "data"))
    assert request.puzzles.WhichOneof("source") == "tokens" and request.puzzles.tokens.kind == "sudoku"
    job = client.submit("trm", os.path.join(FIXTURE, "data"), segments=1, restarts=2, restart_kind="symmetry")
    assert job.wait(progress=False, timeout=120).state is rrmdyn.JobState.SUCCEEDED
    records = job.all_records()
    assert len(records) == 4 and all(r["error"] == "" for r in records)
    assert all(int(r["givens"]) > 0 for r in records)


def test_bad_input_is_a_clear_exception(client):
    with pytest.raises(rrmdyn.InvalidArgument) as error:
        client.submit("trm", [SUDOKU[:80]], kind="sudoku")
    assert "puzzles.sudoku.puzzles[0]" in str(error.value) and "81" in str(error.value)
    assert error.value.code == "INVALID_ARGUMENT"
    with pytest.raises(rrmdyn.InvalidArgument) as error:
        client.submit("trm", np.ones((1, 5), dtype=np.int64))
    assert "inputs" in str(error.value)
    with pytest.raises(rrmdyn.NotFound) as error:
        client.submit("nope", [SUDOKU])
    assert "model" in str(error.value)
    with pytest.raises(rrmdyn.NotFound):
        client.job("j-0-missing")
    with pytest.raises(ValueError):
        client.submit("trm", ["not a puzzle at all"])  # caught before the wire
    with pytest.raises(rrmdyn.PermissionDenied) as error:  # rrmd has no --model_root here
        client.load_model("other", os.path.join(FIXTURE, "step_0"))
    assert "model_root" in str(error.value)


def test_wait_shows_progress_with_tqdm_auto(client, monkeypatch):
    import tqdm.auto
    bars = []

    class Recording(tqdm.auto.tqdm):  # what tqdm.auto picked (a widget in Jupyter), recorded
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    job = client.submit("trm", [SUDOKU] * 4, segments=2, batch_size=2)
    out = io.StringIO()
    final = job.wait(progress=True, poll_seconds=0.1, file=out)
    assert final.state is rrmdyn.JobState.SUCCEEDED
    assert len(bars) == 1 and (bars[0].n, bars[0].total, bars[0].desc) == (4, 4, job.job_id)
    assert "4/4" in out.getvalue() and "rec/s" in out.getvalue()


def test_cancel_stops_the_job_and_keeps_its_records(client):
    job = client.submit("trm", [SUDOKU] * 200, segments=16, batch_size=2)
    cancelled = job.cancel()
    assert cancelled.state is rrmdyn.JobState.CANCELLED
    records = list(job.records())  # the stream of a cancelled job ends
    time.sleep(0.5)
    status = job.status()
    assert status.state is rrmdyn.JobState.CANCELLED
    assert len(records) == status.records_stored < status.total_records == 200
    with pytest.raises(rrmdyn.FailedPrecondition):
        job.cancel()


def test_delete_removes_the_job_and_a_deadline_fails_it(client):
    done = client.submit("trm", [SUDOKU] * 2, segments=2, batch_size=2)
    assert done.wait(progress=False).state is rrmdyn.JobState.SUCCEEDED
    done.delete()
    with pytest.raises(rrmdyn.NotFound):
        done.status()
    assert done.job_id not in [j.job_id for j in client.jobs()]
    late = client.submit("trm", [SUDOKU] * 400, segments=64, lyapunov_k=4, batch_size=1, deadline_seconds=1)
    final = late.wait(progress=False)
    assert final.state is rrmdyn.JobState.FAILED
    assert "options.deadline_seconds = 1" in final.error
    assert len(list(late.records())) == final.records_stored < 400


def test_records_resume_after_the_server_is_killed_and_restarted(tmp_path):
    server = Rrmd(tmp_path / "data", [MODEL_FLAG]).start()
    try:
        client = rrmdyn.Client(server.target, retry_seconds=90)
        total = 24
        job = client.submit("trm", varied_puzzles(total, seed=7), segments=3, batch_size=2)
        stream = job.records()
        received = [next(stream) for _ in range(3)]
        stored_before_kill = job.status().records_stored
        server.kill()  # kill -9 mid-stream
        restarter = threading.Timer(1.0, server.start)
        restarter.start()
        received.extend(stream)  # reconnects with from_index = 3 once rrmd is back
        restarter.join()
        assert stored_before_kill < total, "the job ended before the kill; nothing was resumed"
        assert job.reconnects >= 1
        keys = [(r["example_index"], r["restart"]) for r in received]
        assert len(keys) == total, "missing or extra records"
        assert len(set(keys)) == total, "duplicates after resume"
        assert job.status().state is rrmdyn.JobState.SUCCEEDED
        # The stream order is the store's: a fresh read gives the same sequence.
        assert [(r["example_index"], r["restart"]) for r in job.records()] == keys
        client.close()
    finally:
        server.stop()


def test_records_give_up_after_retry_seconds(tmp_path):
    client = rrmdyn.Client("127.0.0.1:%d" % __import__("conftest").free_port(), retry_seconds=1)
    start = time.monotonic()
    with pytest.raises(rrmdyn.Unavailable):
        list(rrmdyn.Job(client, "j-1").records())
    assert time.monotonic() - start < 15


def test_bearer_tokens(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("alice:secret-a\n")
    server = Rrmd(tmp_path / "data", [MODEL_FLAG, "--auth_tokens=%s" % tokens]).start()
    try:
        with pytest.raises(rrmdyn.Unauthenticated):
            rrmdyn.Client(server.target).models()
        with pytest.raises(rrmdyn.PermissionDenied):  # Unauthenticated is a PermissionDenied
            rrmdyn.Client(server.target, token="guess").models()
        with pytest.raises(rrmdyn.Unauthenticated):
            list(rrmdyn.Job(rrmdyn.Client(server.target), "j-any").records())
        client = rrmdyn.Client(server.target, token="secret-a")
        assert [m.name for m in client.models()] == ["trm"]
        job = client.submit("trm", [SUDOKU], segments=1)
        assert job.wait(progress=False, timeout=120).owner == "alice"
        assert len(list(job.records())) == 1
        # The CLI: exit 5 without a token, 0 with --token_file (`name:token` sends the token).
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"))
        cli = [sys.executable, "-m", "rrmdyn", "--target", server.target]
        refused = subprocess.run(cli + ["models"], env=env, capture_output=True, text=True)
        assert refused.returncode == 5 and "UNAUTHENTICATED" in refused.stderr
        token_file = tmp_path / "token"
        token_file.write_text("alice:secret-a\n")
        allowed = subprocess.run(cli + ["--token_file", str(token_file), "status", job.job_id], env=env,
                                 capture_output=True, text=True)
        assert allowed.returncode == 0 and "succeeded" in allowed.stdout, allowed.stderr
    finally:
        server.stop()
