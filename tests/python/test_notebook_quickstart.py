"""examples/quickstart.ipynb executed headless (nbclient, the python3
ipykernel) against a real rrmd serving the bundled demo model; any cell
error fails the test."""

import glob
import os

import pytest

from conftest import ROOT, Rrmd

nbformat = pytest.importorskip("nbformat", reason="python3-nbformat is not installed")
nbclient = pytest.importorskip("nbclient", reason="python3-nbclient (python3-nbconvert) is not installed")

NOTEBOOK = os.path.join(ROOT, "examples", "quickstart.ipynb")
DEMO_MODEL = sorted(glob.glob(os.path.join(ROOT, "models", "demo-trm-sudoku", "step_*")))[-1]


@pytest.fixture(scope="module")
def demo_rrmd(tmp_path_factory):
    server = Rrmd(tmp_path_factory.mktemp("demo") / "data", ["--model=demo=" + DEMO_MODEL])
    server.start()
    yield server
    server.stop()


def test_quickstart_notebook_runs_every_cell_against_rrmd(demo_rrmd, tmp_path, monkeypatch):
    # The kernel inherits this environment: the target, the bundled data by
    # absolute path (the notebook runs in tmp_path), and rrmdyn from the tree.
    monkeypatch.setenv("RRM_TARGET", demo_rrmd.target)
    monkeypatch.setenv("RRM_DATA", os.path.join(ROOT, "data", "demo-sudoku"))
    monkeypatch.setenv("RRM_LIMIT", "8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [os.path.join(ROOT, "client", "python")] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger notice on stderr
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    runner = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    runner.execute()  # raises CellExecutionError naming the cell on any error

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "expected the convergence, spectrum and ROC figures as images"
    text = "\n".join(o.get("text", "") if "text" in o else o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "SERVING" in text
    assert "verdict" in text  # the claims table
    assert "record" in text and "segment" in text and "exponent" in text  # the xarray Dataset
    report = tmp_path / "quickstart-report.html"
    assert report.exists() and "data:image/png;base64," in report.read_text()
