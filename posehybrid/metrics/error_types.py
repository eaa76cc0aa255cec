"""What kind of mistake each wrong joint is: jitter, inversion or miss.

A diagnostic next to PCK, after Ronchi & Perona, *Benchmarking and Error Diagnosis in
Multi-Instance Pose Estimation* (ICCV 2017), adapted to single-person, torso-normalised PCK.
PCK says how many joints are wrong; this says which failure a model fixes: e.g. whether the
spatial model's pairwise priors turn *inversions* (a left joint placed on its right
counterpart) into good joints, or mostly bring gross *misses* back (README, "What the spatial
model removes": on the synthetic sets, mostly the latter).

Each counted joint at threshold α, with ``t`` the PCK normaliser (the torso) and ``d(p, q)``
the distance in original pixels, in this order:

* **good**: ``d(pred, gt) ≤ α·t``, exactly PCK's correct joint (same normaliser, same ``≤``);
* **inversion**: not good, the joint has a left/right counterpart ``m`` that is counted, and
  ``d(pred, gt[m]) ≤ α·t``: the prediction sits on the other side's joint. Checked before
  jitter because in a profile view the two sides lie close together, and a prediction on the
  wrong one is the left/right confusion even when it is also near its own joint;
* **jitter**: not good, not an inversion, ``d(pred, gt) ≤ r·t`` (``r`` the jitter radius,
  0.5 by default: the coarse PCK@0.5), near the right place but not within α;
* **miss**: everything else, NaN predictions included.

The four fractions of a joint sum to 1, and ``good`` equals PCK@α.

Split by **visibility** too: the counted joints that the annotation marks visible and those it
marks occluded (LSP's flag; FLIC marks none). An occluded joint has no image evidence of its
own, so what places it is context: the case a pairwise spatial model is for.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from posehybrid.data.skeleton import JointSet
from posehybrid.metrics.pck import PCK, json_number

ERROR_TYPES: tuple[str, ...] = ("good", "jitter", "inversion", "miss")
GOOD, JITTER, INVERSION, MISS = range(len(ERROR_TYPES))


def classify_errors(
    pred: Tensor,
    gt: Tensor,
    counted: Tensor,
    norm: Tensor,
    mirror: Tensor,
    alpha: float,
    jitter_radius: float,
) -> Tensor:
    """Each joint's error type, as an index into :data:`ERROR_TYPES`.

    Args:
        pred, gt: (N, J, 2) in the same units. counted: (N, J) bool, the joints that count.
        norm: (N,) the normaliser (torso), > 0 where ``counted`` holds.
        mirror: (J,) long, each joint's left/right counterpart (itself where it has none).
        alpha: the PCK threshold. jitter_radius: the jitter radius, in normaliser units (> alpha).

    Returns:
        (N, J) long; -1 where ``counted`` is False.
    """
    # PCK's precision (pck_correct), so that "good" is its correct joint to the last bit
    dtype = torch.float32 if pred.device.type == "mps" else torch.float64
    pred, gt, norm = pred.to(dtype), gt.to(dtype), norm.to(dtype)
    limit = alpha * norm[:, None]  # (N, 1)
    own = torch.linalg.vector_norm(pred - gt, dim=-1)  # (N, J); NaN for a NaN prediction
    other = torch.linalg.vector_norm(pred - gt[:, mirror], dim=-1)
    # a counterpart to be inverted onto: another joint (not itself), counted in this example
    paired = mirror != torch.arange(len(mirror), device=mirror.device)  # (J,)
    has_mirror = paired[None] & counted[:, mirror]  # (N, J)
    kind = torch.full(own.shape, MISS, dtype=torch.long, device=own.device)
    kind = torch.where(own <= jitter_radius * norm[:, None], JITTER, kind)
    kind = torch.where(has_mirror & (other <= limit), INVERSION, kind)
    kind = torch.where(own <= limit, GOOD, kind)
    return torch.where(counted, kind, -1)


class ErrorTypes(Metric):
    """Counts of :data:`ERROR_TYPES` per joint at one threshold; sums, so DDP is exact.

    Args:
        joint_set: the test data's joint set (its flip pairs are the left/right counterparts).
        alpha: the PCK threshold, e.g. 0.2.
        jitter_radius: how far (normaliser units) a wrong joint may be and still be jitter.
        **pck_kwargs: the normaliser, as :class:`PCK` takes it (``normaliser``, ``torso``).

    States: ``counts`` (4, J), ``occluded`` (4,) (the kinds of the counted joints marked
    occluded) and ``skipped`` () int64. Examples whose normaliser is undefined are skipped as
    PCK skips them.
    """

    full_state_update = False
    is_differentiable = False
    counts: Tensor
    occluded: Tensor
    skipped: Tensor

    def __init__(
        self, joint_set: JointSet, alpha: float = 0.2, jitter_radius: float = 0.5, **pck_kwargs: Any
    ) -> None:
        super().__init__()
        if not 0.0 < alpha < jitter_radius:
            raise ValueError(
                f"ErrorTypes: expected 0 < alpha < jitter_radius, got {alpha} and {jitter_radius}"
            )
        self.joint_set = joint_set
        self.alpha = float(alpha)
        self.jitter_radius = float(jitter_radius)
        # PCK's own scoring rules (normaliser, skipped examples); its states stay unused
        self._pck = PCK(joint_set, thresholds=(self.alpha,), **pck_kwargs)
        self.register_buffer(
            "mirror", torch.tensor(joint_set.flip_permutation, dtype=torch.long), False
        )
        j = joint_set.num_joints
        self.add_state("counts", torch.zeros(len(ERROR_TYPES), j, dtype=torch.long), "sum")
        self.add_state("occluded", torch.zeros(len(ERROR_TYPES), dtype=torch.long), "sum")
        self.add_state("skipped", torch.zeros((), dtype=torch.long), "sum")

    def update(self, pred: Tensor, gt: Tensor, mask: Tensor, visible: Tensor | None = None) -> None:
        """A batch: pred, gt (B, J, 2) original px; mask (B, J) bool, the joints that count;
        visible (B, J) bool, which of them the annotation marks visible (None: all)."""
        norm, counted, ok = self._pck.counted(gt, mask)
        kind = classify_errors(pred, gt, counted, norm, self.mirror, self.alpha, self.jitter_radius)
        hidden = torch.zeros_like(counted) if visible is None else counted & ~visible.bool()
        for k in range(len(ERROR_TYPES)):
            self.counts[k] += (kind == k).sum(dim=0)
            self.occluded[k] += ((kind == k) & hidden).sum()
        self.skipped += (~ok).sum()

    def compute(self) -> dict[str, Any]:
        """``{"alpha", "jitter_radius", "total": {type: fraction}, "joints": {joint: {type:
        fraction}}, "parts": {part: {type: mean of its joints}}}``; fractions of counted joints
        (None where nothing was counted)."""
        counts = self.counts.double()
        per_joint = counts / counts.sum(dim=0)  # (4, J), NaN for never-counted joints
        pooled = counts.sum(dim=1) / counts.sum()

        def fractions(values: Tensor) -> dict[str, float | None]:
            return {name: json_number(v) for name, v in zip(ERROR_TYPES, values, strict=True)}

        hidden = self.occluded.double()
        shown = counts.sum(dim=1) - hidden
        visibility = {
            name: {
                "share": json_number(group.sum() / counts.sum()),
                **fractions(group / group.sum()),
            }
            for name, group in (("visible", shown), ("occluded", hidden))
        }
        js = self.joint_set
        return {
            "alpha": self.alpha,
            "jitter_radius": self.jitter_radius,
            "total": fractions(pooled),
            "joints": {n: fractions(per_joint[:, i]) for i, n in enumerate(js.joints)},
            "parts": {
                p: fractions(per_joint[:, idx].nanmean(dim=1)) for p, idx in js.part_indices.items()
            },
            "visibility": visibility,
        }


__all__ = ["ERROR_TYPES", "ErrorTypes", "classify_errors"]
