"""What the notebooks share: finding a finished pipeline to look at, and its data.

The experiment is, in this order:
1. ``$POSEHYBRID_NOTEBOOK_EXPERIMENT`` (an experiment dir ``<log_dir>/<name>``; the test suite
   points it at a tiny pipeline it trained);
2. the newest experiment under ``<repo>/outputs`` with a finished spatial and joint run;
3. a tiny pipeline trained now into ``<repo>/outputs/notebook_tiny`` (about a minute, once).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

REPO = Path(__file__).resolve().parents[1]
ENV = "POSEHYBRID_NOTEBOOK_EXPERIMENT"
STAGES = ("part_detector", "spatial", "joint")
TINY = ["data.n_images=64", "data.batch_size=8", "trainer.max_epochs=2", "data.num_workers=0"]

if str(REPO) not in sys.path:  # run from notebooks/ without an installed package
    sys.path.insert(0, str(REPO))

from posehybrid.utils.runs import latest_run


def _complete(experiment: Path) -> bool:
    return all(latest_run(experiment, s) is not None for s in ("spatial", "joint"))


def train_tiny(log_dir: Path = REPO / "outputs", name: str = "notebook_tiny") -> Path:
    """Train the tiny three-stage pipeline (CPU, about a minute) and return its directory."""
    print(f"no finished pipeline found: training a tiny one into {log_dir / name} ...")
    cmd = [
        sys.executable,
        "-m",
        "posehybrid.train",
        "stage=joint",
        f"name={name}",
        "logger=csv",
        *TINY,
        f"paths.log_dir={log_dir}",
    ]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    return log_dir / name


def experiment_dir() -> Path:
    """The experiment the notebooks show (see the module docstring)."""
    given = os.environ.get(ENV)
    if given:
        path = Path(given)
        if not _complete(path):
            raise FileNotFoundError(f"${ENV}={given}: no finished spatial and joint runs there")
        return path
    candidates = [p for p in (REPO / "outputs").glob("*") if p.is_dir() and _complete(p)]
    if candidates:
        return max(candidates, key=lambda p: latest_run(p, "joint").stat().st_mtime)
    return train_tiny()


def stage_run(experiment: Path, stage: str) -> Path:
    """The newest finished run of ``stage`` in ``experiment``."""
    run = latest_run(experiment, stage)
    if run is None:
        raise FileNotFoundError(f"no finished {stage} run in {experiment}")
    return run


def run_config(run: Path) -> DictConfig:
    """The run's composed config (``.hydra/config.yaml``)."""
    return OmegaConf.load(run / ".hydra" / "config.yaml")


def datamodule(run: Path, **overrides: Any):
    """The run's PoseDataModule (its data, split and geometry), set up for every split."""
    cfg = run_config(run)
    if "hydra:" in str(OmegaConf.to_container(cfg.paths, resolve=False).get("root_dir")):
        cfg.paths.root_dir = str(REPO)  # the default resolves through Hydra's runtime cwd
    for key, value in overrides.items():
        OmegaConf.update(cfg, f"data.{key}", value)
    dm = instantiate(cfg.data, codec=instantiate(cfg.model.codec))
    dm.prepare_data()
    dm.setup()
    return dm
