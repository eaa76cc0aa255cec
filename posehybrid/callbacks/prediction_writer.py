"""``trainer.predict``'s output: one ``<stem>.json`` (and optionally ``<stem>_overlay.png``) per
image, written as each batch is predicted (Lightning's ``BasePredictionWriter``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter

from posehybrid.utils.io import atomic_write_json

# (file, image (h,w,3) RGB uint8, keypoints (J,2) original px) -> None
OverlayFn = Callable[[Path, Any, Any], None]


class PredictionFiles(BasePredictionWriter):
    """Write each predicted image's record into ``out_dir``.

    Args:
        files: the dataset's files, in index order. stems: file -> output stem.
        record: ``(file, (w, h), keypoints (J,2), confidence (J,), raw (J,)) -> JSON dict``.
        overlay: draws and saves ``<stem>_overlay.png`` (None: no overlays).

    Unreadable files (``ok`` false) are named on stderr and collected in ``failed``.
    """

    def __init__(
        self,
        out_dir: Path,
        files: Sequence[Path],
        stems: dict[Path, str],
        record: Callable[..., dict[str, Any]],
        overlay: OverlayFn | None = None,
    ) -> None:
        super().__init__(write_interval="batch")
        self.out_dir = Path(out_dir)
        self.files = list(files)
        self.stems = stems
        self.record = record
        self.overlay = overlay
        self.written = 0
        self.failed: list[str] = []

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: dict[str, Any],
        batch_indices: Sequence[int] | None,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        from posehybrid.data.images import read_image

        kps = prediction["keypoints"].double().cpu().numpy()
        conf = prediction["confidence"].double().cpu().numpy()
        raw = prediction["raw_score"].double().cpu().numpy()
        for k, index in enumerate(batch["index"].tolist()):
            path = self.files[index]
            if not bool(batch["ok"][k]):
                self.failed.append(path.name)
                print(f"predict: skipped {path.name}: {batch['error'][k]}", file=sys.stderr)
                continue
            size = (int(batch["width"][k]), int(batch["height"][k]))
            stem = self.stems[path]
            record = self.record(path.name, size, kps[k], conf[k], raw[k])
            atomic_write_json(self.out_dir / f"{stem}.json", record)
            if self.overlay is not None:
                # the original is read again here: images of any size cannot travel in a batch
                self.overlay(self.out_dir / f"{stem}_overlay.png", read_image(path), kps[k])
            self.written += 1
