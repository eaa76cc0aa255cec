"""Logger glue for the training run: config logging at start, summary + finish at the end."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf


def log_run_config(loggers: list[Logger], cfg: DictConfig) -> None:
    """Log the full resolved config (plain containers) to every logger."""
    config = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers:
        lg.log_hyperparams(config)


def finalize_loggers(loggers: list[Logger], metrics: dict[str, Any]) -> None:
    """Put test metrics into the W&B summary and finish the run, so multirun jobs never merge."""
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            summary = {f"test/{k}": v for k, v in metrics.items() if isinstance(v, float)}
            lg.experiment.summary.update(summary)
            lg.experiment.finish()
