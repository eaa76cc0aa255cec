"""Strict PCP (percentage of correct parts) for LSP-style skeletons.

A stick is correct when *both* of its endpoint errors are ``≤ factor ×`` the ground-truth stick
length (strict PCP, factor 0.5). Sticks are declared by joint *names*; an endpoint is a joint name
or a tuple of names whose mean is the endpoint (the torso runs mid-hip → mid-shoulder, for the
prediction and the ground truth alike).

Counting: a stick counts only when every joint it uses is in the mask; a stick whose ground-truth
length is zero (or non-finite) is skipped — it enters neither numerator nor denominator — and is
counted in ``skipped`` (the same rule as PCK's zero torso).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from posehybrid.data.skeleton import JointSet
from posehybrid.metrics.counts import CountMetric

Endpoint = str | tuple[str, ...]
# (stick name, reported part, endpoint a, endpoint b)
StickSpec = tuple[str, str, Endpoint, Endpoint]

LSP_STICKS: tuple[StickSpec, ...] = (
    ("torso", "torso", ("l_hip", "r_hip"), ("l_shoulder", "r_shoulder")),
    ("l_upper_leg", "upper_leg", "l_hip", "l_knee"),
    ("r_upper_leg", "upper_leg", "r_hip", "r_knee"),
    ("l_lower_leg", "lower_leg", "l_knee", "l_ankle"),
    ("r_lower_leg", "lower_leg", "r_knee", "r_ankle"),
    ("l_upper_arm", "upper_arm", "l_shoulder", "l_elbow"),
    ("r_upper_arm", "upper_arm", "r_shoulder", "r_elbow"),
    ("l_forearm", "forearm", "l_elbow", "l_wrist"),
    ("r_forearm", "forearm", "r_elbow", "r_wrist"),
    ("head", "head", "neck", "head_top"),
)


def _names(endpoint: Endpoint) -> tuple[str, ...]:
    return (endpoint,) if isinstance(endpoint, str) else tuple(endpoint)


def stick_weights(joint_set: JointSet, sticks: Sequence[StickSpec]) -> tuple[Tensor, Tensor]:
    """Averaging matrices ``(A, B)``, each (S, J): endpoint a of stick s is ``A[s] @ keypoints``.

    Raises:
        ValueError: when the joint set lacks joints the sticks name (PCP is defined for LSP).
    """
    needed = {n for _, _, a, b in sticks for n in (*_names(a), *_names(b))}
    missing = sorted(needed - set(joint_set.joints))
    if missing:
        raise ValueError(
            f"PCP sticks need joints {missing} that joint set {joint_set.name!r} does not have; "
            "strict PCP is defined for LSP-style skeletons"
        )
    weights = torch.zeros(2, len(sticks), joint_set.num_joints, dtype=torch.float64)
    for s, (_, _, a, b) in enumerate(sticks):
        for k, endpoint in enumerate((a, b)):
            idx = joint_set.indices(_names(endpoint))
            weights[k, s, idx] += 1.0 / len(idx)
    return weights[0], weights[1]


def pcp_correct(
    pred: Tensor, gt: Tensor, weights: tuple[Tensor, Tensor], factor: float = 0.5
) -> tuple[Tensor, Tensor]:
    """Strict PCP per stick.

    Args:
        pred, gt: (N, J, 2) keypoints in the same units. weights: ``stick_weights`` output.
        factor: fraction of the ground-truth stick length allowed at each endpoint.

    Returns:
        ``(correct, length)``: (N, S) bool, both endpoint errors ``≤ factor · length``; and the
        (N, S) ground-truth stick lengths (the caller decides what zero means).
    """
    dtype = torch.float32 if pred.device.type == "mps" else torch.float64
    wa, wb = (w.to(device=pred.device, dtype=dtype) for w in weights)
    p, g = pred.to(dtype), gt.to(dtype)
    pa, pb = torch.einsum("sj,njc->nsc", wa, p), torch.einsum("sj,njc->nsc", wb, p)
    ga, gb = torch.einsum("sj,njc->nsc", wa, g), torch.einsum("sj,njc->nsc", wb, g)
    length = torch.linalg.vector_norm(ga - gb, dim=-1)
    limit = factor * length
    err_a = torch.linalg.vector_norm(pa - ga, dim=-1)
    err_b = torch.linalg.vector_norm(pb - gb, dim=-1)
    return (err_a <= limit) & (err_b <= limit), length


class PCP(CountMetric):
    """Strict PCP with sum states (exact under DDP).

    Args:
        joint_set: must contain every joint the sticks name (LSP), else ``ValueError``.
        sticks: stick declarations; default ``LSP_STICKS`` (10 sticks, 6 parts).
        factor: 0.5 for strict PCP.

    States: ``correct`` (S,), ``total`` (S,), ``skipped`` () — int64 sums.
    """

    def __init__(
        self,
        joint_set: JointSet,
        sticks: Sequence[StickSpec] = LSP_STICKS,
        factor: float = 0.5,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.joint_set = joint_set
        self.sticks = tuple(sticks)
        self.factor = float(factor)
        wa, wb = stick_weights(joint_set, self.sticks)
        self.register_buffer("weight_a", wa, False)
        self.register_buffer("weight_b", wb, False)
        self.add_counts((len(sticks),), (len(sticks),))

    def update(self, pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> None:
        """pred, gt (B, J, 2) in original image pixels; mask (B, J) bool (default: all count)."""
        if mask is None:
            mask = torch.ones(gt.shape[:2], dtype=torch.bool, device=gt.device)
        ok, length = pcp_correct(pred, gt, (self.weight_a, self.weight_b), self.factor)
        uses = ((self.weight_a > 0) | (self.weight_b > 0)).to(length.dtype)  # (S, J)
        complete = ((~mask.bool()).to(length.dtype) @ uses.T) == 0  # (B, S): no masked joint
        defined = torch.isfinite(length) & (length > 0)
        counted = complete & defined
        self.correct += (ok & counted).sum(dim=0)
        self.total += counted.sum(dim=0)
        self.skipped += (complete & ~defined).sum()

    def compute(self) -> Tensor:
        """(S,) float64 PCP per stick, NaN where nothing was counted."""
        return self.correct.double() / self.total.double()

    def summary(self) -> dict[str, float | None]:
        """``{part: f, …, "total": f}`` as fractions, parts pooled over their sticks (L and R),
        total pooled over all sticks; ``None`` where nothing was counted."""
        parts: dict[str, list[int]] = {}
        for s, (_, part, _, _) in enumerate(self.sticks):
            parts.setdefault(part, []).append(s)
        out: dict[str, float | None] = {}
        for part, idx in parts.items():
            out[part] = _ratio(self.correct[idx].sum(), self.total[idx].sum())
        out["total"] = _ratio(self.correct.sum(), self.total.sum())
        return out


def _ratio(num: Tensor, den: Tensor) -> float | None:
    d = int(den)
    return None if d == 0 else int(num) / d
