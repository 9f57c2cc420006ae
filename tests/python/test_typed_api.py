"""rrmdyn's typed API: mypy-clean with its py.typed marker, one module graph
without cycles, statuses with integers as integers, ShardedJob by composition."""

import ast
import os
import subprocess

import rrmdyn
from conftest import ROOT, SUDOKU

PACKAGE = os.path.join(ROOT, "client", "python", "rrmdyn")


def test_mypy_finds_no_error_in_the_package():
    assert os.path.exists(os.path.join(PACKAGE, "py.typed"))
    done = subprocess.run(["/usr/bin/python3", "-m", "mypy", "--no-incremental", "rrmdyn"],
                          cwd=os.path.dirname(PACKAGE), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def _imports(path, package):
    """The rrmdyn modules a module imports (at any depth: lazy imports count too)."""
    tree = ast.parse(open(path).read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module.split(".")[0] if node.module else None
                names = [base] if base else [a.name for a in node.names]
            elif node.module and node.module.startswith(package + "."):
                names = [node.module.split(".")[1]]
            elif node.module == package:
                names = [a.name for a in node.names]
            else:
                continue
            out.update(names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith(package + "."))
    return out


def test_module_graph_has_no_cycles():
    modules = {name[:-3] for name in os.listdir(PACKAGE) if name.endswith(".py")}
    graph = {m: _imports(os.path.join(PACKAGE, m + ".py"), "rrmdyn") & modules - {m, "__init__", "__main__"}
             for m in modules - {"__init__", "__main__"}}
    assert graph["client"] >= {"requests", "datatypes", "progress"} and "sharding" not in graph["client"]
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import cycle: " + " -> ".join(path + [module])
        state[module] = "open"
        for dependency in sorted(graph[module]):
            visit(dependency, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_status_counts_are_ints_and_states_an_enum(client):
    job = client.submit("trm", [SUDOKU] * 2, segments=1)
    status = job.wait(progress=False, timeout=120)
    assert isinstance(status, rrmdyn.JobStatus)
    assert type(status.records_stored) is int and type(status.total_records) is int
    assert not status.records_stored < status.total_records  # numbers, not text ("10" < "9")
    assert status.state is rrmdyn.JobState.SUCCEEDED and status.finished and status.state.short == "succeeded"
    assert status.state == "JOB_STATE_SUCCEEDED"  # a str enum: old comparisons keep working
    assert status.to_dict()["records_stored"] == "2"  # the proto3 JSON form, as rrmctl status --json
    assert rrmdyn.JobState.parse("running") is rrmdyn.JobState.RUNNING
    assert [j.job_id for j in client.jobs(rrmdyn.JobState.SUCCEEDED)].count(job.job_id) == 1


def test_sharded_job_holds_its_parts_instead_of_inheriting_job():
    assert not issubclass(rrmdyn.ShardedJob, rrmdyn.Job)
    shared = {"status", "cancel", "records", "all_records", "wait", "to_pandas", "report", "provenance",
              "write_jsonl", "write_csv", "to_xarray", "done"}
    assert shared <= set(dir(rrmdyn.ShardedJob)) and shared <= set(dir(rrmdyn.Job))


def test_report_is_a_dict_with_typed_attributes(mixed_job):
    report = mixed_job.report(bootstrap=0)
    assert isinstance(report, rrmdyn.Report) and isinstance(report, dict)
    assert report.job_state is rrmdyn.JobState.SUCCEEDED and report.job_id == mixed_job.job_id
    assert report.complete and report.table == report["table"] and "lambda_1" in report.table
    assert set(report.frames) >= {"aucs", "restarts"} and report["counts"]["records"] == 24
