"""Run the notebooks in ``notebooks/``: a notebook that fails to run fails the tests.

Each notebook is read into memory and executed in a fresh Jupyter kernel with
``FASTLAYERS_NOTEBOOK_QUICK=1``, which makes it pick small sizes, and with the
working directory ``notebooks/``, as when a user opens it there. The executed
copy is written to pytest's temporary directory for inspection; the committed
notebooks (with the outputs of a full run) are never modified.
"""

import hashlib
import os
from pathlib import Path

import pytest

REASON = 'running the notebooks needs nbformat, nbclient and ipykernel: pip install ".[test]"'
nbformat = pytest.importorskip("nbformat", reason=REASON)
nbclient = pytest.importorskip("nbclient", reason=REASON)
pytest.importorskip("ipykernel", reason=REASON)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds; the first cell to run a kernel may compile it


def test_notebooks_exist():
    names = [path.name for path in NOTEBOOKS]
    assert "01_tutorial_lenet.ipynb" in names
    assert "02_naive_vs_jit.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # The kernel inherits this process's environment: small sizes, and this
    # checkout's fastlayers on the path even though the kernel starts in notebooks/.
    monkeypatch.setenv("FASTLAYERS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",  # the ipykernel of the Python running the tests
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        record_timing=False,
    )
    try:
        client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    finally:
        nbformat.write(notebook, tmp_path / path.name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path.name} was modified"
