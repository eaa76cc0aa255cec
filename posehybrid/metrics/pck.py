"""PCK (percentage of correct keypoints) as pure functions and a DDP-exact torchmetrics ``Metric``.

Conventions (design §6), stated here because codebases differ exactly here:

* a joint is correct iff ``‖pred − gt‖ ≤ α · norm`` (``≤``, not ``<``), in original image pixels;
* ``norm`` is the ground-truth torso ``‖gt[torso[0]] − gt[torso[1]]‖`` (LSP/FLIC: L-shoulder to
  R-hip), or the head segment (PCKh), or the larger side of the ground-truth joints' bounding box;
* totals are *pooled*: sum of correct joints over sum of counted joints, over all examples;
* a part (e.g. LSP head = neck + head top) is the mean of its joints' PCK;
* masked joints (``mask`` False) are not counted at all;
* an example whose normaliser is zero, non-finite, or built from a masked joint is *skipped*:
  none of its joints enter the numerator or the denominator, and it is counted in ``skipped``.
  (A zero torso would otherwise make every joint wrong except exact hits, silently.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from posehybrid.data.skeleton import JointSet
from posehybrid.metrics.counts import CountMetric

Normaliser = Literal["torso", "head", "bbox"]

# Rounded so that 0.1 and 0.2 are exactly the Python floats 0.1 and 0.2 (lookups by value).
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.01 * i, 4) for i in range(21))


def alpha_key(alpha: float) -> str:
    """``0.2 -> "0.2"``, ``0.05 -> "0.05"``, ``0.0 -> "0"``: the suffix of ``pck@…`` keys."""
    return f"{round(float(alpha), 4):g}"


def pck_correct(pred: Tensor, gt: Tensor, mask: Tensor, norm: Tensor, thresholds: Tensor) -> Tensor:
    """Which joints are within ``α · norm`` of the ground truth.

    Args:
        pred: (N, J, 2) predicted x/y. gt: (N, J, 2) ground truth, same units.
        mask: (N, J) bool, joints that count. norm: (N,) per-example normaliser.
        thresholds: (T,) α values.

    Returns:
        (T, N, J) bool: ``‖pred − gt‖ ≤ α · norm`` and ``mask``. NaN predictions are wrong. The
        caller decides what a zero normaliser means (``PCK`` skips such examples).
    """
    # float64 so that boundary cases built from integers compare exactly (not on MPS: no fp64).
    dtype = torch.float32 if pred.device.type == "mps" else torch.float64
    dist = torch.linalg.vector_norm(pred.to(dtype) - gt.to(dtype), dim=-1)  # (N, J)
    limit = thresholds.to(dtype)[:, None, None] * norm.to(dtype)[None, :, None]  # (T, N, 1)
    return (dist[None] <= limit) & mask.bool()[None]


def segment_lengths(gt: Tensor, a: int, b: int) -> Tensor:
    """(N, J, 2) -> (N,): ``‖gt[:, a] − gt[:, b]‖``."""
    return torch.linalg.vector_norm(gt[:, a].double() - gt[:, b].double(), dim=-1)


def torso_lengths(gt: Tensor, joint_set: JointSet) -> Tensor:
    """(N, J, 2) -> (N,): the joint set's torso (LSP/FLIC: L-shoulder to R-hip) in gt units."""
    return segment_lengths(gt, *joint_set.torso_indices)


def head_lengths(gt: Tensor, joint_set: JointSet) -> Tensor:
    """(N, J, 2) -> (N,): the joint set's head segment, for PCKh."""
    if joint_set.head is None:
        raise ValueError(f"joint set {joint_set.name!r} defines no head segment for PCKh")
    return segment_lengths(gt, *joint_set.indices(joint_set.head))


