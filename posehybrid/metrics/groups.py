"""PCK and the kinds of mistake for each group of test examples (a view, a movie, ...).

A pooled PCK hides where a model gains: in the converged synthetic regime the joint model's
lead over the control is largest in the figures seen from the back, and in profile it trades
misses for left/right inversions (README, "What the spatial model removes"). ``eval by=<key>``
scores each value of a per-example label apart, with the same code as the pooled score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from posehybrid.data.skeleton import JointSet
from posehybrid.metrics.error_types import ErrorTypes
from posehybrid.metrics.pck import PCK, json_number


def scores_by_group(
    pred: Tensor,
    gt: Tensor,
    mask: Tensor,
    labels: Sequence[str],
    joint_set: JointSet,
    visible: Tensor | None = None,
) -> dict[str, dict[str, Any]]:
    """Each label's examples scored apart.

    Args:
        pred, gt: (N, J, 2) original px. mask: (N, J) bool, the joints that count.
        labels: N labels, one per example.
        joint_set: the test data's joint set.
        visible: (N, J) bool, which counted joints the annotation marks visible (None: all).

    Returns:
        ``{label: {"n": examples, "joints": counted joints, "pck@0.1", "pck@0.2",
        "errors@0.2": {good, jitter, inversion, miss}, "visibility": {visible | occluded:
        {share, good, jitter, inversion, miss}}}}``, labels in sorted order. ``good`` of a
        visibility group is its PCK@0.2: a view's occluded joints are where context decides.
    """
    if len(labels) != len(pred):
        raise ValueError(f"scores_by_group: {len(labels)} labels for {len(pred)} examples")
    out: dict[str, dict[str, Any]] = {}
    for label in sorted(set(labels)):
        rows = torch.tensor([i for i, x in enumerate(labels) if x == label], dtype=torch.long)
        pck, kinds = PCK(joint_set, thresholds=(0.1, 0.2)), ErrorTypes(joint_set, alpha=0.2)
        pck.update(pred[rows], gt[rows], mask[rows])
        kinds.update(pred[rows], gt[rows], mask[rows], None if visible is None else visible[rows])
        scored, errors = pck.compute(), kinds.compute()
        out[label] = {
            "n": len(rows),
            "joints": int(scored["total"].sum()),
            "pck@0.1": json_number(scored["pck@0.1"]),
            "pck@0.2": json_number(scored["pck@0.2"]),
            "errors@0.2": errors["total"],
            "visibility": errors["visibility"],
        }
    return out


__all__ = ["scores_by_group"]
