"""Finding a pipeline's stage runs inside the experiment directory.

Layout: ``<log_dir>/<experiment>/<stage>/<timestamp>/`` with ``checkpoints/best.ckpt`` and, once
the run finished, ``metrics.json``. Stages find their upstream checkpoints here, like ``make``
finds prerequisites.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def finished_runs(experiment_dir: str | Path, stage: str) -> list[Path]:
    """Finished runs of ``stage`` (with metrics.json and a best checkpoint), oldest first."""
    base = Path(experiment_dir) / stage
    if not base.is_dir():
        return []
    runs = [
        p.parent
        for p in base.glob("*/metrics.json")
        if (p.parent / "checkpoints" / "best.ckpt").is_file()
    ]
    return sorted(runs, key=lambda p: (p / "metrics.json").stat().st_mtime)


def latest_run(experiment_dir: str | Path, stage: str) -> Path | None:
    runs = finished_runs(experiment_dir, stage)
    return runs[-1] if runs else None


def run_dir_of(checkpoint: str | Path) -> Path:
    """``<run>/checkpoints/best.ckpt`` -> ``<run>``."""
    return Path(checkpoint).resolve().parent.parent


def read_metrics(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def unfinished_runs(experiment_dir: str | Path, stage: str) -> list[Path]:
    """Runs of ``stage`` that saved ``last.ckpt`` but never wrote metrics.json, oldest first."""
    base = Path(experiment_dir) / stage
    if not base.is_dir():
        return []
    runs = [
        p.parent.parent
        for p in base.glob("*/checkpoints/last.ckpt")
        if not (p.parent.parent / "metrics.json").is_file()
    ]
    return sorted(runs, key=lambda p: (p / "checkpoints" / "last.ckpt").stat().st_mtime)
