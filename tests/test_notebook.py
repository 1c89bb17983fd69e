"""notebooks/eda.ipynb: committed without outputs, and runs end to end on the sample's prepared data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "eda.ipynb"


def test_notebook_is_stripped():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells, "the notebook has no code cells"
    dirty = [i for i, cell in enumerate(code_cells) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"code cells {dirty} carry outputs or execution counts; clear them before committing"


@pytest.mark.slow
def test_notebook_executes(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    prepared = tmp_path / "prepared"
    done = subprocess.run(
        [sys.executable, "-m", "stages.prepare", "--out", str(prepared), "--metrics", str(tmp_path / "prepare.json")],
        cwd=REPO, capture_output=True, text=True,
    )
    assert done.returncode == 0, f"prepare failed:\n{done.stderr[-4000:]}"

    # the kernel inherits os.environ; point it at this run's files, not whatever the shell has set
    monkeypatch.setenv("RU_SELFALIGN_PREPARED", str(prepared))
    monkeypatch.setenv("RU_SELFALIGN_RAW", str(REPO / "data" / "sample" / "oasst_ru_sample.trees.jsonl"))
    monkeypatch.setenv("RU_SELFALIGN_PARAMS", str(REPO / "params.yaml"))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    assert all(cell.execution_count for cell in nb.cells if cell.cell_type == "code")
