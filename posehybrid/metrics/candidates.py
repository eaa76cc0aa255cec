"""Candidate recall: how often the right location is among a heat-map's k strongest peaks.

A diagnostic, not a protocol. The spatial model can only re-rank what a map offers: if the
true location is the detector's second peak, a better spatial model can pick it; if it is
not among its peaks at all, none can. Scored as PCK of an *oracle* choice: for each joint,
the candidate nearest the ground truth, so that "top-1" is the plain argmax and "top-k" is
the best that any selector among the first k peaks could score.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posehybrid.data.skeleton import JointSet
from posehybrid.metrics.pck import PCK


def peak_candidates(maps: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` highest local maxima of each map, strongest first.

    A local maximum is a pixel equal to the maximum of its 3x3 neighbourhood (so every pixel of
    a flat plateau is one; MSE-trained maps and log-space spatial outputs are continuous, where
    that does not arise).

    Args:
        maps: (B, J, h, w) heat-maps, any scale (probabilities, MSE outputs or logits).
        k: how many peaks per map.

    Returns:
        uv (B, J, k, 2) heat-map pixel coordinates (x, y), strongest first, and valid (B, J, k)
        bool: False where the map has fewer than ``k`` local maxima (those rows are zeros).
    """
    if k < 1:
        raise ValueError(f"peak_candidates: k must be >= 1, got {k}")
    h, w = maps.shape[-2:]
    values = maps.float()
    peak = values == F.max_pool2d(values, 3, stride=1, padding=1)
    scored = torch.where(peak, values, torch.full_like(values, -torch.inf)).flatten(2)
    top = scored.topk(min(k, h * w), dim=-1)
    uv = torch.stack([top.indices % w, top.indices // w], dim=-1).to(values.dtype)
    valid = torch.isfinite(top.values)
    if top.indices.shape[-1] < k:  # a map smaller than k pixels
        pad = k - top.indices.shape[-1]
        uv = F.pad(uv, (0, 0, 0, pad))
        valid = F.pad(valid, (0, pad))
    return torch.where(valid[..., None], uv, torch.zeros_like(uv)), valid


def nearest_candidate(candidates: Tensor, valid: Tensor, gt: Tensor) -> Tensor:
    """The oracle choice: for each joint the valid candidate nearest the ground truth.

    Args:
        candidates: (N, J, K, 2) candidate positions, in the same units as ``gt``.
        valid: (N, J, K) bool.
        gt: (N, J, 2) ground truth.

    Returns:
        (N, J, 2): the chosen candidates; NaN where a joint has no valid candidate (PCK counts
        NaN predictions as wrong).
    """
    dist = torch.linalg.vector_norm(candidates - gt[:, :, None], dim=-1)
    dist = torch.where(valid, dist, torch.full_like(dist, torch.inf))
    best = dist.argmin(dim=-1)  # (N, J)
    chosen = torch.gather(candidates, 2, best[..., None, None].expand(-1, -1, 1, 2))[:, :, 0]
    return torch.where(valid.any(-1)[..., None], chosen, torch.full_like(chosen, torch.nan))


class CandidateRecall(nn.Module):
    """PCK@0.1/0.2 of the oracle choice among each map's top-k peaks, per map and k: one
    :class:`PCK` each (so DDP sums are exact), scored by the same code as every other row.

    Args:
        joint_set: the test data's joint set.
        maps: names of the maps to probe (``"detector"``, ``"spatial"``).
        ks: the candidate counts, e.g. ``(1, 2, 5)``.
    """

    def __init__(self, joint_set: JointSet, maps: Sequence[str], ks: Sequence[int]) -> None:
        super().__init__()
        if not ks or min(ks) < 1:
            raise ValueError(f"candidates: expected a list of k >= 1, got {list(ks)}")
        self.ks = tuple(sorted({int(k) for k in ks}))
        self.pck = nn.ModuleDict(
            {f"{m}_top{k}": PCK(joint_set, thresholds=(0.1, 0.2)) for m in maps for k in self.ks}
        )
        self.maps = tuple(maps)

    def update(
        self, name: str, candidates: Tensor, valid: Tensor, gt: Tensor, mask: Tensor
    ) -> None:
        """One batch of map ``name``: candidates (B, J, K, 2) and valid (B, J, K) from
        :func:`peak_candidates` (K >= max(ks)), mapped to the units of gt (B, J, 2); mask (B, J)."""
        for k in self.ks:
            chosen = nearest_candidate(candidates[:, :, :k], valid[:, :, :k], gt)
            self.pck[f"{name}_top{k}"].update(chosen, gt, mask)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{map: {"pck@0.1": {"top1": f, ...}, "pck@0.2": {...}}}`` for the maps updated."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for m in self.maps:
            if not self.pck[f"{m}_top{self.ks[0]}"].update_called:
                continue  # this stage has no such map
            scored = {k: self.pck[f"{m}_top{k}"].compute() for k in self.ks}
            out[m] = {
                f"pck@{a}": {f"top{k}": float(scored[k][f"pck@{a}"]) for k in self.ks}
                for a in ("0.1", "0.2")
            }
        return out

    def reset(self) -> None:
        for metric in self.pck.values():
            metric.reset()


__all__ = ["CandidateRecall", "nearest_candidate", "peak_candidates"]
