"""Sample geometry and augmentation: original image -> network input, with an exact inverse.

Every sample's geometry is one 2x3 affine ``M`` (original px -> input px) applied with a single
``cv2.warpAffine``:

* the *base* (evaluation) geometry: LSP/synthetic letterbox the whole image (scale to fit,
  centre, pad); FLIC crops a box ``box_scale`` times the example's ``torso_box`` around its
  centre (that box says which of several people in the frame is meant), letterboxed likewise;
* training composes a random scale/rotation/translation and a horizontal flip *into the same
  matrix* (``M = A_aug @ M_base``).

Why geometry is not done with albumentations: composing everything into one affine gives one
resample of the original image (no double blur, no cropping of content that a later rotation
would bring back), an exact analytic inverse (``inv_affine``) and keypoints mapped by the same
matrix as the pixels, at the cost of one small matrix product. Albumentations 2.0.8's
``KeypointParams`` has no ``label_mapping``, so its flip cannot swap left/right labels anyway;
here the flip permutes joint rows with ``JointSet.flip_permutation``. Albumentations does the
photometric part (``A.ColorJitter``).

Coordinates use the pixel-centre convention of OpenCV: pixel ``(i, j)`` is the point
``x = i, y = j``, and the image spans ``[-0.5, w - 0.5]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import albumentations as A
import cv2
import numpy as np

from posehybrid.data.records import PoseRecord
from posehybrid.data.skeleton import JointSet


@dataclass
class AugmentConfig:
    """Training augmentation knobs (all off when ``enabled`` is False).

    Attributes:
        scale: relative zoom range, uniform in ``[1 - scale, 1 + scale]``.
        rotate: rotation range in degrees, uniform in ``[-rotate, rotate]``.
        translate: shift range as a fraction of the input size, per axis.
        flip: probability of a horizontal flip (with left/right label swap).
        color_jitter: probability of ``A.ColorJitter``; 0 disables it.
        brightness, contrast, saturation, hue: ``A.ColorJitter`` strengths.
    """

    enabled: bool = True
    scale: float = 0.25
    rotate: float = 30.0
    translate: float = 0.10
    flip: float = 0.5
    color_jitter: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03

    @classmethod
    def from_any(cls, cfg: AugmentConfig | Mapping | None) -> AugmentConfig:
        """Build from a dict/DictConfig (unknown keys are an error), or None -> defaults."""
        if cfg is None:
            return cls()
        if isinstance(cfg, AugmentConfig):
            return cfg
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown augment keys {unknown}; known: {sorted(known)}")
        return cls(**{k: cfg[k] for k in cfg})


# ---------------------------------------------------------------------------- affine helpers
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


def random_affine(
    rng: np.random.Generator, input_size: Sequence[int], cfg: AugmentConfig
) -> tuple[np.ndarray, bool]:
    """A random scale/rotate/translate (+ optional mirror) about the input centre.

    Returns:
        (2,3) float64 affine in input px, and whether it mirrors x (labels must then swap).
    """
    w, h = float(input_size[0]), float(input_size[1])
    cx, cy = (w - 1) / 2, (h - 1) / 2
    s = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    a = np.deg2rad(rng.uniform(-cfg.rotate, cfg.rotate))
    tx, ty = rng.uniform(-cfg.translate, cfg.translate, size=2) * (w, h)
    flip = bool(rng.random() < cfg.flip)
    cos, sin = s * np.cos(a), s * np.sin(a)
    rot = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    to_origin = np.array([[1.0, 0, -cx], [0, 1.0, -cy], [0, 0, 1.0]])
    back = np.array([[1.0, 0, cx + tx], [0, 1.0, cy + ty], [0, 0, 1.0]])
    m = back @ rot @ to_origin
    if flip:
        # Mirror about the input's vertical centre line: x -> (W - 1) - x.
        m = np.array([[-1.0, 0, w - 1], [0, 1.0, 0], [0, 0, 1.0]]) @ m
    return m[:2], flip


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


@dataclass
class TransformResult:
    """One transformed sample.

    Attributes:
        image: (H, W, 3) uint8 network input.
        keypoints: (J, 2) float32 input px, in output label order.
        affine: (2, 3) float64 original px -> input px.
        inv_affine: (2, 3) float64 input px -> original px.
        perm: (J,) int: output joint ``j`` is original joint ``perm[j]`` (a flip swaps
            left/right); apply it to every per-joint array so that
            ``apply_affine(inv_affine, keypoints) == keypoints_orig[perm]`` always holds.
        flipped: whether the sample was mirrored.
    """

    image: np.ndarray
    keypoints: np.ndarray
    affine: np.ndarray
    inv_affine: np.ndarray
    perm: np.ndarray
    flipped: bool = False


class PoseTransform:
    """Base geometry (+ training augmentation) for one sample.

    Args:
        input_size: (W, H) network input.
        joint_set: gives the flip permutation.
        train: apply random augmentation (False: deterministic base geometry only).
        augment: an ``AugmentConfig`` or a dict of its fields.
        border_value: fill for pixels outside the original image (RGB).
    """

    def __init__(
        self,
        input_size: Sequence[int],
        joint_set: JointSet,
        train: bool = False,
        augment: AugmentConfig | Mapping | None = None,
        border_value: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.joint_set = joint_set
        self.cfg = AugmentConfig.from_any(augment)
        self.train = bool(train) and self.cfg.enabled
        self.border_value = tuple(int(v) for v in border_value)
        self.flip_perm = np.asarray(joint_set.flip_permutation, dtype=np.int64)
        self.identity = np.arange(len(joint_set), dtype=np.int64)
        self.photometric: A.Compose | None = None
        if self.train and self.cfg.color_jitter > 0:
            c = self.cfg
            jitter = A.ColorJitter(
                brightness=(max(0.0, 1 - c.brightness), 1 + c.brightness),
                contrast=(max(0.0, 1 - c.contrast), 1 + c.contrast),
                saturation=(max(0.0, 1 - c.saturation), 1 + c.saturation),
                hue=(-c.hue, c.hue),
                p=c.color_jitter,
            )
            self.photometric = A.Compose([jitter])

    def seed(self, seed: int) -> None:
        """Seed albumentations' own generator (call once per worker)."""
        if self.photometric is not None:
            self.photometric.set_random_seed(seed)

    def __call__(
        self,
        image: np.ndarray,
        keypoints: np.ndarray,
        base: np.ndarray,
        stored: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> TransformResult:
        """Transform one sample.

        Args:
            image: (h, w, 3) uint8, the original image or a prescaled copy of it.
            keypoints: (J, 2) original px (may be non-finite where unannotated).
            base: (2,3) base geometry, original px -> input px (``crop_affine``).
            stored: (2,3) original px -> ``image`` px when ``image`` is a prescaled copy.
            rng: random generator for the geometric augmentation (training only).
        """
        m = np.asarray(base, np.float64)
        perm, flipped = self.identity, False
        if self.train:
            aug, flipped = random_affine(rng or np.random.default_rng(), self.input_size, self.cfg)
            m = (to3x3(aug) @ to3x3(m))[:2]
            if flipped:
                perm = self.flip_perm
        warp = m if stored is None else (to3x3(m) @ np.linalg.inv(to3x3(stored)))[:2]
        out = cv2.warpAffine(
            image,
            warp,
            self.input_size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=self.border_value,
        )
        if self.photometric is not None:
            out = self.photometric(image=out)["image"]
        kps = apply_affine(m, keypoints)[perm].astype(np.float32)
        return TransformResult(out, kps, m, invert_affine(m), perm, flipped)
