"""Shared fixtures of the experiment-workflow tests: one tiny pipeline, trained once per session.

``tiny_pipeline`` runs ``python -m posehybrid.train stage=joint`` on 32 synthetic images (the
part detector and spatial stages are trained first by auto-upstream), with the default W&B
logger in offline mode and W&B pointed at an unreachable server, so nothing can use the
network. Every workflow test reads these runs instead of training its own.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = "tiny"
# Tiny but complete: 16 train (14 + 2 val) and 16 test images, 2 batches of 8 per epoch.
TINY = [
    "data.n_images=32",
    "data.batch_size=8",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
]


@dataclass(frozen=True)
class TinyPipeline:
    """Where the session's tiny pipeline lives."""

    log_dir: Path
    data_dir: Path
    env: dict[str, str]
    console: str = ""  # what the pipeline's command printed (stdout + stderr)

    @property
    def experiment_dir(self) -> Path:
        return self.log_dir / EXPERIMENT

    def run(self, stage: str) -> Path:
        """The (single) run directory of ``stage``."""
        runs = sorted((self.experiment_dir / stage).glob("*/metrics.json"))
        assert len(runs) == 1, f"expected one finished {stage} run, found {runs}"
        return runs[0].parent

    def checkpoint(self, stage: str) -> Path:
        return self.run(stage) / "checkpoints" / "best.ckpt"

    def paths(self, log_dir: Path | None = None) -> list[str]:
        """Overrides that put a new run's outputs in ``log_dir`` and share the data cache."""
        return [f"paths.log_dir={log_dir or self.log_dir}", f"paths.data_dir={self.data_dir}"]


def workflow_env(home: Path) -> dict[str, str]:
    """Environment of every subprocess: W&B offline, silent, and unable to reach a network."""
    env = dict(os.environ)
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_BASE_URL="http://127.0.0.1:9",  # discard port: any network attempt fails fast
        WANDB_CONFIG_DIR=str(home / "wandb_config"),
        WANDB_CACHE_DIR=str(home / "wandb_cache"),
        WANDB_DATA_DIR=str(home / "wandb_data"),
        HYDRA_FULL_ERROR="1",
        PYTHONWARNINGS="ignore",
    )
    env.pop("WANDB_API_KEY", None)
    return env


def train(args: list[str], env: dict[str, str], timeout: float = 240, check: bool = True):
    """``python -m posehybrid.train ARGS`` in the repository; output captured for messages."""
    proc = subprocess.run(
        [sys.executable, "-m", "posehybrid.train", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"posehybrid.train {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> TinyPipeline:
    root = tmp_path_factory.mktemp("workflow")
    pipeline = TinyPipeline(root / "outputs", root / "data", workflow_env(root))
    proc = train(["stage=joint", f"name={EXPERIMENT}", *TINY, *pipeline.paths()], pipeline.env)
    return dataclasses.replace(pipeline, console=proc.stdout + proc.stderr)
