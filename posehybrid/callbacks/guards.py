"""Callbacks that keep a run's outputs trustworthy when training goes wrong.

* :class:`FiniteLossGuard`: a NaN/inf training loss stops the run with a message naming the
  stage and the global step, before the bad step reaches the weights, and before any
  checkpoint could be written from them: the last good ``last.ckpt``/``best.ckpt`` stay.
* :class:`PreemptionCheckpoint`: SIGTERM (what SLURM, Kubernetes and ``kill`` send) or SIGUSR1
  (SLURM's ``--signal=USR1@90`` warning) saves ``checkpoints/last.ckpt`` atomically at the next
  batch boundary and exits with status 143, so ``resume=auto`` continues from there.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)

# 128 + SIGTERM: the status a process killed by SIGTERM reports; schedulers read it as
# "terminated", not "succeeded" (Lightning's SIGTERMException would otherwise exit with 0).
PREEMPTED_EXIT_CODE = 128 + int(signal.SIGTERM)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def _stage(module: pl.LightningModule) -> str:
    return str(getattr(module, "stage_name", type(module).__name__))


def _checkpoint_dir(trainer: pl.Trainer) -> Path:
    ckpt = trainer.checkpoint_callback
    dirpath = getattr(ckpt, "dirpath", None) if ckpt is not None else None
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"


class FiniteLossGuard(Callback):
    """Stop training on the first non-finite loss.

    Args:
        every_n_steps: how often the loss is read on the host. 1 (default) checks each step
            before ``backward``, so a bad step never reaches the weights; on CPU this is free,
            on CUDA it is one host sync per step (the progress bar already does one). With
            N > 1 the check is a device-side flag, read every N steps, before validation and
            always before a checkpoint is written: the run may train up to N-1 steps past the
            bad one, but no checkpoint is ever saved from those weights.
    """

    def __init__(self, every_n_steps: int = 1) -> None:
        if int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = int(every_n_steps)
        self._first_bad: torch.Tensor | None = None  # global step of the first bad loss, or -1
        self._bad_value: torch.Tensor | None = None

    def _fail(
        self, trainer: pl.Trainer, module: pl.LightningModule, step: int, value: float
    ) -> None:
        last = _checkpoint_dir(trainer) / "last.ckpt"
        kept = (
            f"the last good checkpoint {last} is kept"
            if last.is_file()
            else ("no checkpoint had been saved yet")
        )
        raise NonFiniteLossError(
            f"stage {_stage(module)}: the training loss is {value} at global step {step} "
            f"(epoch {trainer.current_epoch}); training stopped and {kept}. Lower the learning "
            f"rate (stage.module.optimizer.lr) or check the data for bad labels."
        )

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        loss = loss.detach()
        step = trainer.global_step
        if self.every_n_steps == 1:
            value = float(loss.float().sum())
            if not math.isfinite(value):
                self._fail(trainer, pl_module, step, value)
            return
        bad = ~torch.isfinite(loss).all()
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.int64, device=loss.device)
            self._bad_value = torch.zeros((), dtype=torch.float32, device=loss.device)
        new = bad & (self._first_bad < 0)
        self._first_bad = torch.where(new, torch.full_like(self._first_bad, step), self._first_bad)
        self._bad_value = torch.where(new, loss.float().sum(), self._bad_value)
        if (step + 1) % self.every_n_steps == 0:
            self._check(trainer, pl_module)

    def _check(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Read the device-side flag (one host sync) and fail if any loss was bad."""
        if self._first_bad is None:
            return
        step = int(self._first_bad.item())
        if step >= 0:
            assert self._bad_value is not None
            self._fail(trainer, module, step, float(self._bad_value.item()))

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer, pl_module)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # The last line of defence: raising here aborts the save, so no checkpoint is ever
        # written from weights that a non-finite step has touched.
        self._check(trainer, pl_module)


class PreemptionCheckpoint(Callback):
    """Save ``last.ckpt`` when the run is told to stop (SIGTERM, SIGUSR1), then exit 143.

    Lightning turns SIGTERM into ``trainer.received_sigterm`` and raises ``SIGTERMException``
    at the next batch boundary (after the optimiser step, so the state is consistent); this
    callback saves the checkpoint in ``on_exception``. SIGUSR1 is routed the same way (and
    still reaches Lightning's SLURM auto-requeue handler when that is active). The save goes
    through the trainer's CheckpointIO (``SafeCheckpointIO``: temporary file + ``os.replace``),
    so a second kill during the save leaves the previous ``last.ckpt`` intact.

    Args:
        filename: checkpoint name inside the ModelCheckpoint's directory.
        signals: extra signals (names) treated like SIGTERM; SIGTERM itself is Lightning's.
    """

    def __init__(self, filename: str = "last.ckpt", signals: tuple[str, ...] = ("SIGUSR1",)):
        self.filename = filename
        self.signals = tuple(getattr(signal, name) for name in signals if hasattr(signal, name))
        self._previous: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None
        self.saved_path: Path | None = None

    # ---------------------------------------------------------------- signal routing
    def _handler(self, signum: int, frame: Any) -> None:
        log.warning("received signal %s: checkpointing at the next batch boundary", signum)
        if self._trainer is not None:
            # The same flag SIGTERM sets: Lightning's loops raise SIGTERMException on it.
            self._trainer._signal_connector.received_sigterm = True
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)  # e.g. Lightning's SLURM requeue handler

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After Lightning registered its own handlers: chain them, never replace them.
        self._trainer = trainer
        for sig in self.signals:
            try:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: nothing to route
                self._previous.pop(sig, None)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handler:  # only undo what is still ours
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}
        self._trainer = None

    # ---------------------------------------------------------------- saving
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        stopping = isinstance(exception, SIGTERMException) or trainer.received_sigterm
        if not stopping or trainer.state.fn != TrainerFn.FITTING:
            return
        if isinstance(exception, NonFiniteLossError):  # never save weights after a bad step
            return
        path = _checkpoint_dir(trainer) / self.filename
        try:
            trainer.save_checkpoint(str(path))
        except Exception as err:  # the run is ending anyway; say why resuming will lack it
            log.error("pre-emption: could not save %s: %s", path, err)
            return
        self.saved_path = path
        msg = (
            f"stage {_stage(pl_module)}: stopped by a signal at global step "
            f"{trainer.global_step} (epoch {trainer.current_epoch}); saved {path}. "
            f"Rerun with resume=auto to continue."
        )
        log.warning(msg)
        print(msg, file=sys.stderr, flush=True)
        if isinstance(exception, SystemExit) and exception.code in (None, 0):
            exception.code = PREEMPTED_EXIT_CODE
