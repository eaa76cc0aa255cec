"""Sample geometry as 2x3 affines (original px -> input px), with exact inverses.

* the *evaluation* geometry (``crop_affine``): LSP/LSPet/synthetic letterbox the whole image
  (scale to fit, centre, pad); FLIC crops ``box_scale`` times the example's ``torso_box`` (that
  box says which of several people in the frame is meant). It never reads the keypoints, so a
  test input cannot depend on the ground truth;
* the *training* crop of datasets without a person box (``joints_box_affine``): centre and scale
  from the annotated joints' bounding box (the standard top-down practice), onto which
  ``transforms.PoseTransform`` composes the random augmentation.

Coordinates use the pixel-centre convention of OpenCV: pixel ``(i, j)`` is the point
``x = i, y = j``, and the image spans ``[-0.5, w - 0.5]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from posehybrid.data.records import PoseRecord


def to3x3(m: np.ndarray) -> np.ndarray:
    """(2,3) affine -> (3,3) homogeneous matrix (float64)."""
    out = np.eye(3)
    out[:2] = m
    return out


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Exact inverse of a (2,3) affine, as (2,3) float64."""
    return np.linalg.inv(to3x3(m))[:2]


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (..., 2) points by a (2,3) affine; NaN/inf stay non-finite."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ np.asarray(m, np.float64)[:, :2].T + np.asarray(m, np.float64)[:, 2]


def fit_affine(
    center: Sequence[float], size: Sequence[float], input_size: Sequence[int]
) -> np.ndarray:
    """Letterbox affine mapping a region (centre (cx, cy), size (rw, rh)) into ``input_size``.

    The region is scaled uniformly to fit, and its centre goes to the input centre, so the
    shorter side gets symmetric padding. Returns (2,3) float64, original px -> input px.
    """
    w_in, h_in = float(input_size[0]), float(input_size[1])
    s = min(w_in / float(size[0]), h_in / float(size[1]))
    # Centre of the input in pixel-centre coordinates is ((W-1)/2, (H-1)/2).
    tx = (w_in - 1) / 2 - s * float(center[0])
    ty = (h_in - 1) / 2 - s * float(center[1])
    return np.array([[s, 0.0, tx], [0.0, s, ty]])


def letterbox_affine(image_size: Sequence[int], input_size: Sequence[int]) -> np.ndarray:
    """Whole image (w, h) -> input (W, H): scale to fit, centre, pad. (2,3) float64."""
    w, h = float(image_size[0]), float(image_size[1])
    # The image spans [-0.5, w - 0.5], so its centre is ((w-1)/2, (h-1)/2).
    return fit_affine(((w - 1) / 2, (h - 1) / 2), (w, h), input_size)


def box_affine(
    box: Sequence[float], input_size: Sequence[int], box_scale: float = 3.0
) -> np.ndarray:
    """Crop ``box_scale`` x the box [x1, y1, x2, y2] around its centre, letterboxed. (2,3)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return fit_affine(((x1 + x2) / 2, (y1 + y2) / 2), (bw * box_scale, bh * box_scale), input_size)


def crop_affine(
    record: PoseRecord,
    input_size: Sequence[int],
    image_size: Sequence[int] | None = None,
    box_scale: float = 3.0,
) -> np.ndarray:
    """The evaluation geometry of a record: torso-box crop when it has one, else letterbox.

    Args:
        record: the example; ``record.torso_box`` selects the crop (FLIC).
        input_size: (W, H) network input.
        image_size: (w, h) of the original image; defaults to ``record.image_size``.
        box_scale: crop size as a multiple of the torso box.

    Returns:
        (2,3) float64 affine, original px -> input px.
    """
    if record.torso_box is not None:
        return box_affine(record.torso_box, input_size, box_scale)
    size = image_size if image_size is not None else record.image_size
    if size is None:
        raise ValueError(f"image size unknown for {record.image_path}; pass image_size")
    return letterbox_affine(size, input_size)


def joints_box_affine(
    keypoints: np.ndarray, valid: np.ndarray, input_size: Sequence[int], padding: float
) -> np.ndarray | None:
    """Training crop from the joints: a square ``padding`` x the longer side of the valid
    joints' bounding box, around its centre, letterboxed into ``input_size``.

    Args:
        keypoints: (J, 2) original px. valid: (J,) bool, the joints that define the box.
        padding: crop side / longer side of the joints' box.

    Returns:
        (2,3) float64 original px -> input px, or None with fewer than 2 valid joints or a
        degenerate box (the caller keeps the evaluation geometry then).
    """
    kps = np.asarray(keypoints, np.float64)
    ok = np.asarray(valid, bool) & np.isfinite(kps).all(-1)
    if ok.sum() < 2:
        return None
    lo, hi = kps[ok].min(0), kps[ok].max(0)
    side = float((hi - lo).max()) * float(padding)
    if side <= 1.0:
        return None
    return fit_affine((lo + hi) / 2, (side, side), input_size)


def prescale(
    image: np.ndarray, base: np.ndarray, margin: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Downscale an image that the base geometry shrinks a lot (anti-aliasing + small caches).

    The stored image keeps ``margin`` x the input resolution (room for zoom augmentation);
    images that are not shrunk by more than that are returned unchanged.

    Returns:
        the (possibly resized) image and the (2,3) affine original px -> stored px.
    """
    s_base = float(np.sqrt(abs(np.linalg.det(np.asarray(base)[:, :2]))))
    f = s_base * margin
    h, w = image.shape[:2]
    if f >= 1.0:
        return image, np.array([[1.0, 0, 0], [0, 1.0, 0]])
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    fx, fy = nw / w, nh / h  # cv2.resize's exact per-axis factors, pixel-centre aligned
    return small, np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]])