def bbox_lengths(gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """(N, J, 2), (N, J) -> (N,): max(width, height) of the box around the counted gt joints."""
    gt = gt.double()
    keep = torch.ones(gt.shape[:2], dtype=torch.bool, device=gt.device) if mask is None else mask
    big = torch.finfo(gt.dtype).max
    lo = torch.where(keep[..., None], gt, big).amin(dim=1)
    hi = torch.where(keep[..., None], gt, -big).amax(dim=1)
    side = (hi - lo).amax(dim=-1)
    return torch.where(keep.any(dim=1), side, torch.zeros_like(side))  # no joints -> skipped


class PCK(CountMetric):
    """Pooled PCK over a sweep of thresholds; states are sums, so DDP reduction is exact.

    Args:
        joint_set: names, parts and the default torso.
        thresholds: α values in [0, 1]; default 0, 0.01, …, 0.2 (contains 0.1 and 0.2 exactly).
        normaliser: ``"torso"`` (default), ``"head"`` (PCKh) or ``"bbox"``.
        torso: optional override of the torso joints by name, e.g. ``("neck", "r_hip")``.

    States: ``correct`` (T, J), ``total`` (J,), ``skipped`` () — all int64 sums.
    """

    thresholds: Tensor

    def __init__(
        self,
        joint_set: JointSet,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        normaliser: Normaliser = "torso",
        torso: tuple[str, str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        values = [float(t) for t in thresholds]
        if not values:
            raise ValueError("PCK needs at least one threshold")
        for t in values:
            if not 0.0 <= t <= 1.0:  # also rejects NaN
                raise ValueError(f"PCK threshold {t!r} is outside [0, 1]")
        if normaliser not in ("torso", "head", "bbox"):
            raise ValueError(f"unknown PCK normaliser {normaliser!r}; use torso, head or bbox")
        self.joint_set = joint_set
        self.normaliser = normaliser
        self.alphas: tuple[float, ...] = tuple(values)
        if normaliser == "torso":
            self._segment: tuple[int, int] | None = tuple(  # type: ignore[assignment]
                joint_set.indices(torso) if torso is not None else joint_set.torso_indices
            )
        elif normaliser == "head":
            if joint_set.head is None:
                raise ValueError(f"joint set {joint_set.name!r} defines no head segment for PCKh")
            self._segment = tuple(joint_set.indices(joint_set.head))  # type: ignore[assignment]
        else:
            self._segment = None
        t, j = len(values), joint_set.num_joints
        self.register_buffer("thresholds", torch.tensor(values, dtype=torch.float64), False)
        self.add_counts((t, j), (j,))

    def normalisers(self, gt: Tensor, mask: Tensor) -> Tensor:
        """(B, J, 2), (B, J) -> (B,) normaliser; NaN where it rests on a masked joint."""
        if self._segment is None:
            return bbox_lengths(gt, mask)
        a, b = self._segment
        norm = segment_lengths(gt, a, b)
        return torch.where(mask[:, a] & mask[:, b], norm, torch.full_like(norm, float("nan")))

    def update(self, pred: Tensor, gt: Tensor, mask: Tensor) -> None:
        """Accumulate a batch: pred, gt (B, J, 2) in original image pixels; mask (B, J) bool."""
        self.accumulate(*self.score(pred, gt, mask))

    def accumulate(self, hits: Tensor, counted: Tensor, ok: Tensor) -> None:
        """Add one :meth:`score` result to the sums: hits (T, B, J), counted (B, J), ok (B,)."""
        self.correct += hits.sum(dim=1)
        self.total += counted.sum(dim=0)
        self.skipped += (~ok).sum()

    def score(self, pred: Tensor, gt: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One batch, not accumulated: hits (T, B, J) bool, counted joints (B, J) bool and the
        examples whose normaliser is defined (B,) bool (the others count nowhere)."""
        j = self.joint_set.num_joints
        if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (j, 2):
            raise ValueError(
                f"PCK expects pred and gt of shape (B, {j}, 2); got {tuple(pred.shape)} and {tuple(gt.shape)}"
            )
        if mask.shape != pred.shape[:2]:
            raise ValueError(f"PCK mask must be (B, {j}); got {tuple(mask.shape)}")
        norm, counted, ok = self.counted(gt, mask)
        hits = pck_correct(pred, gt, counted, norm, self.thresholds)
        return hits, counted, ok

    def counted(self, gt: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Which joints a batch counts, by PCK's rule (the diagnostics share it): the
        normaliser (B,) (0 where undefined), the counted joints (B, J) bool and the examples
        whose normaliser is defined (B,) bool (zero or undefined: the example is skipped)."""
        mask = mask.bool()
        norm = self.normalisers(gt, mask)
        ok = torch.isfinite(norm) & (norm > 0)
        return torch.where(ok, norm, 0.0), mask & ok[:, None], ok

    def compute(self) -> dict:
        """``correct`` (T, J) and ``total`` (J,) counts, ``skipped`` () samples with an undefined
        normaliser, ``curve`` (T,) pooled; per α: ``pck@α``
        pooled (), ``joints@α`` / ``parts@α`` dicts.

        Values are float64 tensors; NaN where nothing was counted.
        """
        correct, total = self.correct.double(), self.total.double()
        pooled = correct.sum(dim=1) / total.sum()  # (T,)
        per_joint = correct / total  # (T, J), NaN for never-counted joints
        out: dict = {"correct": correct, "total": total, "skipped": self.skipped, "curve": pooled}
        for i, alpha in enumerate(self.alphas):
            key = alpha_key(alpha)
            out[f"pck@{key}"] = pooled[i]
            out[f"joints@{key}"] = dict(zip(self.joint_set.joints, per_joint[i], strict=True))
            out[f"parts@{key}"] = {
                part: per_joint[i, idx].nanmean()
                for part, idx in self.joint_set.part_indices.items()
            }
        return out

    def _index(self, alpha: float) -> int:
        for i, t in enumerate(self.alphas):
            if abs(t - alpha) <= 1e-6:
                return i
        raise KeyError(f"PCK threshold {alpha} was not tracked; available: {list(self.alphas)}")

    def _counts(self) -> tuple[Tensor, Tensor]:
        """(correct (T, J), total (J,)) as float64, summed over all processes under DDP.

        Read through ``compute()``, which torchmetrics syncs across processes (and caches until
        the next ``update``): reading the states directly would give each rank its own shard
        (a bug that only shows with ``trainer=ddp``).
        """
        out = self.compute()
        return out["correct"], out["total"]

    def summary(self, alphas: Sequence[float] = (0.1, 0.2), detail: float | None = None) -> dict:
        """Plain-Python view in the ``metrics.json`` layout, fractions in 0..1.

        ``{"pck@0.1": f, "pck@0.2": f, "parts@0.2": {part: f}, "joints@0.2": {joint: f}}``; the
        per-part/per-joint detail is for ``detail`` (default: the last of ``alphas``). Undefined
        values (nothing counted) are ``None`` so the result is valid JSON.
        """
        detail = alphas[-1] if detail is None else detail
        correct, total = self._counts()
        out: dict = {}
        for a in alphas:
            out[f"pck@{alpha_key(a)}"] = json_number(correct[self._index(a)].sum() / total.sum())
        per_joint = correct[self._index(detail)] / total
        key = alpha_key(detail)
        out[f"parts@{key}"] = {
            p: json_number(per_joint[idx].nanmean())
            for p, idx in self.joint_set.part_indices.items()
        }
        out[f"joints@{key}"] = {
            n: json_number(v) for n, v in zip(self.joint_set.joints, per_joint, strict=True)
        }
        return out

    def curve(self) -> tuple[list[float], list[float | None], dict[str, list[float | None]]]:
        """(thresholds, pooled PCK per threshold, {part: PCK per threshold}), plain Python."""
        correct, total = self._counts()
        per_joint = correct / total  # (T, J)
        pooled = correct.sum(dim=1) / total.sum()
        parts = {
            p: [json_number(v) for v in per_joint[:, idx].nanmean(dim=1)]
            for p, idx in self.joint_set.part_indices.items()
        }
        return list(self.alphas), [json_number(v) for v in pooled], parts


def json_number(value: Tensor) -> float | None:
    """Scalar tensor -> float, NaN -> None (JSON has no NaN)."""
    v = float(value)
    return None if v != v else v
