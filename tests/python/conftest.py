"""Fixtures for the rrmdyn tests: the real rrmd (from $RRM_BUILD_DIR/bin,
default build/) on free loopback ports with a temporary --data_dir and the
TRM mlp_t fixture model loaded, as tests/server/rrmd_process.h does."""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

import rrmdyn  # noqa: E402
from rrmdyn._stubs import health_pb2, health_pb2_grpc  # noqa: E402

BUILD_DIR = os.environ.get("RRM_BUILD_DIR", os.path.join(ROOT, "build"))
if not os.path.isabs(BUILD_DIR):
    BUILD_DIR = os.path.join(ROOT, BUILD_DIR)
RRMD = os.path.join(BUILD_DIR, "bin", "rrmd")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "trm_mlpt")
MODEL_FLAG = "--model=trm=" + os.path.join(FIXTURE, "step_0")

SUDOKU = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rrmd:
    """One rrmd process; restartable on the same ports and data_dir."""

    def __init__(self, data_dir, flags=()):
        self.data_dir = str(data_dir)
        self.flags = list(flags)
        self.port = free_port()
        self.metrics_port = free_port()
        self.process = None
        self.starts = 0

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    @property
    def log_path(self):
        return "%s.log%d" % (self.data_dir, self.starts)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def start(self, timeout=120):
        if not os.path.exists(RRMD):
            pytest.skip("rrmd not built: %s (set RRM_BUILD_DIR)" % RRMD)
        self.starts += 1
        env = dict(os.environ, OMP_NUM_THREADS="1")
        args = [RRMD, "--listen=" + self.target, "--metrics_listen=127.0.0.1:%d" % self.metrics_port,
                "--devices=cpu,cpu", "--data_dir=" + self.data_dir] + self.flags
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while "listening on" not in self.log():
            if self.process.poll() is not None:
                raise RuntimeError("rrmd exited %s: %s" % (self.process.returncode, self.log()))
            if time.monotonic() > deadline:
                raise RuntimeError("rrmd did not start: " + self.log())
            time.sleep(0.05)
        import grpc
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                            health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("rrmd not healthy: " + self.log())
                time.sleep(0.1)

    def kill(self):
        """kill -9 (no graceful shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


@pytest.fixture(scope="session")
def rrmd(tmp_path_factory):
    """A shared rrmd with the fixture model `trm`."""
    server = Rrmd(tmp_path_factory.mktemp("rrmd") / "data", [MODEL_FLAG])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(rrmd):
    with rrmdyn.Client(rrmd.target, retry_seconds=30) as c:
        yield c


def fixture_inputs():
    return np.load(os.path.join(FIXTURE, "data", "test", "all__inputs.npy")).astype(np.int64)


def varied_puzzles(count, seed=0):
    """`count` token puzzles: the fixture's two Sudokus with 30% of the cells
    redrawn, so a random-weight model gives them different trajectories."""
    x = fixture_inputs()
    rng = np.random.default_rng(seed)
    out = np.repeat(x, (count + 1) // 2, axis=0)[:count].copy()
    for row in out:
        mask = rng.random(row.size) < 0.3
        row[mask] = rng.integers(1, 11, int(mask.sum()))
    return out


@pytest.fixture(scope="session")
def mixed_job(client):
    """A finished job with successes and failures (real records): the fixture
    model has random weights, so labels are its own predictions for half of
    the puzzles and a changed prediction for the other half; two runs per
    puzzle (init_noise restarts) and k = 1 Lyapunov exponent."""
    puzzles = varied_puzzles(12, seed=1)
    probe = client.submit("trm", puzzles, segments=4, batch_size=6)
    probe.wait(progress=False, timeout=300)
    predictions = {r["example_index"]: np.array(r["prediction"]) for r in probe.records()}
    labels = []
    for i in range(len(puzzles)):
        label = predictions[i].copy()
        if i % 2 == 1:
            label[0] = 2 if label[0] != 2 else 3
        labels.append(label)
    job = client.submit("trm", puzzles, labels=labels, segments=4, lyapunov_k=1, restarts=2,
                        restart_kind="init_noise", restart_sigma=0.05, batch_size=6)
    job.wait(progress=False, timeout=600)
    return job
