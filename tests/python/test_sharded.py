"""A study sharded over two real rrmd servers (rrmdyn.ShardedClient and the
CLI) equals the same study on one server; target specs, splitting, summing and
a failed part."""

import dataclasses
import json
import os
import socket
import subprocess
import sys

import pytest

import rrmdyn
from rrmdyn import report as report_module
from rrmdyn._stubs import pb
from rrmdyn.sharding import combined_state, sum_jobs
from conftest import BUILD_DIR, MODEL_FLAG, ROOT, SOLUTION, SUDOKU, Rrmd

# Six different Sudokus: SOLUTION with a different third of the cells blanked.
PUZZLES = ["".join("." if (j * 7 + i) % 3 == 0 else c for j, c in enumerate(SOLUTION)) for i in range(6)]
IDS = ["p%d" % i for i in range(6)]
STUDY = dict(solutions=[SOLUTION] * 6, ids=IDS, segments=3, lyapunov_k=2, seed=7, restarts=2,
             restart_kind="init_noise", restart_sigma=0.1, batch_size=1)
REPORT = dict(tau=0.05, bootstrap=50, seed=3)
VOLATILE = ("job_id", "device", "compute_seconds")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    pair = [Rrmd(tmp_path_factory.mktemp("shard%d" % i) / "data", [MODEL_FLAG]) for i in range(2)]
    try:
        for server in pair:
            server.start()
        yield pair
    finally:
        for server in pair:
            server.stop()


@pytest.fixture(scope="module")
def spec(servers):
    return "%s,%s" % (servers[0].target, servers[1].target)


@pytest.fixture(scope="module")
def reference(servers):
    """The study on server 1 alone."""
    client = rrmdyn.Client(servers[0].target, retry_seconds=30)
    job = client.submit("trm", PUZZLES, **STUDY)
    job.wait(progress=False, timeout=300)
    yield job
    client.close()


def _by_key(records):
    out = {}
    for r in records:
        key = (r["example_index"], r["restart"])
        assert key not in out, "duplicate record %s" % (key,)
        out[key] = {k: v for k, v in r.items() if k not in VOLATILE}
    return out


def _report_json(report):
    """The report as its JSON (NaN as "NaN", so NaN == NaN), without the job's id."""
    out = json.loads(report_module.to_json(report))
    out.pop("job_id")
    return out


def test_sharded_study_equals_one_server(servers, spec, reference):
    with rrmdyn.ShardedClient(spec, retry_seconds=30) as client:
        job = client.submit("trm", PUZZLES, idempotency_key="study-a", **STUDY)
        assert isinstance(job, rrmdyn.ShardedJob) and job.total_records == 12
        assert job.job_id == "%s/%s,%s/%s" % (servers[0].target, job.jobs[0].job_id,
                                               servers[1].target, job.jobs[1].job_id)
        merged = list(job.records())  # follows both parts live until both ended
        assert job.wait(progress=False, timeout=300).state is rrmdyn.JobState.SUCCEEDED

        # Each server measured one contiguous block with its study-wide indices.
        parts = job.parts()
        assert [p.examples for p in parts] == [3, 3]
        assert [p.idempotency_key for p in parts] == ["study-a#0/2", "study-a#1/2"]
        assert sorted({r["example_index"] for r in job.jobs[0].all_records()}) == [0, 1, 2]
        assert sorted({r["example_index"] for r in job.jobs[1].all_records()}) == [3, 4, 5]

        # The merged records equal those of one server measuring everything.
        expected = _by_key(reference.all_records())
        assert len(merged) == 12
        got = _by_key(merged)
        assert sorted(got) == sorted(expected)
        for key in expected:
            assert got[key] == expected[key], "record %s differs" % (key,)
        assert [got[(i, 0)]["puzzle_id"] for i in range(6)] == IDS

        status = job.status()
        assert status.job_id == job.job_id and type(status) is type(reference.status())
        assert (status.examples, status.total_records, status.records_stored) == (6, 12, 12)
        assert status.finished_unix >= max(p.finished_unix for p in parts)
        # The parts measured the one model: the summed job carries its provenance.
        assert status.provenance == dataclasses.replace(job.jobs[0].provenance, job_id=job.job_id)

        # The report of the merged records (AnalyzeRecords on server 1) is the one-server report.
        want = reference.report(**REPORT)
        report = job.report(**REPORT)
        assert report["table"] == want["table"]
        assert _report_json(report) == _report_json(want)
        assert report["job_id"] == job.job_id and report["job_state"] == "JOB_STATE_SUCCEEDED"
        assert report["complete"] and report["counts"]["records"] == 12
        # Client.analyze_records round-trips record dicts exactly.
        offline = reference.client.analyze_records(reference.all_records(), **REPORT)
        assert offline["table"] == want["table"] and offline["job_id"] == ""
        assert _report_json(offline)["counts"] == _report_json(want)["counts"]

        # Reopened from the id alone.
        again = rrmdyn.ShardedClient([servers[1].target]).job(job.job_id)
        assert again.status().state is rrmdyn.JobState.SUCCEEDED
        assert _by_key(again.all_records()) == got
        with rrmdyn.connect(spec) as connected:
            assert isinstance(connected, rrmdyn.ShardedClient)
            assert connected.job(job.job_id).status().records_stored == 12
            assert set(connected.models()) == {servers[0].target, servers[1].target}
            assert connected.health() == {servers[0].target: "SERVING", servers[1].target: "SERVING"}
        with rrmdyn.connect(servers[0].target) as single:
            assert type(single) is rrmdyn.Client
            with pytest.raises(rrmdyn.InvalidArgument, match="open_job"):  # Client knows one server only
                single.job(job.job_id)
        assert isinstance(rrmdyn.open_job(job.job_id), rrmdyn.ShardedJob)  # any id, from the id alone
        assert isinstance(rrmdyn.open_job(job.jobs[0].job_id, servers[0].target), rrmdyn.Job)
        with pytest.raises(ValueError, match="from_index"):
            next(job.records(from_index=1))
        with pytest.raises(rrmdyn.InvalidArgument, match="sharded job's id"):
            client.job(job.jobs[0].job_id)


