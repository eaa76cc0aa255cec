"""Test-time helpers shared by ``eval``, ``predict`` and ``export``.

* test-time augmentation (TTA, :mod:`posehybrid.modules.tta`, re-exported here);
* letterboxing arbitrary images to the model input with the training code's own geometry;
* batching, device and precision choice.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import lightning.pytorch as pl
import torch

from posehybrid.data.image_files import letterbox, to_batch
from posehybrid.modules.base import PoseModule
from posehybrid.modules.confidence import confidence, peak_mass
from posehybrid.modules.tta import NO_TTA, TTA, scaled_size, tta_heatmaps, unflip_maps
from posehybrid.utils.resolvers import cpu_precision

__all__ = [
    "TTA", "confidence", "letterbox", "peak_mass", "scaled_size", "to_batch", "tta_heatmaps",
    "unflip_maps",
]  # fmt: skip

T = TypeVar("T")


@torch.inference_mode()
def predict_batch(
    module: PoseModule, image: torch.Tensor, inv_affine: torch.Tensor, tta: TTA = NO_TTA
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:meth:`PoseModule.predict_keypoints` without autograd, results on the CPU."""
    keypoints, scores, conf = module.predict_keypoints(image, inv_affine, tta)
    return keypoints.cpu(), scores.cpu(), conf.cpu()


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for i in range(0, len(items), max(1, int(size))):
        yield items[i : i + size]


def inference_trainer(
    device: torch.device, precision: str = "32-true", callbacks: Sequence[pl.Callback] = ()
) -> pl.Trainer:
    """The Lightning ``Trainer`` that ``eval`` (``trainer.test``) and ``predict``
    (``trainer.predict``) run on: one ``device`` at ``precision`` (:func:`resolve_precision`),
    no logger, no checkpoints, a progress bar on terminals only (stdout stays one JSON line)."""
    cuda = device.type == "cuda"
    return pl.Trainer(
        accelerator="gpu" if cuda else "cpu",
        devices=[device.index or 0] if cuda else 1,
        precision=precision,  # type: ignore[arg-type]
        logger=False,
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=sys.stderr.isatty(),
    )


def pick_device(name: str | None) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(name))
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name} requested but CUDA is not available")
    return device


# Inference precisions: Lightning's names, so eval/predict hand them to the Trainer as they are.
PRECISIONS = ("auto", "32-true", "bf16-mixed")


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> what training uses by default on ``device``: ``bf16-mixed`` on a CPU that
    computes bf16 natively (:func:`posehybrid.utils.resolvers.cpu_precision`, the rule of
    ``trainer.precision``) or a CUDA device with bf16, else ``32-true``. Under ``bf16-mixed``
    the detector runs in bf16 autocast and the FFT spatial model stays fp32 (it turns autocast
    off itself), exactly as the training runs' own test scoring ran."""
    if name not in PRECISIONS:
        raise ValueError(f"precision={name!r}: expected one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    return cpu_precision()


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved ``precision`` (what Lightning's precision plugin
    enters around test/predict steps), for code that runs a module without a Trainer."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")


# ---------------------------------------------------------------------------- paths
def resolve_user_path(path: object) -> Path:
    """A user-given path, made absolute against the working directory (Hydra does not chdir)."""
    return Path(str(path)).expanduser().resolve()
