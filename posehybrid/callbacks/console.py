"""What a training run tells the console (and ``train.log``): a start-up block of the settings
that matter, and one line per validation.

The progress bar is not kept (``leave: false``), so without :class:`ValidationSummary` nothing
of a run's history would stay on screen. Training lengths are optimiser steps
(``trainer.max_steps``) and validation runs every ``trainer.val_check_interval`` steps, so the
lines count steps, not epochs.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.model_summary import get_human_readable_count

log = logging.getLogger("posehybrid.run")

# Lightning warns on every mid-epoch resume that the dataloader "is not resumable"; posehybrid's
# epoch-keyed sampler (utils/resume.py) replays the interrupted epoch exactly in one process.
RESUME_WARNING = r"You're resuming from a checkpoint that ended before the epoch ended"


def learning_rates(trainer: pl.Trainer, pl_module: pl.LightningModule) -> str:
    """``Adam lr detector 0.001, spatial 0.01``: each parameter group named after the top-level
    submodule that owns its parameters."""
    owner = {id(p): name for name, child in pl_module.named_children() for p in child.parameters()}
    parts = []
    for opt in trainer.optimizers:
        groups = []
        for group in opt.param_groups:
            names = {owner.get(id(p), "other") for p in group["params"]}
            label = ",".join(sorted(names)) if len(opt.param_groups) > 1 else ""
            groups.append(f"{label} {group['lr']:g}".strip())
        parts.append(f"{type(opt).__name__} lr {', '.join(groups)}")
    return "; ".join(parts) or "no optimiser"


def schedule(trainer: pl.Trainer) -> str:
    """``2240 optimiser steps, validation every 112 steps``, from the trainer's settings.

    Not ``trainer.estimated_stepping_batches``: with ``max_epochs`` set it builds the training
    loader before a resumed run's loop state is restored, and the loader's sampler would then
    start at epoch 0 instead of where the run stopped (and only on rank 0, under DDP).
    """
    parts = []
    if trainer.max_steps is not None and trainer.max_steps > 0:
        parts.append(f"{trainer.max_steps} optimiser steps")
    if trainer.max_epochs is not None and trainer.max_epochs > 0:
        parts.append(f"at most {trainer.max_epochs} epoch(s)")
    interval = trainer.val_check_interval
    every = f"every {interval} steps" if isinstance(interval, int) else f"{interval} x per epoch"
    return f"{', '.join(parts) or 'no step limit'}, validation {every}"


def settings_block(trainer: pl.Trainer, pl_module: pl.LightningModule, experiment: str,
                   seed: int) -> str:  # fmt: skip
    """The start-up block (several lines, one log record)."""
    lines = [f"stage {getattr(pl_module, 'stage_name', '?')} of experiment {experiment}"]
    lines.append(f"  run dir    {trainer.default_root_dir}")
    dm = trainer.datamodule
    if dm is not None and hasattr(dm, "records"):
        splits = {k: len(v) for k, v in dm.records().items()}
        where = dm.source.describe(dm.root)
        sizes = ", ".join(f"{k} {n}" for k, n in splits.items())
        lines.append(f"  data       {dm.name} ({where}): {sizes} images; batch {dm.batch_size}")
    children = [
        f"{name} {get_human_readable_count(sum(p.numel() for p in child.parameters()))}"
        for name, child in pl_module.named_children()
        if any(True for _ in child.parameters())
    ]
    codec = getattr(pl_module, "codec", None)
    sizes = ""
    if codec is not None:
        (iw, ih), (hw, hh) = codec.input_size, codec.heatmap_size
        sizes = f", input {iw}x{ih} -> heat-maps {hw}x{hh}"
    lines.append(f"  model      {type(pl_module).__name__}: {', '.join(children)} params{sizes}")
    lines.append(f"  schedule   {schedule(trainer)}")
    lines.append(f"  optimiser  {learning_rates(trainer, pl_module)}")
    device = str(trainer.strategy.root_device)
    if trainer.world_size > 1:
        device += f" x {trainer.world_size} processes"
    lines.append(f"  seed {seed}, device {device}, precision {trainer.precision}")
    return "\n".join(lines)


class RunSettings(Callback):
    """Log the run directory and the settings that matter when fitting starts.

    Args:
        experiment: the experiment name (``${name}``). seed: the run's seed (``${seed}``).
    """

    def __init__(self, experiment: str, seed: int) -> None:
        self.experiment = str(experiment)
        self.seed = int(seed)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.ckpt_path and trainer.world_size == 1:
            warnings.filterwarnings("ignore", message=RESUME_WARNING)
        if not trainer.is_global_zero:
            return
        log.info("%s", settings_block(trainer, pl_module, self.experiment, self.seed))
        if trainer.ckpt_path and trainer.world_size == 1:
            log.info(
                "resuming from %s: the training data continues exactly where it stopped "
                "(same order and augmentations)",
                trainer.ckpt_path,
            )


class ValidationSummary(Callback):
    """One line after each validation: step, mean training loss since the last validation, the
    monitored score and the best so far.

    Args:
        monitor: the validation metric (``${stage.monitor}``, e.g. ``val/pck@0.2``); higher is
            better, as for the checkpoint callback.
    """

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best: float | None = None
        self.best_step: int | None = None
        self._loss_sum: torch.Tensor | None = None  # on the device: no sync per step
        self._loss_steps = 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            loss = loss.detach().float()
            self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
            self._loss_steps += 1

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        score = float(value) if value is not None else math.nan
        ckpt = trainer.checkpoint_callback
        restored = getattr(ckpt, "best_model_score", None)  # a resumed run's best so far
        if self.best is None and restored is not None and math.isfinite(float(restored)):
            self.best = float(restored)
        if math.isfinite(score) and (self.best is None or score > self.best):
            self.best, self.best_step = score, trainer.global_step
        loss = ""
        if self._loss_sum is not None and self._loss_steps:
            loss = f"train/loss {float(self._loss_sum) / self._loss_steps:.4g}  "
        self._loss_sum, self._loss_steps = None, 0
        # max_steps capped by max_epochs; the training loader exists by now, so this builds
        # nothing (every rank asks, in case Lightning ever syncs here)
        total = trainer.estimated_stepping_batches
        if not trainer.is_global_zero:
            return
        best = "-" if self.best is None else f"{self.best:.3f}"
        if self.best_step is not None:
            best += f" (step {self.best_step})"
        # the other validation PCK thresholds too: selecting on @0.1 without a logger
        others = "".join(
            f"  {key} {float(value):.3f}"
            for key, value in sorted(trainer.callback_metrics.items())
            if key.startswith("val/pck@") and key != self.monitor
        )
        log.info(
            "step %d/%d  %s%s %.3f  best %s%s",
            trainer.global_step, total, loss, self.monitor, score, best, others,
        )  # fmt: skip
