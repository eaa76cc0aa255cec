"""Checkpoint callbacks that make a resumed run continue exactly where the old one stopped.

* :class:`LastCheckpoint` writes ``last.ckpt`` at every checkpoint point (each validation end,
  or each epoch end when validating once an epoch) and where the fit ends. Lightning 2.6's ``save_last=True`` only
  refreshes it when a top-k ("best") checkpoint was saved in the same step, so after the best
  validation ``last.ckpt`` goes stale and a killed run would resume from the best step instead
  of where it stopped. This is a plain ``ModelCheckpoint`` without a monitor, keeping one file.
* :class:`RunCheckpoint` (the best checkpoint). A resumed run (``resume=auto``,
  ``ckpt_path=PATH``) gets its own Hydra run directory, so the restored ModelCheckpoint state
  names another ``dirpath``. Lightning then drops the best score and keeps only
  ``best_model_path``, pointing into the old run: the resumed run would save a "best" from its
  first validation whatever the old best was, and test a checkpoint that the uninterrupted run
  would not have picked. Here the old run's best checkpoint is copied into the new directory
  (atomically) and the full state is restored with its paths remapped, so the resumed run
  selects and tests exactly what the uninterrupted run would have.
* :class:`StageClock` carries a stage's wall time across interruptions (``metrics.json``'s
  ``minutes`` and ``fit_minutes`` are sums over all parts: the ablation's control row is
  budgeted from ``fit_minutes``).
* :class:`ConfiguredLearningRate`: on resume, a learning rate that differs from the
  checkpoint's (``resume=auto stage.module.optimizer.lr=1e-4`` after a divergence) replaces the
  restored one, instead of being silently overwritten by the optimiser state.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from posehybrid.utils.io import atomic_write

log = logging.getLogger(__name__)


def _adopt(path: str, old_dir: Path, new_dir: Path) -> str:
    """Copy ``path`` (a checkpoint inside ``old_dir``) into ``new_dir``; return the new path."""
    if not path:
        return path
    src = Path(path)
    if src.parent.resolve() != old_dir.resolve() or not src.is_file():
        return path  # elsewhere or gone: leave it as Lightning would
    dst = new_dir / src.name
    if not dst.exists():
        atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))
        log.info("resume: copied %s to %s", src, dst)
    return str(dst)


def _moved(state_dict: dict[str, Any], dirpath: Any) -> bool:
    old = state_dict.get("dirpath")
    return bool(old and dirpath and Path(old).resolve() != Path(dirpath).resolve())


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint (the best model) whose state carries over into a resumed run's
    directory."""

    @property
    def state_key(self) -> str:
        # Keep Lightning's key ("ModelCheckpoint{...}"): checkpoints stay interchangeable with
        # a plain ModelCheckpoint, and tools that look the state up by that name still find it.
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if _moved(state_dict, self.dirpath):
            old_dir, new_dir = Path(state_dict["dirpath"]), Path(str(self.dirpath))
            remap = {p: _adopt(p, old_dir, new_dir) for p in state_dict.get("best_k_models", {})}
            for key in ("best_model_path", "kth_best_model_path"):
                path = state_dict.get(key) or ""
                remap.setdefault(path, _adopt(path, old_dir, new_dir))
            state_dict = {
                **state_dict,
                "dirpath": self.dirpath,
                "best_model_path": remap.get(state_dict.get("best_model_path") or "", ""),
                "kth_best_model_path": remap.get(state_dict.get("kth_best_model_path") or "", ""),
                "best_k_models": {
                    remap[p]: v for p, v in state_dict.get("best_k_models", {}).items()
                },
                "last_model_path": "",  # LastCheckpoint writes this run's last.ckpt
            }
        super().load_state_dict(state_dict)


