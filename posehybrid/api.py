"""The Python API for a trained model: ``posehybrid.load(ckpt)`` and its :class:`Predictor`.

    import posehybrid

    model = posehybrid.load("outputs/default/joint/<ts>/checkpoints/best.ckpt", flip=True)
    joints = model.predict("photo.jpg")     # {"r_ankle": (x, y, confidence), ...}
    many = model.predict_batch(["a.jpg", "b.png", rgb_array])

Coordinates are in the original image's pixels (pixel centres: the top-left pixel is
``(0, 0)``); ``confidence`` is :func:`posehybrid.inference.confidence`, in [0, 1]. The
preprocessing is the evaluation geometry (the whole image letterboxed to the model input, or
``box_scale`` x a torso box for FLIC-style models), so ``predict`` gives what
``python -m posehybrid.predict`` writes into its JSON files, and what ``eval`` scores.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from posehybrid.inference import (
    TTA,
    autocast,
    chunks,
    letterbox,
    pick_device,
    predict_batch,
    resolve_precision,
    to_batch,
)
from posehybrid.modules.base import PoseModule

Image = str | os.PathLike | np.ndarray
Joints = dict[str, tuple[float, float, float]]
Box = Sequence[float]


def as_rgb(image: Image) -> np.ndarray:
    """A path (JPEG/PNG/..., gray, RGBA, 16 bit) or an array -> (h, w, 3) uint8 RGB.

    Arrays are taken as RGB (not OpenCV's BGR): (h, w) gray, (h, w, 3) or (h, w, 4); uint8, or
    floats in [0, 1].
    """
    if isinstance(image, (str, os.PathLike)):
        from posehybrid.data.images import read_image

        return read_image(Path(image))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or min(arr.shape[:2]) < 1:
        raise ValueError(f"expected an (h, w), (h, w, 3) or (h, w, 4) image, got {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"image arrays must be uint8 or floats in [0, 1], got {arr.dtype}")
        arr = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


class Predictor:
    """A loaded model: images in, joints in original pixels out.

    Args:
        module: a stage module (:func:`posehybrid.modules.load.load_module`), in eval mode.
        device: where it runs. tta: flip / multi-scale averaging (:class:`TTA`; None: none).
        batch_size: images per forward pass in :meth:`predict_batch`.
        box_scale: crop size as a multiple of a ``torso_box`` (FLIC-style models).
        precision: ``32-true`` or ``bf16-mixed`` (the detector in bf16 autocast, the spatial
            model in fp32; :func:`posehybrid.inference.resolve_precision`).
    """

    def __init__(
        self,
        module: PoseModule,
        device: torch.device,
        tta: TTA | None = None,
        batch_size: int = 8,
        box_scale: float = 3.0,
        precision: str = "32-true",
    ) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.module = module.to(device).eval()
        self.device = device
        self.tta = tta or TTA()
        self.batch_size = int(batch_size)
        self.box_scale = float(box_scale)
        self.precision = resolve_precision(precision, device)

    @property
    def joints(self) -> tuple[str, ...]:
        return tuple(self.module.joint_set.joints)

    @property
    def stage(self) -> str:
        return self.module.stage_name

    def predict_arrays(
        self, images: Sequence[np.ndarray], torso_box: Box | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RGB uint8 images -> keypoints (N,J,2) original px, confidence (N,J) in [0,1] and the
        raw decoded score (N,J), as float64 arrays. One forward per ``batch_size`` images."""
        out: list[tuple[torch.Tensor, ...]] = []
        size = self.module.codec.input_size
        for group in chunks(images, self.batch_size):
            boxed = [letterbox(im, size, self.module.joint_set, torso_box, self.box_scale)
                     for im in group]  # fmt: skip
            batch = to_batch([inp for inp, _ in boxed]).to(self.device)
            inv = torch.from_numpy(np.stack([a for _, a in boxed]).astype(np.float32))
            with autocast(self.precision, self.device):
                out.append(predict_batch(self.module, batch, inv, self.tta))
        if not out:
            j = len(self.joints)
            return np.zeros((0, j, 2)), np.zeros((0, j)), np.zeros((0, j))
        kps, raw, conf = (torch.cat(parts).double().numpy() for parts in zip(*out, strict=True))
        return kps, conf, raw

    def _joints(self, kps: np.ndarray, conf: np.ndarray) -> Joints:
        return {
            name: (float(kps[i, 0]), float(kps[i, 1]), float(conf[i]))
            for i, name in enumerate(self.joints)
        }

    def predict(self, image: Image, torso_box: Box | None = None) -> Joints:
        """One image (path or array) -> ``{joint: (x, y, confidence)}`` in original px."""
        return self.predict_batch([image], torso_box)[0]

    def predict_batch(self, images: Sequence[Image], torso_box: Box | None = None) -> list[Joints]:
        """Several images (paths or arrays, any sizes) -> one dict per image, in order."""
        kps, conf, _ = self.predict_arrays([as_rgb(im) for im in images], torso_box)
        return [self._joints(k, c) for k, c in zip(kps, conf, strict=True)]


def load(
    ckpt: str | os.PathLike,
    device: str = "auto",
    flip: bool = False,
    scales: Sequence[float] = (1.0,),
    batch_size: int = 8,
    box_scale: float = 3.0,
    precision: str = "auto",
) -> Predictor:
    """A :class:`Predictor` for a posehybrid checkpoint of any stage.

    Args:
        ckpt: ``best.ckpt`` / ``last.ckpt`` of a training run (loaded with
            ``weights_only=True``: a file that would run code is refused).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
        flip: also run the mirrored image and average (left/right swapped back).
        scales: input scales whose maps are averaged, e.g. ``(1.0, 0.8, 1.2)``.
        batch_size: images per forward pass. box_scale: torso-box crop size (FLIC).
        precision: ``auto`` (training's default on this device: ``bf16-mixed`` where it
            computes bf16 natively, else ``32-true``), ``32-true`` or ``bf16-mixed``.
    """
    from posehybrid.modules.load import load_module

    module = load_module(Path(ckpt).expanduser().resolve())
    return Predictor(
        module, pick_device(device), TTA.from_cfg(flip, scales), batch_size, box_scale, precision
    )
