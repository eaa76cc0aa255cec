"""Multirun support for the train entry point: one failed job never kills a sweep, and every
job's W&B run is finished before the next job starts.

Hydra's basic launcher runs the jobs of ``-m`` in one process and re-raises the first job's
exception, ending the sweep; the Optuna sweeper re-raises once failures pass
``max_failure_rate``. So in MULTIRUN mode :func:`run_guarded` catches the exception, writes it to
``<job dir>/error.txt`` and returns None: the basic sweeper goes on, and Optuna records the trial
as FAIL (a None objective is not float-castable) and goes on as well.
"""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from posehybrid.utils.io import atomic_write_text
from posehybrid.utils.loggers import finish_wandb

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"


def in_multirun() -> bool:
    """True inside a ``-m`` job (any launcher)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not running under Hydra
        return False


def _job_dir(cfg: DictConfig) -> Path:
    from hydra.core.hydra_config import HydraConfig

    try:
        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path(cfg.paths.output_dir)


def _best_score_from_checkpoint(path: str | None) -> float | None:
    """The ModelCheckpoint's best score saved inside a Lightning checkpoint, if any."""
    if not path or not Path(path).is_file():
        return None
    from posehybrid.utils.checkpoint import load_checkpoint

    for key, state in (load_checkpoint(path).get("callbacks") or {}).items():
        if str(key).startswith("ModelCheckpoint") and state.get("best_model_score") is not None:
            return float(state["best_model_score"])
    return None


def objective(metrics: Mapping[str, Any], key: str) -> float | None:
    """The value a sweeper optimises, looked up in ``metrics.json``'s layout.

    ``test/pck@0.2`` -> ``metrics["pck@0.2"]``; a ``best/...`` key is read as is, and falls
    back to the best validation score stored in ``best_checkpoint``. None when missing or
    not finite (Optuna then records the trial as failed instead of ranking a NaN).
    """
    value = metrics.get(key, metrics.get(key.removeprefix("test/")))
    if value is None and key.startswith("best/"):
        value = _best_score_from_checkpoint(metrics.get("best_checkpoint"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def record_failure(cfg: DictConfig, err: BaseException) -> Path:
    """Write the exception and its traceback to ``<job dir>/error.txt``."""
    path = _job_dir(cfg) / ERROR_FILE
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    atomic_write_text(path, text)
    return path


def run_guarded(cfg: DictConfig, job: Callable[[DictConfig], float | None]) -> float | None:
    """Run one job; in MULTIRUN mode a failure is logged (``error.txt``) and returns None.

    A single run re-raises, so ``make train`` still fails loudly. Either way W&B is finished
    (exit code 1 on failure), because the next job in this process would otherwise log into
    the failed job's run.
    """
    try:
        value = job(cfg)
    except Exception as err:
        finish_wandb(exit_code=1)
        if not in_multirun():
            raise
        path = record_failure(cfg, err)
        log.error(
            "job failed, the sweep goes on: %s: %s (traceback in %s)", type(err).__name__, err, path
        )
        return None
    finish_wandb(exit_code=0)
    return value
