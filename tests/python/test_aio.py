"""rrmdyn.aio against a real rrmd: the same API as rrmdyn.Client/Job on
grpc.aio (submit, stream, wait, provenance, DataFrame, report, errors, and a
stream that resumes after rrmd is killed and restarted)."""

import asyncio
import threading

import pytest

import rrmdyn
import rrmdyn.aio
from conftest import MODEL_FLAG, SOLUTION, SUDOKU, Rrmd, varied_puzzles


def test_aio_client_has_the_sync_api(rrmd, client):
    sync_names = {n for n in dir(rrmdyn.Client) if not n.startswith("_")} - {"stub"}
    assert sync_names <= {n for n in dir(rrmdyn.aio.Client) if not n.startswith("_")}
    job_names = {n for n in dir(rrmdyn.Job) if not n.startswith("_")}
    assert job_names <= {n for n in dir(rrmdyn.aio.Job) if not n.startswith("_")}

    async def run():
        async with rrmdyn.aio.Client(rrmd.target) as aclient:
            assert await aclient.health() == "SERVING"
            assert [m.name for m in await aclient.models()] == ["trm"]
            job = await aclient.submit("trm", [SUDOKU] * 3, solutions=[SOLUTION] * 3, ids=["a", "b", "c"],
                                       segments=2)
            assert job.total_records == 3
            streamed = [r async for r in job.records()]  # follows the job until it ends
            final = await job.wait(progress=False, timeout=120)
            provenance = await job.provenance
            frame = await job.to_pandas()
            with pytest.raises(rrmdyn.NotFound):
                await aclient.job("j-0-missing")
            with pytest.raises(rrmdyn.InvalidArgument):
                await aclient.submit("trm", [SUDOKU[:80]], kind="sudoku")
            listed = await aclient.jobs("succeeded")
            return job, streamed, final, provenance, frame, listed

    job, streamed, final, provenance, frame, listed = asyncio.run(run())
    assert final.state is rrmdyn.JobState.SUCCEEDED and final.records_stored == 3
    assert sorted(r["puzzle_id"] for r in streamed) == ["a", "b", "c"]
    assert len(frame) == 3
    assert job.job_id in [j.job_id for j in listed]
    # The same job through the sync client: the same records and provenance.
    same = client.job(job.job_id)
    assert same.all_records() == streamed
    assert same.provenance == provenance


def test_aio_records_resume_after_the_server_is_killed_and_restarted(tmp_path):
    server = Rrmd(tmp_path / "data", [MODEL_FLAG]).start()
    total = 24

    async def run():
        async with rrmdyn.aio.Client(server.target, retry_seconds=90) as aclient:
            job = await aclient.submit("trm", varied_puzzles(total, seed=3), segments=3, batch_size=2)
            received = []
            stored_before_kill = None
            restarter = None
            async for record in job.records():
                received.append(record)
                if len(received) == 3:
                    stored_before_kill = (await job.status()).records_stored
                    server.kill()  # kill -9 mid-stream
                    restarter = threading.Timer(1.0, server.start)
                    restarter.start()
            restarter.join()
            return job, received, stored_before_kill, await job.status()

    try:
        job, received, stored_before_kill, status = asyncio.run(run())
        assert stored_before_kill < total, "the job ended before the kill; nothing was resumed"
        assert job.reconnects >= 1
        keys = [(r["example_index"], r["restart"]) for r in received]
        assert len(keys) == total and len(set(keys)) == total, "missing, extra or duplicate records"
        assert status.state is rrmdyn.JobState.SUCCEEDED
    finally:
        server.stop()
