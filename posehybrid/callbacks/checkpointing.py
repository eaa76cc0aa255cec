"""``RunCheckpoint``: Lightning's ModelCheckpoint, fixed for resuming.

* ``last.ckpt`` is written at every checkpoint point (each validation end / epoch end).
  Lightning 2.6 only refreshes it when a top-k ("best") checkpoint was saved in the same step,
  so after the best epoch ``last.ckpt`` goes stale and a killed run would resume from the best
  epoch instead of where it stopped.
* A resumed run (``resume=auto``, ``ckpt_path=PATH``) gets its own Hydra run directory, so the
restored ModelCheckpoint state names another ``dirpath``. Lightning then drops the best score
and keeps only ``best_model_path``, pointing into the old run: the resumed run would save a
"best" from its first epoch whatever the old best was, and test a checkpoint that the
uninterrupted run would not have picked. Here the old run's best checkpoint is copied into the
new directory (atomically) and the full state is restored with its paths remapped, so the
resumed run selects and tests exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

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


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint with an always-current ``last.ckpt`` and a best-model state that carries
    over into a resumed run's directory."""

    def _save_last_anyway(self, trainer: Any, at_train_epoch_end: bool) -> None:
        # Lightning skips when it saved this step already (then last.ckpt is current).
        if (
            self.save_last
            and not self._should_skip_saving_checkpoint(trainer)
            and self._should_save_on_train_epoch_end(trainer) == at_train_epoch_end
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_validation_end(trainer, pl_module)
        self._save_last_anyway(trainer, at_train_epoch_end=False)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._save_last_anyway(trainer, at_train_epoch_end=True)

    @property
    def state_key(self) -> str:
        # Keep Lightning's key ("ModelCheckpoint{...}"): checkpoints stay interchangeable with
        # a plain ModelCheckpoint, and tools that look the state up by that name still find it.
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and Path(old).resolve() != Path(self.dirpath).resolve():
            old_dir, new_dir = Path(old), Path(self.dirpath)
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
                "last_model_path": "",  # this run writes its own last.ckpt
            }
        super().load_state_dict(state_dict)
