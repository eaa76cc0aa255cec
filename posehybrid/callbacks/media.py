"""Image helpers shared by the callbacks: colour maps, overlays, captions, and one function that
sends an image to whichever loggers can show images (W&B, TensorBoard) or else to a PNG file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import cv2
import lightning.pytorch as pl
import numpy as np

from posehybrid.data.draw import save_image

log = logging.getLogger(__name__)

SavePng = Literal["auto", "always", "never"]


def colourise(values: np.ndarray, colormap: int = cv2.COLORMAP_INFERNO) -> np.ndarray:
    """(H, W) floats in [0, 1] -> (H, W, 3) uint8 RGB."""
    grey = np.clip(np.nan_to_num(values) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, colormap), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend an (h, w) map in [0, 1], resized to the image, over an (H, W, 3) uint8 image."""
    h, w = image.shape[:2]
    heat = cv2.resize(heat.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    blend = (1 - alpha) * image.astype(np.float32) + alpha * colourise(heat).astype(np.float32)
    return np.clip(blend, 0, 255).astype(np.uint8)


def caption(image: np.ndarray, text: str, height: int = 12) -> np.ndarray:
    """``image`` with a white strip of black text on top (panel titles, edge names)."""
    w = image.shape[1]
    strip = np.full((height, w, 3), 255, np.uint8)
    scale = 0.3 if height < 16 else 0.4
    cv2.putText(strip, text, (2, height - 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1)
    return np.concatenate([strip, image], axis=0)


def image_loggers(trainer: pl.Trainer) -> list[Any]:
    """The trainer's loggers that can display images."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    return [lg for lg in trainer.loggers if isinstance(lg, (WandbLogger, TensorBoardLogger))]


def publish_image(
    trainer: pl.Trainer,
    key: str,
    image: np.ndarray,
    png_path: Path | None,
    save_png: SavePng = "auto",
    caption_text: str | None = None,
) -> Path | None:
    """Log ``image`` (H, W, 3 uint8) under ``key`` to W&B / TensorBoard, and write ``png_path``
    when asked (``always``) or when no logger can show images (``auto``: csv, none).

    Returns the PNG path when one was written. Logging errors are warnings: a picture must
    never end a training run.
    """
    from lightning.pytorch.loggers import WandbLogger

    targets = image_loggers(trainer)
    for lg in targets:
        try:
            if isinstance(lg, WandbLogger):
                kwargs = {"caption": [caption_text]} if caption_text else {}
                lg.log_image(key=key, images=[image], step=trainer.global_step, **kwargs)
            else:  # TensorBoard
                lg.experiment.add_image(key, image, trainer.current_epoch, dataformats="HWC")
        except Exception as err:
            log.warning("could not log image %s to %s: %s", key, type(lg).__name__, err)
    if png_path is not None and (save_png == "always" or (save_png == "auto" and not targets)):
        return save_image(png_path, image)
    return None


def run_dir(trainer: pl.Trainer, dirpath: str | Path | None) -> Path:
    """Where a callback writes files: ``dirpath`` or the trainer's root (the Hydra run dir)."""
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir)
