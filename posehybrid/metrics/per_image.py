"""PCK that also keeps each test image's own counts, for paired comparisons of two models.

Pooled PCK is a ratio of sums over images; to say whether two models' PCK differ by more than
the test set's noise (``metrics/paired.py``), one needs each image's correct and counted joints
for both models on the same images. The joints of one image are not independent (one bad
detection moves several), so the image, not the joint, is the unit that is resampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from posehybrid.data.skeleton import JointSet
from posehybrid.metrics.pck import DEFAULT_THRESHOLDS, PCK, alpha_key


class PerImagePCK(PCK):
    """:class:`PCK` plus, per image, its correct joints at ``image_alphas`` and its counted
    joints, keyed by the image's index in its split.

    States (besides PCK's sums): ``image_index`` (N,), ``image_correct`` (N, A) and
    ``image_counted`` (N,), int64, concatenated over batches and gathered over processes.
    An image whose normaliser is undefined (PCK skips it) has zero counted joints.
    """

    image_index: list[Tensor] | Tensor
    image_correct: list[Tensor] | Tensor
    image_counted: list[Tensor] | Tensor

    def __init__(
        self,
        joint_set: JointSet,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        image_alphas: Sequence[float] = (0.1, 0.2),
        **kwargs: Any,
    ) -> None:
        super().__init__(joint_set, thresholds, **kwargs)
        self.image_alphas: tuple[float, ...] = tuple(float(a) for a in image_alphas)
        self._rows = [self._index(a) for a in self.image_alphas]  # KeyError if not tracked
        for name in ("image_index", "image_correct", "image_counted"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, pred: Tensor, gt: Tensor, mask: Tensor, index: Tensor) -> None:  # type: ignore[override]
        """A batch: pred, gt (B, J, 2) original px; mask (B, J) bool; index (B,) the images'
        indices in their split (the same image has the same index for every model)."""
        hits, counted, ok = self.score(pred, gt, mask)
        self.accumulate(hits, counted, ok)
        self.image_index.append(index.detach().long().reshape(-1).to(self.correct.device))
        self.image_correct.append(hits[self._rows].sum(dim=2).T.long())  # (B, A)
        self.image_counted.append(counted.sum(dim=1).long())

    def per_image(self) -> dict[str, Any]:
        """Each image once, in index order (a distributed sampler's padding repeats some):
        ``{"alphas": [...], "index": (N,), "correct": (N, A), "counted": (N,)}`` as numpy int64.
        Gathered over processes."""
        with self.sync_context(should_unsync=True):
            index = _cat(self.image_index)
            correct = _cat(self.image_correct).reshape(-1, len(self.image_alphas))
            counted = _cat(self.image_counted)
        index_np = index.cpu().numpy()
        _, first = np.unique(index_np, return_index=True)  # sorted by index, first occurrence
        return {
            "alphas": [alpha_key(a) for a in self.image_alphas],
            "index": index_np[first],
            "correct": correct.cpu().numpy()[first],
            "counted": counted.cpu().numpy()[first],
        }


def per_image_to_json(record: dict[str, Any]) -> dict[str, Any]:
    """A :meth:`PerImagePCK.per_image` record as plain JSON values (``test_per_image.json``)."""
    return {
        "alphas": list(record["alphas"]),
        "index": np.asarray(record["index"]).tolist(),
        "correct": np.asarray(record["correct"]).tolist(),
        "counted": np.asarray(record["counted"]).tolist(),
    }


def per_image_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`per_image_to_json`: numpy int64 arrays again."""
    width = len(data["alphas"])
    return {
        "alphas": [str(a) for a in data["alphas"]],
        "index": np.asarray(data["index"], np.int64).reshape(-1),
        "correct": np.asarray(data["correct"], np.int64).reshape(-1, width),
        "counted": np.asarray(data["counted"], np.int64).reshape(-1),
    }


def _cat(state: list[Tensor] | Tensor) -> Tensor:
    """A list state (or, after a sync, one tensor) as one int64 tensor; empty when nothing."""
    if isinstance(state, list) and not state:
        return torch.zeros(0, dtype=torch.long)
    return dim_zero_cat(state).long()


__all__ = ["PerImagePCK", "per_image_from_json", "per_image_to_json"]
