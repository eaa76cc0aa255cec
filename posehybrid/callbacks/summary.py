"""The best validation score of a run, logged once when training ends (``best/val_pck@0.2``), so
the W&B runs table and TensorBoard/CSV compare experiments on the checkpoint that was tested."""

from __future__ import annotations

import math

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback


def best_key(monitor: str) -> str:
    """``val/pck@0.2`` -> ``best/val_pck@0.2``."""
    return "best/" + monitor.replace("/", "_")


class BestScoreCallback(Callback):
    """Log ``best/<monitor>`` = the ModelCheckpoint's best score at the end of fit."""

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        ckpt = trainer.checkpoint_callback
        score = getattr(ckpt, "best_model_score", None)
        if ckpt is None or score is None or not ckpt.monitor:
            return
        value = float(score)
        if not math.isfinite(value) or not trainer.is_global_zero:
            return
        for lg in trainer.loggers:
            lg.log_metrics({best_key(ckpt.monitor): value}, step=trainer.global_step)
