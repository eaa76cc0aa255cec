"""``<run>/data.json``: the dataset, root, split sizes and image files a training run used;
and the data's fingerprint in every checkpoint.

``eval`` reads it to warn when test images were in the checkpoint's training split, and
``compare`` reads the test-set size from it (see :mod:`posehybrid.provenance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from posehybrid.provenance import write_data_record


class DataRecord(Callback):
    """Write ``data.json`` into ``dirpath`` (the run directory) when fitting starts.

    Args:
        dirpath: the run directory (default: the trainer's ``default_root_dir``).
    """

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath
        self.written: Path | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        dm = trainer.datamodule
        if not trainer.is_global_zero or dm is None or not hasattr(dm, "records"):
            return
        self.written = write_data_record(dm, self.dirpath or trainer.default_root_dir)


class DataFingerprint(Callback):
    """Store the data's fingerprint and identity (:func:`posehybrid.provenance.data_identity`)
    in every checkpoint's ``posehybrid`` block, as ``metrics.json`` records them, so that a
    checkpoint says which data it was trained on wherever it is copied to."""

    def __init__(self, fingerprint: str, identity: dict[str, Any]) -> None:
        self.fingerprint = fingerprint
        self.identity = identity

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        block = checkpoint.setdefault("posehybrid", {})
        block["data"] = {"fingerprint": self.fingerprint, "identity": self.identity}
