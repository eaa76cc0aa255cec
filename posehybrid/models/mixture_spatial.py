"""The strided spatial model with a mixture of pose types for its pairwise terms.

One displacement distribution per pair has to serve every view of the figure: in a front view
the left ankle sits a hip-width to the image right of the right ankle, in a back view to its
left, in a profile view on top of it. The plain model marginalises that per edge, so each
message may pick a different view. Here each of T *types* has its own pairwise kernels, and a
target's messages are combined within a type before the types compete (Yang & Ramanan's
mixtures of parts, coupled per target location):

    s_A = log( SoftPlus(w_{A|A}) ⋆ ReLU(e_A) + SoftPlus(b_{A→A}) )
        + Up_s( logsumexp_t [ log π_{t,A} + Σ_{v≠A} log( W^s_{t,A|v} ⋆ Pool_s(ReLU(e_v)) + b_{t,v→A} ) ] )

The self term is shared (it carries the detector's precision); ``π`` is a learned softmax over
types per target joint. The types start from k-means on the training poses' left-right
offsets (``flip_pairs``): with T = 4 on the synthetic default that separates back views,
profiles and two kinds of front view. T = 1 is :class:`StridedSpatialModel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.cluster.vq import kmeans2
from torch import Tensor, nn

from posehybrid.models.strided_spatial import StridedSpatialModel


def left_right_offsets(
    keypoints: Tensor, valid: Tensor, flip_pairs: Sequence[Sequence[int]]
) -> Tensor:
    """(N, J, 2) poses -> (N, P) horizontal offsets x_left − x_right of each flip pair, over
    the pose's extent (max of its valid joints' width and height); 0 where a joint is missing."""
    kp = torch.as_tensor(keypoints, dtype=torch.float64)
    ok = torch.as_tensor(valid, dtype=torch.bool) & torch.isfinite(kp).all(-1)
    big = torch.finfo(kp.dtype).max
    lo = torch.where(ok[..., None], kp, big).amin(1)
    hi = torch.where(ok[..., None], kp, -big).amax(1)
    extent = (hi - lo).amax(-1).clamp_min(1e-6)  # (N,)
    left = torch.tensor([int(a) for a, _ in flip_pairs])
    right = torch.tensor([int(b) for _, b in flip_pairs])
    both = ok[:, left] & ok[:, right]
    dx = (kp[:, left, 0] - kp[:, right, 0]) / extent[:, None]
    return torch.where(both & torch.isfinite(dx), dx, torch.zeros_like(dx))


class MixtureSpatialModel(StridedSpatialModel):
    """:class:`StridedSpatialModel` with ``num_types`` sets of pairwise kernels.

    Args (beyond :class:`StridedSpatialModel`'s):
        flip_pairs: (left, right) joint indices; the types are clustered on their offsets.
        num_types: T ≥ 1.
        type_seed: seed of the k-means that assigns the training poses to types.

    ``edges`` as given holds the shared edges and type 0's *typed* ones (those joining a left
    and a right joint: 72 of the full LSP graph's 196); ``self.edges`` appends T − 1 copies of
    the typed ones, so ``weight`` is (E + (T−1)·E_t, K, K) and every checkpoint, prior rendering
    and optimiser sees one flat list. Extra parameter: ``type_logits`` (T, J).
    Needs ``pairwise_stride`` ≥ 2 (the types are summed on the coarse grid).
    Shapes: ``forward(e (B,J,h,w)) -> s (B,J,h,w)``.
    """

    def __init__(
        self,
        num_joints: int,
        edges: Sequence[Sequence[int]],
        heatmap_size: Sequence[int],
        *args: Any,
        flip_pairs: Sequence[Sequence[int]],
        num_types: int = 4,
        type_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        t = int(num_types)
        if t < 1:
            raise ValueError(f"num_types must be >= 1, got {num_types}")
        base = [(int(a), int(v)) for a, v in edges]
        left = {int(a) for a, _ in flip_pairs}
        right = {int(b) for _, b in flip_pairs}
        # Typed edges join a left and a right joint: their displacements are what changes
        # between front, back and profile views. The others stay shared by all types.
        typed = [
            (a, v) for a, v in base if (a in left and v in right) or (a in right and v in left)
        ]
        super().__init__(num_joints, base + typed * (t - 1), heatmap_size, *args, **kwargs)
        if self.pairwise_stride < 2:
            raise ValueError(
                "MixtureSpatialModel needs pairwise_stride >= 2 (the types mix on the coarse grid)"
            )
        self.num_types = t
        self.type_seed = int(type_seed)
        self.flip_pairs = [(int(a), int(b)) for a, b in flip_pairs]
        self.type_logits = nn.Parameter(torch.zeros(t, num_joints))
        # Edge ids of each type's typed edges (type 0: those of the given graph) and of the
        # shared pairwise edges; and their columns in the coarse messages (_pair_ids order).
        typed_set = set(typed)
        n_base = len(base)
        type_ids = [[i for i, (a, v) in enumerate(base) if (a, v) in typed_set]]
        type_ids += [
            list(range(n_base + k * len(typed), n_base + (k + 1) * len(typed)))
            for k in range(t - 1)
        ]
        shared = [i for i, (a, v) in enumerate(base) if a != v and (a, v) not in typed_set]
        column = {int(e): c for c, e in enumerate(self._pair_ids.tolist())}
        self.register_buffer(
            "_typed_ids", torch.tensor(type_ids, dtype=torch.long).view(t, -1), persistent=False
        )
        self.register_buffer(
            "_shared_ids", torch.tensor(shared, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "_typed_cols",
            torch.tensor([[column[i] for i in ids] for ids in type_ids], dtype=torch.long).view(
                t, -1
            ),
            persistent=False,
        )
        self.register_buffer(
            "_shared_cols",
            torch.tensor([column[i] for i in shared], dtype=torch.long),
            persistent=False,
        )

    def prior_groups(
        self, keypoints: Tensor, valid: Tensor
    ) -> list[tuple[list[int], Tensor, list[tuple[int, int]]]]:
        """Cluster the training poses into types (k-means on their left-right offsets), set
        ``type_logits`` to the log of each type's share, and return ``(edge ids, samples,
        extra histogram pairs)``: the shared edges over every sample, then each type's typed
        edges over its samples, where the mirror pairs (l_knee|r_knee, ...) start from the
        type's histograms too. Types are ordered by size, largest first."""
        n = len(keypoints)
        t = self.num_types
        if t == 1:
            return super().prior_groups(keypoints, valid)
        if n < t:
            raise ValueError(f"num_types={t} needs at least {t} training poses, got {n}")
        feats = left_right_offsets(keypoints, valid, self.flip_pairs).numpy()
        _, labels = kmeans2(feats, t, seed=self.type_seed, minit="++")
        order = np.argsort(-np.bincount(labels, minlength=t), kind="stable")
        rank = np.empty(t, dtype=np.int64)
        rank[order] = np.arange(t)
        labels = torch.as_tensor(rank[labels])
        share = torch.bincount(labels, minlength=t).double() / n
        with torch.no_grad():
            self.type_logits.copy_(share.clamp_min(1e-3).log().float()[:, None].expand(t, -1))
        typed = self._typed_ids.tolist()
        every = torch.ones(n, dtype=torch.bool)
        rest = sorted(set(range(len(self.edges))) - {i for ids in typed for i in ids})
        # Mirror pairs start from their type's histograms (within one view, where a joint's
        # mirror lies is not broad); the other typed pairs start flat, as shared ones do
        # (histograms on every pair act as an average-pose prior: README "What was tried",
        # docs/results.md).
        groups: list[tuple[list[int], Tensor, list[tuple[int, int]]]] = [(rest, every, [])]
        groups += [(ids, labels == k, self.flip_pairs) for k, ids in enumerate(typed)]
        return groups

    def _pairwise_scores(self, pair: Tensor) -> Tensor:
        """(B, E', p, q) coarse messages -> (B, J, p, q): the shared edges' summed
        log-messages, plus a log-sum-exp over types of each type's summed typed log-messages
        weighted by π (a softmax of ``type_logits`` over types)."""
        if self.num_types == 1:
            return super()._pairwise_scores(pair)
        n_typed = self._typed_ids.shape[1]
        ones = torch.ones(max(n_typed, len(self._shared_ids)), dtype=pair.dtype, device=pair.device)
        shared = self._log_sum(
            pair.index_select(1, self._shared_cols), self._shared_ids, ones[: len(self._shared_ids)]
        )
        per_type = torch.stack(
            [
                self._log_sum(pair.index_select(1, cols), ids, ones[:n_typed])
                for cols, ids in zip(self._typed_cols, self._typed_ids, strict=True)
            ],
            dim=1,
        )  # (B, T, J, p, q)
        log_pi = F.log_softmax(self.type_logits.to(pair.dtype), dim=0)[None, :, :, None, None]
        return shared + torch.logsumexp(per_type + log_pi, dim=1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_types={self.num_types}"


__all__ = ["MixtureSpatialModel", "left_right_offsets"]
