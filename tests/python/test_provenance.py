"""Provenance travels with results: rrmd fills it at submit from the model
registry (checkpoint sha256 computed at LoadModel), it survives a restart,
and the JSONL and CSV exports carry it."""

import dataclasses
import hashlib
import json
import os
import subprocess

import pandas as pd

import rrmdyn
from rrmdyn._stubs import pb
from conftest import BUILD_DIR, FIXTURE, MODEL_FLAG, SOLUTION, SUDOKU, Rrmd


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_typed_values_cover_every_proto_field():
    assert {f.name for f in pb.Job.DESCRIPTOR.fields} <= {f.name for f in dataclasses.fields(rrmdyn.JobStatus)}
    assert {f.name for f in pb.ModelInfo.DESCRIPTOR.fields} == {f.name for f in dataclasses.fields(rrmdyn.ModelInfo)}
    provenance = {f.name for f in dataclasses.fields(rrmdyn.Provenance)}
    assert {f.name for f in pb.Provenance.DESCRIPTOR.fields} <= provenance
    assert {"job_id", "options", "rrmdyn_version"} <= provenance


def test_job_carries_the_model_checkpoint_options_and_versions(client):
    model = client.models()[0]
    checkpoint = os.path.join(FIXTURE, "step_0")
    assert model.checkpoint_sha256 == sha256(checkpoint)  # hashed by rrmd at LoadModel
    assert model.config_sha256 == sha256(model.config_path)
    job = client.submit("trm", [SUDOKU], solutions=[SOLUTION], segments=2, seed=5)
    p = job.provenance
    assert isinstance(p, rrmdyn.Provenance)
    assert (p.job_id, p.model, p.arch, p.checkpoint_path, p.checkpoint_sha256) == (
        job.job_id, "trm", model.arch, model.checkpoint_path, sha256(checkpoint))
    assert (p.config_path, p.config_sha256, p.overrides, p.forward_dtype) == (
        model.config_path, model.config_sha256, [], model.forward_dtype)
    assert p.rrm_version and p.rrmdyn_version == rrmdyn.__version__
    assert p.options["segments"] == 2 and p.options["seed"] == 5  # ints as ints
    assert job.wait(progress=False, timeout=120).provenance == p
    assert rrmdyn.Provenance.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_exports_carry_the_provenance(client, tmp_path):
    job = client.submit("trm", [SUDOKU] * 2, solutions=[SOLUTION] * 2, segments=2, lyapunov_k=1)
    job.wait(progress=False, timeout=120)
    jsonl = tmp_path / "r.jsonl"
    job.write_jsonl(jsonl)
    assert rrmdyn.read_jsonl(jsonl) == job.all_records()  # every line still a record
    assert rrmdyn.read_provenance(jsonl) == job.provenance  # from the sidecar r.jsonl.provenance.json
    assert json.loads((tmp_path / "r.jsonl.provenance.json").read_text())["checkpoint_sha256"] == \
        job.provenance.checkpoint_sha256

    csv = tmp_path / "r.csv"
    job.write_csv(csv)
    first, table = csv.read_text().split("\n", 1)
    assert first.startswith("# provenance: {")
    assert rrmdyn.read_provenance(csv) == job.provenance
    frame = pd.read_csv(csv, comment="#")
    assert len(frame) == 2 and list(frame["model"]) == ["trm", "trm"]
    # Below that line, the table is rrmctl's (client/cpp/record_csv.h), cell for cell.
    rrmctl = subprocess.run([os.path.join(BUILD_DIR, "bin", "rrmctl"), "--target=" + client.target, "records",
                             job.job_id, "--format=csv"], capture_output=True, text=True, timeout=120)
    assert rrmctl.returncode == 0, rrmctl.stderr
    assert sorted(table.splitlines()[1:]) == sorted(rrmctl.stdout.splitlines()[1:])
    assert table.splitlines()[0] == rrmctl.stdout.splitlines()[0]

    # The xarray Dataset carries it as attributes (rrmdyn.xarray_export).
    dataset = job.to_xarray()
    assert dataset.attrs["provenance.checkpoint_sha256"] == job.provenance.checkpoint_sha256
    assert dataset.sizes["record"] == 2

    # A file written without provenance reads as before.
    plain = tmp_path / "plain.jsonl"
    rrmdyn.write_jsonl(job.all_records(), plain)
    assert rrmdyn.read_provenance(plain) is None and len(rrmdyn.read_jsonl(plain)) == 2


def test_provenance_is_stored_with_the_job(tmp_path):
    server = Rrmd(tmp_path / "data", [MODEL_FLAG]).start()
    try:
        with rrmdyn.Client(server.target) as client:
            job = client.submit("trm", [SUDOKU], segments=1)
            job.wait(progress=False, timeout=120)
            before = job.provenance
        server.stop()
        server.start()
        with rrmdyn.Client(server.target) as client:
            after = client.job(job.job_id).provenance
        assert after == before and after.checkpoint_sha256 == sha256(os.path.join(FIXTURE, "step_0"))
    finally:
        server.stop()
