"""Image helpers shared by the callbacks: colour maps, overlays, captions, and one function that
sends an image to whichever loggers can show images (W&B, TensorBoard) or else to a PNG file.

No OpenCV function that runs on OpenCV's thread pool (resize, cvtColor, applyColorMap, ...) is
called here: these run in the training process, and a pool started there can deadlock the
DataLoader workers forked later (seen: a test-loader worker stuck in ``pthread_join`` inside
``warpAffine``). Colour maps are numpy look-up tables, resizing is torch, PNGs go through Pillow;
OpenCV only draws text (serial code).
"""

from __future__ import annotations

import io
import logging
from functools import cache
from pathlib import Path
from typing import Any, Literal

import cv2
import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F

from posehybrid.utils.io import atomic_write_bytes

log = logging.getLogger(__name__)

SavePng = Literal["auto", "always", "never"]


@cache
def _lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB table of a matplotlib colour map."""
    import matplotlib

    table = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(table * 255).astype(np.uint8)


def colourise(values: np.ndarray, colormap: str = "inferno") -> np.ndarray:
    """(H, W) floats in [0, 1] -> (H, W, 3) uint8 RGB through a matplotlib colour map."""
    grey = np.clip(np.nan_to_num(np.asarray(values, np.float64)) * 255.0, 0, 255)
    return _lut(colormap)[grey.astype(np.uint8)]


def resize(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (h, w) float map to ``size`` = (H, W), with torch."""
    t = torch.as_tensor(np.asarray(values, np.float32))[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def zoom(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor (pixels stay crisp)."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1) if factor > 1 else image


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend an (h, w) map in [0, 1], resized to the image, over an (H, W, 3) uint8 image."""
    heat = resize(heat, image.shape[:2])
    blend = (1 - alpha) * image.astype(np.float32) + alpha * colourise(heat).astype(np.float32)
    return np.clip(blend, 0, 255).astype(np.uint8)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image as PNG atomically (Pillow, not OpenCV: see above)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[..., :3])).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


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
        return write_png(png_path, image)
    return None


def run_dir(trainer: pl.Trainer, dirpath: str | Path | None) -> Path:
    """Where a callback writes files: ``dirpath`` or the trainer's root (the Hydra run dir)."""
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir)
