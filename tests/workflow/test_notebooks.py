"""The notebooks run top to bottom on the session's tiny pipeline (``nbclient``; outputs are
discarded, the files in git stay stripped: ``tools/check_notebooks.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.workflow.conftest import REPO, TinyPipeline

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_three_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_data_tour.ipynb",
        "02_spatial_model.ipynb",
        "03_compare_experiments.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path, tiny_pipeline: TinyPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the kernel inherits this environment: the notebooks find the tiny pipeline through it
    monkeypatch.setenv("POSEHYBRID_NOTEBOOK_EXPERIMENT", str(tiny_pipeline.experiment_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for key in ("WANDB_MODE", "WANDB_BASE_URL", "WANDB_SILENT"):
        monkeypatch.setenv(key, tiny_pipeline.env[key])
    nb = nbformat.read(path, as_version=4)
    # timeout: a per-cell hang guard (nbclient raises on it), not a speed assertion
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "a code cell did not run"
    errors = [o for c in code for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # every notebook shows something: a figure, a table or printed figures
    assert any(c.get("outputs") for c in code), f"{path.name} produced no output"


def test_checker_rejects_outputs(tmp_path: Path) -> None:
    clean = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    dirty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    dirty.cells[0].execution_count = 3
    dirty.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"})]
    nbformat.write(clean, tmp_path / "clean.ipynb")
    nbformat.write(dirty, tmp_path / "dirty.ipynb")
    check = [sys.executable, str(REPO / "tools" / "check_notebooks.py")]
    ok = subprocess.run([*check, str(tmp_path / "clean.ipynb")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([*check, str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1 and "dirty.ipynb" in bad.stdout + bad.stderr
    assert "clean.ipynb" not in bad.stdout + bad.stderr
    repo = subprocess.run(check, capture_output=True, text=True, cwd=REPO)
    assert repo.returncode == 0, repo.stdout + repo.stderr  # the committed notebooks are clean
