"""Arbitrary image files as model inputs: the evaluation geometry (the whole image letterboxed,
or a FLIC-style crop around a given torso box) applied to any picture, and a ``Dataset`` of image
files for ``trainer.predict``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from posehybrid.data.geometry import box_affine, letterbox_affine, prescale
from posehybrid.data.images import read_image
from posehybrid.data.records import DataError
from posehybrid.data.skeleton import JointSet
from posehybrid.data.transforms import PoseTransform


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


class ImageFiles(Dataset):
    """Image files -> ``{"image" (3,H,W) float32 in [0,1], "inv_affine" (2,3) input px ->
    original px, "index", "ok", "width", "height", "error"}``.

    A file that cannot be read gives ``ok=False`` (a zero image, the reason in ``error``)
    instead of an exception, so one bad file does not end a folder's prediction.
    """

    def __init__(
        self,
        files: Sequence[Path],
        input_size: Sequence[int],
        joint_set: JointSet,
        torso_box: Sequence[float] | None = None,
        box_scale: float = 3.0,
    ) -> None:
        self.files = list(files)
        self.input_size = tuple(int(s) for s in input_size)
        self.joint_set = joint_set
        self.torso_box = torso_box
        self.box_scale = float(box_scale)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        w, h = self.input_size
        try:
            image = read_image(self.files[index])
        except DataError as err:
            return {"image": torch.zeros(3, h, w), "inv_affine": torch.zeros(2, 3),
                    "index": index, "ok": False, "width": 0, "height": 0, "error": str(err)}  # fmt: skip
        inp, inv = letterbox(image, self.input_size, self.joint_set, self.torso_box, self.box_scale)
        return {
            "image": to_batch([inp])[0],
            "inv_affine": torch.from_numpy(inv.astype(np.float32)),
            "index": index,
            "ok": True,
            "width": image.shape[1],
            "height": image.shape[0],
            "error": "",
        }
