"""``python -m posehybrid.data``: one JSON object on stdout, clear errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "posehybrid.data",
        f"paths.root_dir={tmp_path}",
        f"paths.data_dir={tmp_path}/data",
        f"hydra.run.dir={tmp_path}/run",
        *overrides,
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cli_summary_and_show(tmp_path: Path) -> None:
    proc = _run(tmp_path, "data=synthetic", "data.n_images=20", "show=4")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # the whole of stdout is one JSON object
    assert set(summary) == {"dataset", "root", "splits", "joints", "visible_fraction", "show"}
    assert summary["dataset"] == "synthetic"
    # 20 images: first half trains (1 of 10 carved off for validation), second half tests.
    assert summary["splits"] == {"train": 9, "val": 1, "test": 10}
    assert len(summary["joints"]) == 14 and summary["joints"][-1] == "head_top"
    assert 0.5 < summary["visible_fraction"] <= 1.0
    assert Path(summary["root"]).is_dir() and str(tmp_path) in summary["root"]
    png = Path(summary["show"])
    assert png.parent == tmp_path / "run" and png.name == "samples.png"
    grid = cv2.imread(str(png))
    assert grid is not None and grid.shape[0] > 256 and grid.shape[1] > 256
    assert str(png) in proc.stderr


def test_cli_bad_root_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_lsp"
    proc = _run(tmp_path, "data=lsp", f"data.root={missing}")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(missing) in lines[0] and "Traceback" not in proc.stderr