def test_report_needs_a_finished_sharded_job(spec):
    with rrmdyn.ShardedClient(spec) as client:
        job = client.submit("trm", [SUDOKU] * 200, segments=16, batch_size=2)
        try:
            with pytest.raises(rrmdyn.FailedPrecondition, match="expected a finished job"):
                job.report()
            stream = job.records()
            next(stream)  # a running merge abandoned early stops its part streams
            stream.close()
            assert all(part._live_call is None for part in job.jobs)
        finally:
            cancelled = job.cancel()
        assert cancelled.state is rrmdyn.JobState.CANCELLED
        assert [p.state for p in job.parts()] == [rrmdyn.JobState.CANCELLED] * 2


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "rrmdyn"] + list(args), env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_shards_over_several_targets(servers, spec, tmp_path):
    puzzles = tmp_path / "sudoku.txt"
    puzzles.write_text("".join("%s,%s\n" % (p, SOLUTION) for p in PUZZLES))
    done = _cli("--target", spec, "submit", "--model", "trm", "--sudoku", str(puzzles), "--segments", "2",
                "--wait")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    job_id = lines[0]
    assert [entry.rsplit("/", 1)[0] for entry in job_id.split(",")] == [s.target for s in servers]
    assert "6/6" in done.stderr  # the progress line

    records = _cli("records", job_id)  # no --target: the id names the servers
    assert records.returncode == 0, records.stderr
    rows = [json.loads(line) for line in records.stdout.splitlines()]
    assert sorted(r["example_index"] for r in rows) == [0, 1, 2, 3, 4, 5]

    status = _cli("status", job_id)
    assert status.returncode == 0 and "succeeded 6/6" in status.stdout, status.stderr
    assert "part 2: %s/" % servers[1].target in status.stdout

    refused = _cli("records", job_id, "--from", "1")
    assert refused.returncode == 2 and "--from" in refused.stderr
    assert _cli("--target", spec, "status", "j-1").returncode == 2  # a plain id with several servers
    assert _cli("--target", servers[0].target + ",", "health").returncode == 2  # an empty entry

    health = _cli("--target", spec, "health")
    assert health.returncode == 0, health.stderr
    assert health.stdout.split() == ["#", servers[0].target, "SERVING", "#", servers[1].target, "SERVING"]
    report = _cli("report", job_id, "--json", "--bootstrap", "0")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["counts"]["records"] == 6


