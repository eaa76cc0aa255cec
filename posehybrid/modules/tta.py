"""Test-time augmentation (TTA): horizontal-flip and multi-scale averaging of heat-maps, run by
the stage modules' ``test_step`` and ``predict_step`` (``PoseModule.tta``, so ``trainer.test``
and ``trainer.predict`` run it) and by prediction and the Python API (``posehybrid.inference``).

Flip averaging is exact in geometry: the detector's output pixel ``i`` is centred on input
coordinate ``x = (i + 0.5) * s - 0.5`` with ``s = W / w`` (the codec's convention), and a mirrored
input maps ``x -> W - 1 - x``, i.e. ``i -> w - 1 - i``: flipping a heat-map back is a plain
``flip(-1)`` with no half-pixel shift, as long as ``W == s * w`` (the detector's stride 4 and
input sides that are multiples of 4 guarantee it). Multi-scale resizing uses the same
pixel-centre convention (``align_corners=False``) for the image and for the maps, so a point
keeps its position through resize -> detector -> resize back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Maps = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TTA:
    """Test-time augmentation settings.

    Attributes:
        flip: also run the horizontally mirrored image and average.
        scales: input scales to run and average (1.0 = the model's input size).
    """

    flip: bool = False
    scales: tuple[float, ...] = field(default=(1.0,))

    @classmethod
    def from_cfg(cls, flip: object, scales: object) -> TTA:
        """Validate CLI values: ``scales`` a non-empty list of positive numbers."""
        if isinstance(scales, (int, float)):
            scales = [scales]
        try:
            values = tuple(float(s) for s in scales)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"scales must be a list of numbers, got {scales!r}") from None
        if not values or not all(math.isfinite(s) and 0.1 <= s <= 4.0 for s in values):
            raise ValueError(f"scales must be numbers in [0.1, 4], got {list(values)}")
        return cls(flip=bool(flip), scales=values)

    @property
    def is_identity(self) -> bool:
        return not self.flip and self.scales == (1.0,)

    def as_dict(self) -> dict[str, object]:
        return {"flip": self.flip, "scales": list(self.scales)}


NO_TTA = TTA()  # the plain forward


# ---------------------------------------------------------------------------- heat-map TTA
def unflip_maps(maps: torch.Tensor, flip_permutation: Sequence[int]) -> torch.Tensor:
    """Maps of a mirrored image (B,J,h,w) -> maps in the original frame and label order.

    Channel ``j`` of the mirrored run detected joint ``perm[j]`` of the original (left and right
    swap), so the result's channel ``j`` is the mirrored run's channel ``perm[j]``, flipped back.
    """
    perm = torch.as_tensor(list(flip_permutation), device=maps.device)
    return maps.flip(-1).index_select(1, perm)


def scaled_size(size: tuple[int, int], scale: float, multiple: int = 4) -> tuple[int, int]:
    """(H, W) scaled and rounded to a multiple of the detector stride (at least one stride)."""
    return tuple(max(multiple, round(s * scale / multiple) * multiple) for s in size)  # type: ignore[return-value]


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def _maps_at_scale(module: Any, image: torch.Tensor, scale: float) -> Maps:
    """One forward at ``scale``; maps come back at the module's base heat-map size."""
    if scale == 1.0:
        return module.heatmaps(image)
    w, h = module.codec.heatmap_size
    resized = _resize(image, scaled_size(tuple(image.shape[-2:]), scale))
    detector = getattr(module, "detector", None)
    spatial = getattr(module, "spatial", None)
    if detector is None:  # an opaque module: resize whatever it returns
        return {k: _resize(v, (h, w)) for k, v in module.heatmaps(resized).items()}
    # The spatial model only runs at its trained heat-map size: resize the detector maps first.
    e = _resize(detector(resized), (h, w))
    return {"detector": e} if spatial is None else {"detector": e, "spatial": spatial(e)}


def tta_heatmaps(module: Any, image: torch.Tensor, tta: TTA = NO_TTA) -> Maps:
    """(B,3,H,W) -> the module's maps dict, averaged over flips and scales.

    ``module``: a ``PoseModule`` (``heatmaps``, ``codec``, ``joint_set``; ``detector`` and
    ``spatial`` where it has them).

    Every entry ("detector", and "spatial" log-maps for the spatial stages) is averaged, so the
    decode sees consistent maps. Without TTA this is exactly ``module.heatmaps(image)``.
    """
    if tta.is_identity:
        return module.heatmaps(image)
    perm = module.joint_set.flip_permutation
    total: Maps = {}
    runs = 0
    for scale in tta.scales:
        passes = [(image, False), (image.flip(-1), True)] if tta.flip else [(image, False)]
        for img, mirrored in passes:
            maps = _maps_at_scale(module, img, scale)
            for key, value in maps.items():
                value = unflip_maps(value, perm) if mirrored else value
                total[key] = value if key not in total else total[key] + value
            runs += 1
    return {k: v / runs for k, v in total.items()}
