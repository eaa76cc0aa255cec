"""``PreemptionCheckpoint``: SIGTERM (what SLURM, Kubernetes and ``kill`` send) or SIGUSR1 (SLURM's
``--signal=USR1@90`` warning) makes ``checkpoints/last.ckpt`` the state after the current
training batch (or after the validation that follows it) and exits with status 143, so
``resume=auto`` continues exactly from there.

Why not Lightning's own SIGTERM handling. Lightning raises ``SIGTERMException`` after any
validation batch as well; a checkpoint written there holds a half-run validation whose metric
state is not saved, so the resumed run's validation logs nothing (``EarlyStopping`` then fails
on every resume) or a score over part of the validation set. A checkpoint is only an exact
resume point where Lightning's restart logic expects one: at a training batch's end when no
validation follows it, or after the validation (``LastCheckpoint`` writes ``last.ckpt`` there).
Which of the two applies is only known once the next batch starts, so on a signal this callback
saves the state at the end of the current batch to ``last.ckpt.pending``, lets a validation
that follows run (and write its checkpoints), and before the next batch either makes the
pending file ``last.ckpt`` (no validation ran) or drops it (the validation's ``last.ckpt`` is
current). A SIGKILL in between leaves the previous ``last.ckpt``, which resumes exactly too.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)

# 128 + SIGTERM: the status a process killed by SIGTERM reports; schedulers read it as
# "terminated", not "succeeded" (Lightning's SIGTERMException would otherwise exit with 0).
PREEMPTED_EXIT_CODE = 128 + int(signal.SIGTERM)


def checkpoint_dir(trainer: pl.Trainer) -> Path:
    """The directory of the run's (first) ModelCheckpoint, where ``last.ckpt`` lives."""
    ckpt = trainer.checkpoint_callback
    dirpath = getattr(ckpt, "dirpath", None) if ckpt is not None else None
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"


class PreemptionCheckpoint(Callback):
    """Stop the run at the next exact resume point when told to (SIGTERM, SIGUSR1), exit 143.

    The handlers are installed when training (or testing) starts, after Lightning registered
    its own, and restored at teardown; a signal only sets a flag. Under DDP the ranks agree on
    the flag at every batch (any rank signalled stops all), so every rank saves and stops at
    the same batch. Saves go through the trainer's CheckpointIO (``SafeCheckpointIO``:
    temporary file + ``os.replace``), so a second kill never leaves a truncated ``last.ckpt``.
    A signal during testing stops before the next test batch (the test is rerun on resume).
    Other SIGUSR1 handlers (Lightning's SLURM auto-requeue) are still called. Needs the
    ``last.ckpt`` writer (``LastCheckpoint``) in the same directory, as configured.

    Args:
        filename: ``last.ckpt``'s name inside the ModelCheckpoint's directory.
        signals: signals (names) treated like SIGTERM, besides SIGTERM itself.
    """

    def __init__(self, filename: str = "last.ckpt", signals: tuple[str, ...] = ("SIGUSR1",)):
        self.filename = filename
        names = ("SIGTERM", *signals)
        self.signals = tuple(dict.fromkeys(getattr(signal, n) for n in names if hasattr(signal, n)))
        self._previous: dict[int, Any] = {}
        self.received: int | None = None  # the first stop signal, until the run ends
        self._pending_step: int | None = None  # global step of last.ckpt.pending
        self._validated_step: int | None = None  # global step of the latest validation
        self.saved_path: Path | None = None

    # ---------------------------------------------------------------- signal routing
    def _handler(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
            log.warning(
                "received %s: stopping after this batch, or after the validation that follows it",
                signal.Signals(signum).name,
            )
        previous = self._previous.get(signum)
        if signum != signal.SIGTERM and callable(previous):
            previous(signum, frame)  # e.g. Lightning's SLURM requeue handler

    def _install(self) -> None:
        for sig in self.signals:
            if sig in self._previous:
                continue
            try:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: nothing to route
                self._previous.pop(sig, None)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install()

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handler:  # only undo what is still ours
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    # ---------------------------------------------------------------- stopping
    def _stop_requested(self, trainer: pl.Trainer) -> bool:
        local = self.received is not None
        if trainer.world_size > 1:  # every rank must stop at the same batch
            return bool(trainer.strategy.reduce_boolean_decision(local, all=False))
        return local

    def _paths(self, trainer: pl.Trainer) -> tuple[Path, Path]:
        last = checkpoint_dir(trainer) / self.filename
        return last, last.with_name(last.name + ".pending")

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        if self._stop_requested(trainer):
            trainer.save_checkpoint(str(self._paths(trainer)[1]))
            self._pending_step = trainer.global_step

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The checkpoint callbacks run after this one and write last.ckpt for this step.
        if not trainer.sanity_checking:
            self._validated_step = trainer.global_step

    def _finish(self, trainer: pl.Trainer, pl_module: pl.LightningModule, at_end: bool) -> None:
        """Make ``last.ckpt`` the exact state of now and stop; return if it cannot be yet."""
        if not self._stop_requested(trainer):
            return
        last, pending = self._paths(trainer)
        step = trainer.global_step
        if self._validated_step == step:  # the validation's last.ckpt is the current state
            if trainer.is_global_zero:
                pending.unlink(missing_ok=True)
        elif self._pending_step == step:  # no validation after the batch: its end state
            if trainer.is_global_zero:
                os.replace(pending, last)
        elif at_end:  # training is complete: any state from now on resumes to the test
            trainer.save_checkpoint(str(last))
        else:  # signalled after the last batch's end: stop after the next one
            return
        trainer.strategy.barrier("PreemptionCheckpoint")
        self.saved_path = last
        stage = getattr(pl_module, "stage_name", type(pl_module).__name__)
        msg = (
            f"stage {stage}: stopped by a signal at global step {step} "
            f"(epoch {trainer.current_epoch}); saved {last}. Rerun with resume=auto to continue."
        )
        log.warning(msg)
        if trainer.is_global_zero:
            print(msg, file=sys.stderr, flush=True)
        raise SIGTERMException(PREEMPTED_EXIT_CODE)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._finish(trainer, pl_module, at_end=False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A signal during the last batch or the final validation.
        self._finish(trainer, pl_module, at_end=True)

    def on_test_batch_start(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._stop_requested(trainer):  # nothing to save: the test is rerun on resume
            raise SIGTERMException(PREEMPTED_EXIT_CODE)
