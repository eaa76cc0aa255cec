"""Shared pieces of the reliability tests: tiny, fast, deterministic training runs.

``TINY`` follows ``tests/workflow/conftest.py`` (32 synthetic images, no workers)
without the slow per-epoch callbacks (image grids, rich progress bar), one thread per run so
that runs started side by side on two cores stay bit-for-bit comparable, and W&B off.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = 7
TINY = [
    "stage=part_detector",
    "data.n_images=32",
    "data.batch_size=4",  # 14 training images: 3 full batches, 2 used per epoch
    "data.num_workers=0",
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=2",
    "trainer.deterministic=true",
    "trainer.enable_model_summary=false",
    "+trainer.enable_progress_bar=false",
    "~callbacks.visualise",
    "~callbacks.rich_progress_bar",
    "logger=none",
    "threads=1",
    f"seed={SEED}",
]


def env_for(home: Path) -> dict[str, str]:
    """Subprocess environment: W&B offline and unable to reach a network; short Hydra errors."""
    env = dict(os.environ)
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_BASE_URL="http://127.0.0.1:9",
        WANDB_CONFIG_DIR=str(home / "wandb_config"),
        WANDB_CACHE_DIR=str(home / "wandb_cache"),
        WANDB_DATA_DIR=str(home / "wandb_data"),
        PYTHONWARNINGS="ignore",
    )
    env.pop("WANDB_API_KEY", None)
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``python -m posehybrid.train ARGS`` in the background, stdout+stderr to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "posehybrid.train", *args],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen, timeout: float) -> None:
    """Poll until ``predicate()`` (every 20 ms); fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before the condition")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _keep_process_state(monkeypatch: pytest.MonkeyPatch):
    """In-process training (the train CLI, the toy trainer) sets the torch thread count and
    Lightning's seed variables; give the rest of the test session its state back."""
    import torch

    threads = torch.get_num_threads()
    for key in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
        monkeypatch.delenv(key, raising=False)  # restored to its old value afterwards
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def reliability_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Log and data directories of the reliability runs; the synthetic data is made once here
    so that runs started in parallel never generate it concurrently."""
    from posehybrid.data.sources import SyntheticSource

    home = tmp_path_factory.mktemp("reliability")
    SyntheticSource(n_images=32, seed=0, image_size=128).prepare(home / "data" / "synthetic")
    return home


def paths(home: Path) -> list[str]:
    return [f"paths.log_dir={home / 'outputs'}", f"paths.data_dir={home / 'data'}"]


def run_train_inprocess(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> tuple[int, str]:
    """The train CLI in this process (no import cost): (exit code, stderr)."""
    from posehybrid.train import main

    monkeypatch.setattr(sys, "argv", ["train", *args])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    # The glibc allocator tuning is for training processes, not for the test session.
    monkeypatch.setattr("posehybrid.utils.runtime.tune_allocator", lambda: False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    code = 0
    try:
        main()
    except SystemExit as exit_info:
        code = exit_info.code if isinstance(exit_info.code, int) else 1
    finally:
        # Hydra pointed the root logger at this test's captured stderr: undo that, so later
        # tests never log into a closed stream.
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:], root.level = handlers, level
    return code, capsys.readouterr().err


# ------------------------------------------------------------------ the three-stage matrix
def interrupt(point: str, signal_name: str, step: int = 0) -> list[str]:
    """Overrides adding :class:`tests.reliability.interrupt.Interrupt` to a run."""
    return [
        "+callbacks.interrupt._target_=tests.reliability.interrupt.Interrupt",
        f"+callbacks.interrupt.point={point}",
        f"+callbacks.interrupt.signal_name={signal_name}",
        f"+callbacks.interrupt.step={step}",
    ]


STAGES = ("part_detector", "spatial", "joint")
MATRIX = [
    *(a for a in TINY if not a.startswith(("stage=", "logger="))),
    "data.val_size=8",  # 8 train images (2 batches), 8 val (2 batches), 16 test (4 batches)
    "logger=csv",
    "model.spatial.kernel_size=15",  # small and fast; every stage uses the same model config
    "model.spatial_graph.mode=tree",
]


def stage_args(home: Path, stage: str, name: str, init: dict[str, Path]) -> list[str]:
    """A ``MATRIX`` run of ``stage``, starting from ``init``'s upstream checkpoint when given
    (else the stage trains its missing upstream stages itself)."""
    args = [f"stage={stage}", *MATRIX, *paths(home), f"name={name}"]
    upstream = {"spatial": "part_detector", "joint": "spatial"}.get(stage)
    if upstream in init:
        args.append(f"stage.init.{upstream}={init[upstream]}")
    return args


def stage_runs(home: Path, name: str, stage: str) -> list[Path]:
    return sorted((home / "outputs" / name / stage).glob("*/"), key=lambda p: p.name)


def metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="session")
def references(reliability_home: Path) -> dict[str, Path]:
    """The uninterrupted run of each stage with ``MATRIX`` (once per session, in-process)."""
    home = reliability_home
    mp, cap = pytest.MonkeyPatch(), _Capture()
    refs: dict[str, Path] = {}
    init: dict[str, Path] = {}
    try:
        for stage in STAGES:
            code, err = run_train_inprocess(stage_args(home, stage, "m_ref", init), mp, cap)
            assert code == 0, err[-3000:]
            (refs[stage],) = stage_runs(home, "m_ref", stage)
            init[stage] = refs[stage] / "checkpoints" / "best.ckpt"
    finally:
        mp.undo()
    return refs


class _Capture:
    """``capsys`` for a session fixture (which cannot use it): the output is not needed."""

    def readouterr(self) -> Any:
        class Out:
            err = ""

        return Out()
