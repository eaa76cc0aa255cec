"""Test-time helpers shared by ``eval``, ``predict`` and ``export``.

* test-time augmentation (TTA, :mod:`posehybrid.modules.tta`, re-exported here);
* letterboxing arbitrary images to the model input with the training code's own geometry;
* batching and device choice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from posehybrid.data.geometry import box_affine, letterbox_affine, prescale
from posehybrid.data.skeleton import JointSet
from posehybrid.data.transforms import PoseTransform
from posehybrid.modules.base import PoseModule, to_original
from posehybrid.modules.tta import NO_TTA, TTA, Maps, scaled_size, tta_heatmaps, unflip_maps

__all__ = ["TTA", "scaled_size", "tta_heatmaps", "unflip_maps"]

T = TypeVar("T")


# ---------------------------------------------------------------------------- confidence
def peak_mass(logits: torch.Tensor, radius: int) -> torch.Tensor:
    """(B,J,h,w) log-space maps -> (B,J) in [0,1]: the probability mass of the spatial softmax
    within ``radius`` heat-map px (a square window) of its peak."""
    b, j, h, w = logits.shape
    flat = logits.detach().float().reshape(b, j, h * w)
    p = torch.softmax(flat, dim=-1).reshape(b * j, 1, h, w)
    k = 2 * radius + 1
    # window sums: zero padding, so a peak at the border sums only what lies inside the map
    window = F.avg_pool2d(p, k, stride=1, padding=radius, count_include_pad=True) * (k * k)
    peak = flat.argmax(dim=-1, keepdim=True)
    return window.reshape(b, j, h * w).gather(-1, peak).squeeze(-1).clamp(0.0, 1.0)


def confidence(module: PoseModule, maps: Maps) -> torch.Tensor:
    """A per-joint confidence in [0, 1], (B,J), from the maps the keypoints were decoded from.

    * spatial and joint stages: :func:`peak_mass` of the spatial model's logits ``s_A``
      within 2 sigma of the argmax (a clean Gaussian target of width sigma scores ~0.95; a
      flat map scores (4 sigma + 1)^2 / (h w));
    * part detector: the heat-map's peak value clamped to [0, 1] (its training target has
      peak 1 at the joint and 0 elsewhere).
    """
    if "spatial" in maps:
        return peak_mass(maps["spatial"], max(1, round(2 * module.codec.sigma)))
    return maps["detector"].detach().float().flatten(2).amax(-1).clamp(0.0, 1.0)


@torch.inference_mode()
def predict_batch(
    module: PoseModule, image: torch.Tensor, inv_affine: torch.Tensor, tta: TTA = NO_TTA
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B,3,H,W) + (B,2,3) -> keypoints (B,J,2) in original px, raw scores (B,J) (the decoded
    map's value at the peak: log-space for the spatial stages) and :func:`confidence` (B,J),
    on the CPU."""
    maps = tta_heatmaps(module, image, tta)
    coords, scores = module.decode(maps)
    keypoints = to_original(coords, inv_affine.to(coords))
    return keypoints.cpu(), scores.cpu(), confidence(module, maps).cpu()


# ---------------------------------------------------------------------------- images
def letterbox(
    image: np.ndarray,
    input_size: Sequence[int],
    joint_set: JointSet,
    torso_box: Sequence[float] | None = None,
    box_scale: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Any RGB image (h,w,3) uint8 -> (network input (H,W,3) uint8, inv_affine (2,3) float64).

    The same geometry as evaluation (``PoseDataset`` without augmentation): the whole image
    letterboxed, or ``box_scale`` x a torso box (FLIC-style crop); big images are prescaled
    (area filter) first, as in training, so the input is not aliased.
    """
    h, w = image.shape[:2]
    if torso_box is not None:
        base = box_affine(torso_box, input_size, box_scale)
    else:
        base = letterbox_affine((w, h), input_size)
    stored_img, stored = prescale(image, base)
    transform = PoseTransform(input_size, joint_set, train=False)
    res = transform(stored_img, np.zeros((len(joint_set), 2)), base, stored)
    return res.image, res.inv_affine


def to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """(H,W,3) uint8 images -> (B,3,H,W) float32 in [0,1] (the dataset's scaling)."""
    arr = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32)
    arr *= np.float32(1.0 / 255.0)
    return torch.from_numpy(arr)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for i in range(0, len(items), max(1, int(size))):
        yield items[i : i + size]


def progress_bar(total: int):
    """A rich progress bar on stderr (stdout stays machine-readable); shown on terminals only.

    Use ``with progress_bar(n) as p: task = p.add_task("name", total=n); p.advance(task)``;
    ``p.console.print`` writes messages above the bar.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=total <= 1 or not console.is_terminal,
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


# ---------------------------------------------------------------------------- paths
def resolve_user_path(path: object) -> Path:
    """A user-given path, made absolute against the working directory (Hydra does not chdir)."""
    return Path(str(path)).expanduser().resolve()
