"""Candidate recall (``metrics/candidates.py``): the top-k peaks of hand-built maps, the oracle
choice among them, and its PCK against hand calculations."""

from __future__ import annotations

import math

import pytest
import torch

from posehybrid.data.skeleton import LSP
from posehybrid.metrics.candidates import CandidateRecall, nearest_candidate, peak_candidates
from posehybrid.metrics.pck import PCK

BUMPS = [((5, 4), 3.0), ((20, 10), 2.0), ((12, 25), 1.0)]  # (x, y), height


def _bumps(h: int = 32, w: int = 32) -> torch.Tensor:
    """(1, 1, h, w): three Gaussian bumps on a gentle ramp (no flat plateaus)."""
    y, x = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    m = -1e-3 * (x + y)
    for (bx, by), height in BUMPS:
        m = m + height * torch.exp(-((x - bx) ** 2 + (y - by) ** 2) / 2.0)
    return m[None, None]


def test_peaks_come_strongest_first_at_the_bumps() -> None:
    uv, valid = peak_candidates(_bumps(), 3)
    assert uv.shape == (1, 1, 3, 2) and bool(valid.all())
    assert uv[0, 0].tolist() == [[5.0, 4.0], [20.0, 10.0], [12.0, 25.0]]
    top1, _ = peak_candidates(_bumps(), 1)
    flat = int(_bumps().flatten().argmax())
    assert top1[0, 0, 0].tolist() == [flat % 32, flat // 32]  # top-1 is the argmax


def test_a_map_with_fewer_maxima_than_k_marks_the_rest_invalid() -> None:
    maps = torch.tensor([[[[0.1, 0.2], [0.3, 0.9]]]])  # one local maximum, 4 pixels
    uv, valid = peak_candidates(maps, 5)
    assert valid[0, 0].tolist() == [True, False, False, False, False]
    assert uv[0, 0, 0].tolist() == [1.0, 1.0] and uv[0, 0, 1:].abs().sum() == 0
    with pytest.raises(ValueError, match="k must be"):
        peak_candidates(maps, 0)


def test_the_oracle_takes_the_nearest_valid_candidate() -> None:
    cands = torch.tensor(
        [[[[0.0, 0.0], [10.0, 0.0], [3.0, 4.0]], [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]]]
    )
    valid = torch.tensor([[[True, True, False], [False, False, False]]])
    gt = torch.tensor([[[4.0, 4.0], [1.0, 1.0]]])
    chosen = nearest_candidate(cands, valid, gt)
    # joint 0: (3, 4) is nearest but invalid, so (0, 0) at 5.66 beats (10, 0) at 7.21
    assert chosen[0, 0].tolist() == [0.0, 0.0]
    assert all(math.isnan(v) for v in chosen[0, 1].tolist())  # no valid candidate: a miss


def test_recall_is_the_pck_of_the_right_peak_rank() -> None:
    """14 joints on one map each; the ground truth sits on the peak of rank r (0, 1, 2) or far
    from any: top-k counts exactly the joints whose rank is below k."""
    maps = _bumps().expand(1, 14, 32, 32)
    uv, valid = peak_candidates(maps, 3)
    ranks = [0, 1, 2, None] * 3 + [0, 1]  # None: far from every peak
    gt = torch.tensor(
        [[list(map(float, BUMPS[r][0])) if r is not None else [31.0, 0.0] for r in ranks]]
    )
    # a torso (l_shoulder to r_hip) long enough that 0.1 of it covers no wrong peak
    a, b = LSP.torso_indices
    gt[0, a], gt[0, b] = torch.tensor([5.0, 4.0]), torch.tensor([20.0, 10.0])
    recall = CandidateRecall(LSP, ("detector",), (1, 2, 3))
    mask = torch.ones(1, 14, dtype=torch.bool)
    recall.update("detector", uv, valid, gt, mask)
    got = recall.summary()["detector"]["pck@0.1"]
    ranks[a], ranks[b] = 0, 1
    expected = {f"top{k}": sum(r is not None and r < k for r in ranks) / 14 for k in (1, 2, 3)}
    assert got == pytest.approx(expected)
    # top-1 is exactly the PCK of the argmax
    argmax_pck = PCK(LSP, thresholds=(0.1, 0.2))
    argmax_pck.update(uv[:, :, 0], gt, mask)
    assert got["top1"] == pytest.approx(float(argmax_pck.compute()["pck@0.1"]))
    assert "spatial" not in recall.summary()  # never updated: not reported