class LastCheckpoint(ModelCheckpoint):
    """``<dirpath>/last.ckpt`` at every checkpoint point: a ModelCheckpoint without a monitor
    that keeps one file, overwritten (atomically, through ``SafeCheckpointIO``) each time."""

    def __init__(self, dirpath: str | Path, filename: str = "last") -> None:
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=None,
            save_top_k=1,
            save_last=False,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        )

    @property
    def state_key(self) -> str:
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # A resumed run writes its own last.ckpt; the old run's path must not be carried over
        # (nothing of it is needed, and Lightning would warn that the directory changed).
        if not _moved(state_dict, self.dirpath):
            super().load_state_dict(state_dict)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Where the fit ended, also when steps after the last validation were not validated,
        # or when a resumed run had nothing left to train (it was stopped during the test).
        trainer.save_checkpoint(str(Path(str(self.dirpath)) / f"{self.filename}.ckpt"))


class StageClock(Callback):
    """Wall time of a stage in parts: each interrupted run stores, in its checkpoints, the
    seconds it had run (stage and fit) when the checkpoint was written; a resumed run adds its
    own part.

    Args:
        started: when this run's stage began (``time.time()``).
    """

    def __init__(self, started: float) -> None:
        self.started = float(started)
        self.fit_started: float | None = None
        self.earlier: list[float] = []  # seconds of the earlier parts, oldest first
        self.earlier_fit: list[float] = []
        self._loaded: dict[str, Any] | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Only the fit's restore (the resumed checkpoint, loaded just before) counts: testing
        # the best checkpoint loads its callback states too, which must not change the parts.
        if self._loaded is not None:
            self.earlier = [float(s) for s in self._loaded["seconds"]]
            self.earlier_fit = [float(s) for s in self._loaded["fit_seconds"]]
        self.fit_started = time.time()

    def state_dict(self) -> dict[str, Any]:
        now = time.time()
        fit = now - self.fit_started if self.fit_started is not None else 0.0
        return {
            "seconds": [*self.earlier, now - self.started],
            "fit_seconds": [*self.earlier_fit, fit],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = dict(state_dict)


def _initial_lrs(trainer: pl.Trainer) -> list[list[float]]:
    """Each optimiser's param-group base learning rates (``initial_lr`` once a scheduler has
    been attached, else ``lr``)."""
    return [
        [float(g.get("initial_lr", g["lr"])) for g in opt.param_groups]
        for opt in trainer.optimizers
    ]


class ConfiguredLearningRate(Callback):
    """On resume, let the configured learning rates win over the checkpoint's.

    The optimisers are built from the config (``on_fit_start`` sees their fresh base rates),
    then Lightning loads the checkpoint's optimiser and scheduler states over them. Where a
    param group's configured base rate differs from the restored one, the group's current rate
    and the schedulers' ``base_lrs`` are scaled by configured/restored: the schedule continues
    from the restored step with the new base rate. Equal rates are left alone (the resumed run
    stays an exact continuation).
    """

    def __init__(self) -> None:
        self._configured: list[list[float]] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._configured = _initial_lrs(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.ckpt_path:
            return
        restored = _initial_lrs(trainer)
        for i, (opt, new, old) in enumerate(
            zip(trainer.optimizers, self._configured, restored, strict=True)
        ):
            for j, (group, lr_new, lr_old) in enumerate(
                zip(opt.param_groups, new, old, strict=True)
            ):
                if lr_new == lr_old or lr_old <= 0:
                    continue
                group["lr"] *= lr_new / lr_old
                if "initial_lr" in group:
                    group["initial_lr"] = lr_new
                for config in trainer.lr_scheduler_configs:
                    if config.scheduler.optimizer is opt and hasattr(config.scheduler, "base_lrs"):
                        config.scheduler.base_lrs[j] = lr_new
                log.info(
                    "resume: optimiser %d group %d: configured learning rate %g replaces the "
                    "checkpoint's %g (now %g)",
                    i,
                    j,
                    lr_new,
                    lr_old,
                    group["lr"],
                )
