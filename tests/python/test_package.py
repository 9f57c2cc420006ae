"""rrmdyn as a user installs it: a venv over Debian's packages, `pip install
--no-build-isolation client/python`, then `import rrmdyn` from outside the
repository, with the installed package read-only and no protoc on the PATH,
drives the real rrmd. And the shipped stubs are protoc's for proto/."""

import json
import os
import shutil
import stat
import subprocess
import textwrap

from conftest import ROOT, SUDOKU

PYTHON = "/usr/bin/python3"  # Debian's interpreter (the one on PATH may be another)
PROTO_DIR = os.path.join(ROOT, "proto")


def _without_json_names(messages):
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _without_json_names(message.nested_type)


def protoc_descriptor(tmp_path):
    """protoc's own FileDescriptorProto of proto/rrm/v1/dynamics.proto,
    serialized as the Python generator embeds it (protoc's descriptor sets add
    each field's json_name, which the generated module leaves out)."""
    from google.protobuf import descriptor_pb2
    out = tmp_path / "dynamics.desc"
    subprocess.run(["protoc", "-I", PROTO_DIR, "--descriptor_set_out=%s" % out,
                    os.path.join(PROTO_DIR, "rrm", "v1", "dynamics.proto")], check=True)
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    assert [f.name for f in files] == ["rrm/v1/dynamics.proto"]
    _without_json_names(files[0].message_type)
    return files[0].SerializeToString(deterministic=True)


def embedded_descriptor(serialized):
    from google.protobuf import descriptor_pb2
    return descriptor_pb2.FileDescriptorProto.FromString(serialized).SerializeToString(deterministic=True)


def test_shipped_stubs_are_protocs_for_the_proto(tmp_path):
    from rrmdyn._stubs import pb
    assert embedded_descriptor(pb.DESCRIPTOR.serialized_pb) == protoc_descriptor(tmp_path), \
        "rrmdyn/_proto is stale: rebuild the target rrmdyn_proto"


USER_SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import rrmdyn
    from rrmdyn._stubs import pb
    client = rrmdyn.Client(sys.argv[1])
    job = client.submit("trm", [sys.argv[2]] * 2, segments=1)
    final = job.wait(progress=False, timeout=120)
    print(json.dumps({"file": rrmdyn.__file__, "state": str(final.state.value), "stored": final.records_stored,
                      "records": len(list(job.records())), "models": [m.name for m in client.models()],
                      "descriptor": pb.DESCRIPTOR.serialized_pb.hex()}))
""")


def test_pip_installed_package_drives_rrmd_from_outside_the_repository(rrmd, tmp_path):
    # A copy of the checkout's client/python and proto/ (pip builds in the
    # tree; the real one stays untouched), without generated stubs: the
    # install generates them from proto/.
    checkout = tmp_path / "checkout"
    shutil.copytree(os.path.join(ROOT, "client", "python"), checkout / "client" / "python",
                    ignore=shutil.ignore_patterns("_proto", "build", "*.egg-info", "__pycache__"))
    shutil.copytree(PROTO_DIR, checkout / "proto")
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation",
                          str(checkout / "client" / "python")], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    package = os.path.join(site, "rrmdyn")
    # Read-only, as a system-wide install: importing must write nothing there.
    for folder, _, files in os.walk(package):
        for name in files:
            os.chmod(os.path.join(folder, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        script = tmp_path / "user.py"
        script.write_text(USER_SCRIPT)
        cwd = tmp_path / "elsewhere"
        cwd.mkdir()
        env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}  # no protoc, no PYTHONPATH
        done = subprocess.run([str(venv / "bin" / "python"), str(script), rrmd.target, SUDOKU], cwd=str(cwd),
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        assert seen["file"].startswith(package), seen["file"]
        assert (seen["state"], seen["stored"], seen["records"], seen["models"]) == ("JOB_STATE_SUCCEEDED", 2, 2,
                                                                                   ["trm"])
        assert embedded_descriptor(bytes.fromhex(seen["descriptor"])) == protoc_descriptor(tmp_path)
        cli = subprocess.run([str(venv / "bin" / "rrmdyn"), "--target", rrmd.target, "health"], cwd=str(cwd),
                             env=env, capture_output=True, text=True, timeout=60)
        assert (cli.returncode, cli.stdout.strip()) == (0, "SERVING"), cli.stderr
    finally:
        for folder, _, _ in os.walk(package):
            os.chmod(folder, stat.S_IRWXU)
