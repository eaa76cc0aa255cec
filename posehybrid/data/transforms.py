"""Training augmentation composed into the sample's geometry, with an exact inverse.

Every sample's geometry is one 2x3 affine ``M`` (original px -> input px) applied with a single
``cv2.warpAffine``: a *base* geometry (``posehybrid.data.geometry``: the evaluation letterbox or
crop, or the training crop from the joints' box) and, for training, a random
scale/rotation/translation and a horizontal flip composed *into the same matrix*
(``M = A_aug @ M_base``).

Why geometry is not done with albumentations: composing everything into one affine gives one
resample of the original image (no double blur, no cropping of content that a later rotation
would bring back), an exact analytic inverse (``inv_affine``) and keypoints mapped by the same
matrix as the pixels, at the cost of one small matrix product. Albumentations 2.0.8's
``KeypointParams`` has no ``label_mapping``, so its flip cannot swap left/right labels anyway;
here the flip permutes joint rows with ``JointSet.flip_permutation``. Albumentations does the
photometric part (``A.ColorJitter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import albumentations as A
import cv2
import numpy as np

from posehybrid.data.geometry import apply_affine, invert_affine, to3x3
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
