"""The knobs of the synthetic data (every one is part of the cache hash)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the synthetic LSP-style data. Every field is part of the cache hash.

    Ranges are ``(low, high)`` for uniform draws. Lengths are fractions of the image size
    (``figure_height``, ``position_jitter``) or of the figure scale (occluder sizes).
    """

    figure_height: tuple[float, float] = (0.6, 0.85)  # nominal standing height / image size
    rotation_deg: float = 20.0  # global in-plane rotation, uniform in ±this
    large_rotation_prob: float = 0.04  # falls/cartwheels: rotation uniform in ±120°
    lean_deg: float = 8.0  # torso lean std
    position_jitter: float = 0.06  # how far the figure's box may stray past the border
    proportion_jitter: float = 0.15  # per-figure segment length factor 1 ± this
    foreshortening_prob: float = 0.3  # per segment: out-of-plane, length × U(0.55, 1)
    profile_prob: float = 0.12  # side view: narrow torso, striding legs, far limbs hidden
    face_away_prob: float = 0.2  # back view: image sides of left/right swap
    behind_torso_prob: float = 0.2  # per limb, frontal views: drawn behind the torso
    distractors: tuple[int, int] = (2, 6)  # limb-like sticks/arms/blobs per image
    distractor_own_palette: float = 0.6  # chance a distractor copies the figure's colours
    distractor_front_prob: float = 0.12  # a distractor drawn over the figure
    clutter: tuple[int, int] = (4, 10)  # background rectangles/ellipses/lines
    occlusion_prob: float = 0.4  # chance of occluding blobs in an image
    max_occluders: int = 2
    occluder_size: tuple[float, float] = (0.07, 0.18)  # fraction of figure scale
    blur_sigma: tuple[float, float] = (0.0, 0.9)
    noise_std: float = 6.0  # per-pixel Gaussian noise, grey levels
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        # Hydra hands lists (ListConfig); normalise so hashing and equality are stable.
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(f.default, tuple):
                v = tuple(type(d)(x) for d, x in zip(f.default, v, strict=True))
            else:
                v = type(f.default)(v)
            object.__setattr__(self, f.name, v)
        for name in ("figure_height", "distractors", "clutter", "occluder_size", "blur_sigma"):
            lo, hi = getattr(self, name)
            if lo > hi or lo < 0:
                raise ValueError(f"Difficulty.{name} must be (low, high) with 0 <= low <= high")
        probs = [f.name for f in fields(self) if f.name.endswith("_prob")]
        for name in probs:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Difficulty.{name} must be a probability in [0, 1]")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("Difficulty.jpeg_quality must be in 1..100")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
