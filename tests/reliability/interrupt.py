"""Test-only callbacks, added to real runs with ``+callbacks.<name>._target_=...``.

* :class:`Interrupt` sends the run's own process a signal at an exact point (during a training
  batch, a validation batch or a test batch), so a kill lands where a test wants it on any
  machine, however loaded; the signal itself is real (SIGKILL ends the process on the spot).
* :class:`Hold` blocks a run at a training step, announcing it with a marker file, until a
  stop signal arrives from outside: the test gets a live run to look at and signal.
* :class:`DumpWeights` writes each rank's final weights (DDP tests compare every rank).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

POINTS = ("train", "validation", "test")


class Interrupt(Callback):
    """At ``point`` (``train``: the training batch at global step ``step``; ``validation``:
    after the first batch of the validation at ``step``; ``test``: after the first test
    batch), send this process ``signal_name``."""

    def __init__(self, point: str, signal_name: str, step: int = 0) -> None:
        assert point in POINTS, point
        self.point, self.step = point, int(step)
        self.signum = int(getattr(signal, signal_name))
        self.sent = False

    def _fire(self) -> None:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.point == "train" and trainer.global_step == self.step:
            self._fire()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        if self.point == "validation" and trainer.global_step == self.step and batch_idx == 0:
            self._fire()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        if self.point == "test" and batch_idx == 0:
            self._fire()


class Hold(Callback):
    """Before the training batch at global step ``step``, write ``marker`` and wait (at most
    ``timeout`` seconds) until this process receives SIGTERM or SIGUSR1."""

    def __init__(self, marker: str, step: int = 2, timeout: float = 300.0) -> None:
        self.marker, self.step, self.timeout = Path(marker), int(step), float(timeout)
        self._signalled = False

    def _note(self, signum: int, frame: Any) -> None:
        self._signalled = True
        if callable(self._previous.get(signum)):
            self._previous[signum](signum, frame)  # the pre-emption handler

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step != self.step or self.marker.exists():
            return
        self._previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
        for s in self._previous:
            signal.signal(s, self._note)
        self.marker.write_text(f"{os.getpid()}\n")
        deadline = time.monotonic() + self.timeout
        while not self._signalled and time.monotonic() < deadline:
            time.sleep(0.05)
        for s, handler in self._previous.items():
            signal.signal(s, handler)


class DumpWeights(Callback):
    """At the end of training, save this rank's weights to ``<dirpath>/weights_rank<r>.pt``."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(
            {"state_dict": state, "global_step": trainer.global_step},
            self.dirpath / f"weights_rank{trainer.global_rank}.pt",
        )
