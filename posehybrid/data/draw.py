"""Skeleton drawing and image grids (data CLI, evaluation, prediction, logger callbacks).

Colours come from joint *names*: ``l_*`` joints and links are one colour, ``r_*`` another,
centre joints (neck, head, nose, ...) and cross links a third. A horizontally flipped sample
with correctly swapped labels therefore keeps "left = blue" on the figure's anatomical left.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from posehybrid.data.skeleton import JointSet

# RGB colours.
LEFT = (40, 120, 255)  # blue
RIGHT = (255, 60, 40)  # red
CENTRE = (60, 220, 60)  # green


def side(name: str) -> str:
    """``"left"``, ``"right"`` or ``"centre"`` from a joint name (``l_wrist``, ``r_knee``...)."""
    if name.startswith("l_"):
        return "left"
    if name.startswith("r_"):
        return "right"
    return "centre"


def _colour(*names: str) -> tuple[int, int, int]:
    sides = {side(n) for n in names}
    if sides == {"left"}:
        return LEFT
    if sides == {"right"}:
        return RIGHT
    return CENTRE


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    joint_set: JointSet,
    visible: np.ndarray | None = None,
    annotated: np.ndarray | None = None,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw links and joints on a copy of ``image``.

    Args:
        image: (H, W, 3) uint8 RGB.
        keypoints: (J, 2) x/y in ``image`` px (non-finite joints are skipped).
        joint_set: names (for colours) and links.
        visible: (J,) bool; invisible joints are drawn as hollow circles. None: all visible.
        annotated: (J,) bool; unannotated joints and their links are not drawn.
        radius, thickness: in px; default scales with the image size.

    Returns:
        (H, W, 3) uint8 RGB with the skeleton drawn (sub-pixel accurate: OpenCV ``shift=4``).
    """
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    scale = max(h, w) / 128.0
    radius = radius or max(1, round(2 * scale))
    thickness = thickness or max(1, round(scale))
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    j = kps.shape[0]
    ok = np.isfinite(kps).all(axis=1)
    if annotated is not None:
        ok &= np.asarray(annotated, bool)
    vis = np.ones(j, bool) if visible is None else np.asarray(visible, bool)
    shift = 4
    fixed = np.round(np.nan_to_num(kps) * (1 << shift)).astype(np.int64)
    fixed = np.clip(fixed, -(1 << 26), 1 << 26)  # far-away points must not overflow cv2 ints

    def pt(i: int) -> tuple[int, int]:
        return int(fixed[i, 0]), int(fixed[i, 1])

    for a, b in joint_set.link_indices:
        if a < j and b < j and ok[a] and ok[b]:
            colour = _colour(joint_set.joints[a], joint_set.joints[b])
            cv2.line(out, pt(a), pt(b), colour, thickness, cv2.LINE_AA, shift)
    for i in range(j):
        if not ok[i]:
            continue
        colour = _colour(joint_set.joints[i])
        fill = -1 if vis[i] else max(1, thickness)
        cv2.circle(out, pt(i), radius << shift, colour, fill, cv2.LINE_AA, shift)
    return out


def image_grid(images: Sequence[np.ndarray], ncols: int = 4, pad: int = 2) -> np.ndarray:
    """Tile equally sized (H, W, 3) uint8 images row-major into one image (white padding)."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    h, w = images[0].shape[:2]
    for im in images:
        if im.shape[:2] != (h, w):
            raise ValueError(f"image_grid needs equal sizes; got {im.shape[:2]} and {(h, w)}")
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), 255, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = im[..., :3]
    return grid


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(3,H,W) or (H,W,3) float in [0,1] (or uint8) -> (H,W,3) uint8, for batch tensors."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr)


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an RGB uint8 image atomically (temp file in the same folder + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=path.suffix or ".png", dir=path.parent
    )
    os.close(fd)
    try:
        if not cv2.imwrite(tmp, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)):
            raise OSError(f"cv2.imwrite could not write {path}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