def test_rrmctl_and_rrmdyn_reopen_each_others_sharded_ids(servers, spec, tmp_path):
    rrmctl = os.path.join(BUILD_DIR, "bin", "rrmctl")
    puzzles = tmp_path / "sudoku.txt"
    puzzles.write_text("".join("%s,%s\n" % (p, SOLUTION) for p in PUZZLES[:4]))
    done = subprocess.run([rrmctl, "--target=" + spec, "submit", "--model=trm", "--sudoku=" + str(puzzles),
                           "--segments=2", "--wait", "--progress=none"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    job = rrmdyn.ShardedClient([]).job(done.stdout.strip())  # rrmctl's id, opened by rrmdyn
    assert job.status().records_stored == 4
    assert sorted(r["example_index"] for r in job.records()) == [0, 1, 2, 3]

    with rrmdyn.connect(spec) as client:
        mine = client.submit("trm", PUZZLES[:3], segments=2)
        mine.wait(progress=False, timeout=300)
    listed = subprocess.run([rrmctl, "records", mine.job_id], capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr  # rrmdyn's id, opened by rrmctl
    assert sorted(json.loads(line)["example_index"] for line in listed.stdout.splitlines()) == [0, 1, 2]


def test_expand_targets():
    T = rrmdyn.Target
    assert rrmdyn.expand_targets("a:1, b:2") == [T("a:1", ""), T("b:2", "")]
    for spec in ("", "a:1,,b:2", "a:1,"):
        with pytest.raises(rrmdyn.InvalidArgument, match="found an empty one"):
            rrmdyn.expand_targets(spec)
    with pytest.raises(rrmdyn.InvalidArgument, match="all:HOST:PORT"):
        rrmdyn.expand_targets("all:localhost")
    with pytest.raises(rrmdyn.NotFound, match="cannot resolve"):
        rrmdyn.expand_targets("all:no-such-host.invalid:50051")
    resolved = rrmdyn.expand_targets("all:localhost:50051")
    assert T("127.0.0.1:50051", "localhost") in resolved
    addresses = [t.address for t in resolved]
    assert addresses == sorted(set(addresses)) and all(t.tls_name == "localhost" for t in resolved)
    assert rrmdyn.expand_targets("x:1,all:127.0.0.1:7") == [T("x:1", ""), T("127.0.0.1:7", "127.0.0.1")]
    if socket.has_ipv6:
        assert rrmdyn.expand_targets("all:[::1]:7") == [T("[::1]:7", "::1")]
    assert isinstance(rrmdyn.connect("a:1"), rrmdyn.Client)
    assert isinstance(rrmdyn.connect("a:1,b:2"), rrmdyn.ShardedClient)
    assert isinstance(rrmdyn.connect("all:localhost:1"), rrmdyn.ShardedClient)


def test_split_puzzles():
    text = pb.PuzzleInput(first_example_index=10)
    text.sudoku.puzzles.extend(PUZZLES[:5])
    text.sudoku.solutions.extend([SOLUTION] * 5)
    blocks = rrmdyn.split_puzzles(text, 2)
    assert [list(b.sudoku.puzzles) for b in blocks] == [PUZZLES[:2], PUZZLES[2:5]]
    assert [b.first_example_index for b in blocks] == [10, 12]
    assert [len(b.sudoku.solutions) for b in blocks] == [2, 3]
    assert [len(b.sudoku.ids) for b in blocks] == [0, 0]  # absent stays absent
    assert len(rrmdyn.split_puzzles(text, 9)) == 5  # never an empty block
    assert rrmdyn.split_puzzles(text, 1) == [text]
    text.sudoku.ids.extend(["a", "b"])
    with pytest.raises(rrmdyn.InvalidArgument, match="puzzles.sudoku.ids"):
        rrmdyn.split_puzzles(text, 2)

    tokens = pb.PuzzleInput()
    for i in range(3):
        tokens.tokens.puzzles.add(inputs=[i] * 4, labels=[i] * 4, puzzle_identifier=i, id="t%d" % i)
    blocks = rrmdyn.split_puzzles(tokens, 3)
    assert [b.first_example_index for b in blocks] == [0, 1, 2]
    assert [b.tokens.puzzles[0] for b in blocks] == list(tokens.tokens.puzzles)  # whole messages

    maze = pb.PuzzleInput()
    maze.maze.puzzles.extend(["S G", "G S", "SG "])
    maze.maze.ids.extend(["m0", "m1", "m2"])
    assert [list(b.maze.ids) for b in rrmdyn.split_puzzles(maze, 2)] == [["m0"], ["m1", "m2"]]

    dataset = pb.PuzzleInput(dataset_path="sudoku/test", limit=5, first_example_index=100)
    blocks = rrmdyn.split_puzzles(dataset, 2)
    assert [(b.dataset_path, b.first_example_index, b.limit) for b in blocks] == [
        ("sudoku/test", 100, 2), ("sudoku/test", 102, 3)]
    dataset.limit = 0
    assert [(b.first_example_index, b.limit) for b in rrmdyn.split_puzzles(dataset, 1)] == [(100, 0)]
    with pytest.raises(rrmdyn.InvalidArgument, match="puzzles.limit"):
        rrmdyn.split_puzzles(dataset, 2)
    with pytest.raises(rrmdyn.InvalidArgument, match="parts"):
        rrmdyn.split_puzzles(tokens, 0)
    with pytest.raises(rrmdyn.InvalidArgument, match="expected one of"):
        rrmdyn.split_puzzles(pb.PuzzleInput(), 2)
    with pytest.raises(rrmdyn.InvalidArgument, match="at least one puzzle"):
        rrmdyn.split_puzzles(pb.PuzzleInput(tokens=pb.TokenPuzzles()), 2)


def test_summed_status():
    assert combined_state(["JOB_STATE_SUCCEEDED", "JOB_STATE_SUCCEEDED"]) == "JOB_STATE_SUCCEEDED"
    assert combined_state(["JOB_STATE_CANCELLED", "JOB_STATE_FAILED"]) == "JOB_STATE_FAILED"
    assert combined_state(["JOB_STATE_SUCCEEDED", "JOB_STATE_CANCELLED"]) == "JOB_STATE_CANCELLED"
    assert combined_state(["JOB_STATE_SUCCEEDED", "JOB_STATE_QUEUED"]) == "JOB_STATE_RUNNING"
    assert combined_state(["JOB_STATE_QUEUED", "JOB_STATE_QUEUED"]) == "JOB_STATE_QUEUED"
    assert combined_state(["JOB_STATE_FAILED", "JOB_STATE_RUNNING"]) == "JOB_STATE_RUNNING"
    a = pb.Job(job_id="j-1", model="trm", state=pb.JOB_STATE_SUCCEEDED, examples=3, restarts=2, total_records=6,
               records_stored=6, records_failed=1, compute_seconds=1.5, started_unix=20, finished_unix=30,
               errors=["e1"])
    b = pb.Job(job_id="j-2", model="trm", state=pb.JOB_STATE_FAILED, examples=2, restarts=2, total_records=4,
               records_stored=2, compute_seconds=0.5, started_unix=10, finished_unix=25, error="boom")
    s = sum_jobs("x/j-1,y/j-2", [a, b])
    assert (s.job_id, s.model, s.state, s.examples, s.restarts) == ("x/j-1,y/j-2", "trm", pb.JOB_STATE_FAILED, 5, 2)
    assert (s.total_records, s.records_stored, s.records_failed, s.compute_seconds) == (10, 8, 1, 2.0)
    assert (s.started_unix, s.finished_unix, s.error, list(s.errors)) == (10, 30, "j-2: boom", ["e1"])


def test_a_failed_part_cancels_the_submitted_ones(servers, spec):
    """Runs last: it kills server 2 (and restarts it)."""
    servers[1].kill()
    try:
        with rrmdyn.ShardedClient(spec) as client:
            with pytest.raises(rrmdyn.Unavailable) as error:
                client.submit("trm", [SUDOKU] * 40, segments=16, batch_size=2, job_labels={"case": "failed-part"})
            assert "(part 2 of 2)" in str(error.value) and servers[1].target in str(error.value)
        first = rrmdyn.Client(servers[0].target)
        left = [j for j in first.jobs() if j.options["labels"].get("case") == "failed-part"]
        assert len(left) == 1 and left[0].state is rrmdyn.JobState.CANCELLED
        assert left[0].records_stored < 20
    finally:
        servers[1].start()
