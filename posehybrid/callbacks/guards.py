"""Callbacks that keep a run's outputs trustworthy when training goes wrong.

* :class:`FiniteLossGuard`: a NaN/inf training loss, or one that grew by orders of magnitude
  over its early median (divergence: a far too high learning rate keeps the loss finite at
  1e24-1e33), stops the run with a message naming the stage and the global step, before the
  bad step reaches the weights and before any checkpoint could be written from them: the last
  good ``last.ckpt``/``best.ckpt`` stay.
* :class:`PreemptionCheckpoint` (:mod:`posehybrid.callbacks.preemption`): SIGTERM/SIGUSR1 save
  ``last.ckpt`` at the next batch boundary and exit 143.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from posehybrid.callbacks.preemption import (
    PREEMPTED_EXIT_CODE,
    PreemptionCheckpoint,
    checkpoint_dir,
)

__all__ = ["PREEMPTED_EXIT_CODE", "FiniteLossGuard", "NonFiniteLossError", "PreemptionCheckpoint"]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite, or diverged (grew by ``divergence_factor``)."""


def _stage(module: pl.LightningModule) -> str:
    return str(getattr(module, "stage_name", type(module).__name__))


def _last_good(trainer: pl.Trainer) -> str:
    """Where the last good state is: this run's ``last.ckpt``, else the checkpoint it resumed
    from (a continuation that fails before its own first checkpoint still has that one)."""
    last = checkpoint_dir(trainer) / "last.ckpt"
    if last.is_file():
        return f"the last good checkpoint {last} is kept"
    if trainer.ckpt_path:
        return f"the last good checkpoint is the one this run resumed from, {trainer.ckpt_path}"
    return "no checkpoint had been saved yet"


class FiniteLossGuard(Callback):
    """Stop training on the first non-finite or diverged loss.

    Args:
        every_n_steps: how often the loss is read on the host. 1 (default) checks each step
            before ``backward``, so a bad step never reaches the weights; on CPU this is free,
            on CUDA it is one host sync per step (the progress bar already does one). With
            N > 1 the check is a device-side flag, read every N steps, before validation and
            always before a checkpoint is written: the run may train up to N-1 steps past the
            bad one, but no checkpoint is ever saved from those weights.
        divergence_factor: a loss above this many times the median of the first
            ``reference_steps`` losses is divergence, treated like a NaN (null: off). Until
            ``reference_steps`` losses are seen, the median of those seen so far is the
            reference, so a loss that explodes on the second step is caught there.
        reference_steps: how many of the run's first losses make the reference. They are
            stored in the checkpoint, so a resumed run keeps the original reference.
    """

    def __init__(
        self,
        every_n_steps: int = 1,
        divergence_factor: float | None = 1.0e4,
        reference_steps: int = 20,
    ) -> None:
        if int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        if divergence_factor is not None and not float(divergence_factor) > 1:
            raise ValueError(f"divergence_factor must be > 1 or null, got {divergence_factor}")
        if int(reference_steps) < 1:
            raise ValueError(f"reference_steps must be >= 1, got {reference_steps}")
        self.every_n_steps = int(every_n_steps)
        self.divergence_factor = None if divergence_factor is None else float(divergence_factor)
        self.reference_steps = int(reference_steps)
        self._early: list[torch.Tensor] = []  # the first reference_steps losses (0-d tensors)
        self._first_bad: torch.Tensor | None = None  # global step of the first bad loss, or -1
        self._bad_value: torch.Tensor | None = None
        self._bad_reference: torch.Tensor | None = None  # the reference it was compared with

    # ---------------------------------------------------------------- failing
    def _fail(
        self,
        trainer: pl.Trainer,
        module: pl.LightningModule,
        step: int,
        value: float,
        reference: float | None,
    ) -> None:
        what = f"the training loss is {value:.4g} at global step {step}"
        if math.isfinite(value) and reference is not None:
            what += (
                f", {value / max(reference, 1e-30):.3g} times the median of its first "
                f"{len(self._early)} steps ({reference:.4g}): training diverged"
            )
        raise NonFiniteLossError(
            f"stage {_stage(module)}: {what} (epoch {trainer.current_epoch}); training stopped "
            f"and {_last_good(trainer)}. Lower the learning rate and resume with it "
            f"(resume=auto stage.module.optimizer.lr=..., or stage.module.param_groups."
            f"detector.lr/.spatial.lr for the joint stage: the configured learning rate replaces the "
            f"checkpoint's on resume), or check the data for bad labels."
        )

    def _reference(self) -> torch.Tensor | None:
        if self.divergence_factor is None or not self._early:
            return None
        return torch.stack(self._early).median()

    # ---------------------------------------------------------------- checking
    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        loss = loss.detach().float().sum()
        step = trainer.global_step
        if self._early and self._early[0].device != loss.device:  # restored on the CPU
            self._early = [v.to(loss.device) for v in self._early]
        reference = self._reference()
        if self.every_n_steps == 1:
            value = float(loss)
            ref = None if reference is None else float(reference)
            if not math.isfinite(value) or (
                ref is not None and value > self.divergence_factor * ref  # type: ignore[operator]
            ):
                self._fail(trainer, pl_module, step, value, ref)
        else:
            bad = ~torch.isfinite(loss)
            if reference is not None:
                bad = bad | (loss > self.divergence_factor * reference)
            if self._first_bad is None:
                self._first_bad = torch.full((), -1, dtype=torch.int64, device=loss.device)
                self._bad_value = torch.zeros((), dtype=torch.float32, device=loss.device)
                self._bad_reference = torch.full((), -1.0, device=loss.device)
            new = bad & (self._first_bad < 0)
            self._first_bad = torch.where(
                new, torch.full_like(self._first_bad, step), self._first_bad
            )
            self._bad_value = torch.where(new, loss, self._bad_value)
            if reference is not None:
                self._bad_reference = torch.where(new, reference, self._bad_reference)
        if len(self._early) < self.reference_steps:
            self._early.append(loss)  # a finite, undiverged loss (a bad one failed above)
        if self.every_n_steps > 1 and (step + 1) % self.every_n_steps == 0:
            self._check(trainer, pl_module)

    def _check(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Read the device-side flag (one host sync) and fail if any loss was bad."""
        if self._first_bad is None:
            return
        step = int(self._first_bad.item())
        if step >= 0:
            assert self._bad_value is not None and self._bad_reference is not None
            ref = float(self._bad_reference.item())
            self._fail(
                trainer, module, step, float(self._bad_value.item()), ref if ref >= 0 else None
            )

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer, pl_module)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # The last line of defence: raising here aborts the save, so no checkpoint is ever
        # written from weights that a non-finite or diverged step has touched.
        self._check(trainer, pl_module)

    # ---------------------------------------------------------------- resuming
    def state_dict(self) -> dict[str, Any]:
        # The reference travels with the checkpoint: a resumed run judges divergence against
        # the same early losses as the uninterrupted one.
        return {"early_losses": [float(v) for v in self._early]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._early = [torch.tensor(float(v)) for v in state_dict["early_losses"]]
