"""The resolved model config in every checkpoint, so that any tool rebuilds the models from it.

The stage modules receive their models as objects (Hydra builds them from ``conf/model``), so a
module cannot say how they were built; the training entry point can. ``load_module`` reads the
config back (``posehybrid.model``), checks every ``_target_`` against its allow-list, and
instantiates the models; the module's own settings come from Lightning's ``hyper_parameters``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback


class ModelRecord(Callback):
    """Store ``model_config`` (the resolved ``cfg.model`` as plain containers) in every
    checkpoint's ``posehybrid`` block, under ``model``."""

    def __init__(self, model_config: dict[str, Any]) -> None:
        self.model_config = model_config

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint.setdefault("posehybrid", {})["model"] = self.model_config
