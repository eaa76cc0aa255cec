"""Error types (``metrics/error_types.py``): hand-built predictions of known kinds, the order
in which the kinds are checked, and agreement with PCK."""

from __future__ import annotations

import pytest
import torch

from posehybrid.data.skeleton import LSP
from posehybrid.metrics.error_types import ERROR_TYPES, ErrorTypes
from posehybrid.metrics.pck import PCK

# An upright figure, image x to the right: the person's right side at small x. The torso
# (l_shoulder (120, 50) to r_hip (80, 80)) is 50 px long, so at α = 0.2 a joint is good within
# 10 px, and within the jitter radius 0.5 within 25 px.
POSE = {
    "r_ankle": (80, 200), "r_knee": (80, 150), "r_hip": (80, 80), "l_hip": (120, 80),
    "l_knee": (120, 150), "l_ankle": (120, 200), "r_wrist": (40, 100), "r_elbow": (50, 70),
    "r_shoulder": (80, 50), "l_shoulder": (120, 50), "l_elbow": (150, 70),
    "l_wrist": (160, 100), "neck": (100, 40), "head_top": (100, 10),
}  # fmt: skip


def _gt() -> torch.Tensor:
    return torch.tensor([[POSE[n] for n in LSP.joints]], dtype=torch.float64)


def _kinds(metric: ErrorTypes) -> dict[str, str]:
    """Each joint's one kind, from the metric's per-joint fractions after one example."""
    joints = metric.compute()["joints"]
    return {n: next(k for k, v in joints[n].items() if v == 1.0) for n in LSP.joints}


def test_hand_built_predictions_get_their_kinds() -> None:
    gt = _gt()
    pred = gt.clone()
    i = LSP.index
    pred[0, i("l_wrist")] = gt[0, i("r_wrist")] + torch.tensor([3.0, 4.0])  # 5 px off r_wrist
    pred[0, i("r_knee")] += torch.tensor([0.0, 20.0])  # 20 px: beyond 10, within 25
    pred[0, i("l_ankle")] += torch.tensor([30.0, 0.0])  # 30 px, far from r_ankle too: miss
    pred[0, i("head_top")] = gt[0, i("neck")]  # 30 px off, and head_top has no counterpart
    pred[0, i("r_elbow")] = torch.nan
    pred[0, i("neck")] += torch.tensor([6.0, 8.0])  # exactly 10 px: good (PCK's <=)
    metric = ErrorTypes(LSP)
    metric.update(pred, gt, torch.ones(1, 14, dtype=torch.bool))
    kinds = _kinds(metric)
    assert kinds["l_wrist"] == "inversion"
    assert kinds["r_knee"] == "jitter"
    assert kinds["l_ankle"] == "miss" and kinds["head_top"] == "miss"
    assert kinds["r_elbow"] == "miss"  # a NaN prediction
    assert kinds["neck"] == "good" and kinds["r_wrist"] == "good"
    total = metric.compute()["total"]
    assert total == pytest.approx({"good": 9 / 14, "jitter": 1 / 14, "inversion": 1 / 14,
                                   "miss": 3 / 14})  # fmt: skip


def test_a_prediction_on_a_near_counterpart_is_an_inversion_not_jitter() -> None:
    """Profile-like legs: the knees 12 px apart. On the other knee, the prediction is also
    within the jitter radius of its own, and still counts as the left/right confusion."""
    gt = _gt()
    i = LSP.index
    gt[0, i("l_knee")] = gt[0, i("r_knee")] + torch.tensor([12.0, 0.0])
    pred = gt.clone()
    pred[0, i("l_knee")] = gt[0, i("r_knee")]
    metric = ErrorTypes(LSP)
    metric.update(pred, gt, torch.ones(1, 14, dtype=torch.bool))
    assert _kinds(metric)["l_knee"] == "inversion"


def test_an_unannotated_counterpart_cannot_be_inverted_onto() -> None:
    gt, mask = _gt(), torch.ones(1, 14, dtype=torch.bool)
    i = LSP.index
    pred = gt.clone()
    pred[0, i("l_wrist")] = gt[0, i("r_wrist")]
    mask[0, i("r_wrist")] = False
    metric = ErrorTypes(LSP)
    metric.update(pred, gt, mask)
    joints = metric.compute()["joints"]
    assert joints["l_wrist"]["miss"] == 1.0  # 120 px from its own, r_wrist not counted
    assert joints["r_wrist"]["good"] is None  # not counted at all


def test_good_is_pck_and_the_kinds_partition_the_counted_joints() -> None:
    g = torch.Generator().manual_seed(0)
    gt = _gt().expand(64, -1, -1) + 5 * torch.randn(64, 14, 2, generator=g, dtype=torch.float64)
    pred = gt + 15 * torch.randn(64, 14, 2, generator=g, dtype=torch.float64)
    # some left wrists on the right wrist, as a detector that confuses sides
    pred[:16, LSP.index("l_wrist")] = gt[:16, LSP.index("r_wrist")]
    mask = torch.rand(64, 14, generator=g) > 0.1
    metric, pck = ErrorTypes(LSP, alpha=0.2), PCK(LSP, thresholds=(0.2,))
    metric.update(pred, gt, mask)
    pck.update(pred, gt, mask)
    out = metric.compute()
    assert out["total"]["good"] == pytest.approx(float(pck.compute()["pck@0.2"]))
    assert sum(out["total"].values()) == pytest.approx(1.0)
    assert int(metric.skipped) == int(pck.compute()["skipped"])
    assert out["total"]["inversion"] > 0 and out["joints"]["l_wrist"]["inversion"] > 0.1
    # counts are sums: two half batches give the one batch's counts
    halves = ErrorTypes(LSP)
    halves.update(pred[:32], gt[:32], mask[:32])
    halves.update(pred[32:], gt[32:], mask[32:])
    assert torch.equal(halves.counts, metric.counts)


def test_visible_and_occluded_joints_are_split() -> None:
    """Two examples: the first's r_ankle and l_wrist marked occluded (one good, one a miss),
    the second's all visible with one inversion. By hand: 2 occluded joints of 28, half good;
    of the 26 visible, 25 good and 1 inversion."""
    gt = _gt().expand(2, -1, -1).clone()
    i = LSP.index
    pred = gt.clone()
    pred[0, i("l_wrist")] += torch.tensor([0.0, 60.0])  # a miss
    pred[1, i("l_knee")] = gt[1, i("r_knee")]  # an inversion
    visible = torch.ones(2, 14, dtype=torch.bool)
    visible[0, [i("r_ankle"), i("l_wrist")]] = False
    metric = ErrorTypes(LSP)
    metric.update(pred, gt, torch.ones(2, 14, dtype=torch.bool), visible)
    split = metric.compute()["visibility"]
    assert split["occluded"] == pytest.approx(
        {"share": 2 / 28, "good": 0.5, "jitter": 0.0, "inversion": 0.0, "miss": 0.5}
    )
    assert split["visible"] == pytest.approx(
        {"share": 26 / 28, "good": 25 / 26, "jitter": 0.0, "inversion": 1 / 26, "miss": 0.0}
    )
    # without the flag every counted joint is visible, and the occluded group is empty
    plain = ErrorTypes(LSP)
    plain.update(pred, gt, torch.ones(2, 14, dtype=torch.bool))
    split = plain.compute()["visibility"]
    assert split["visible"]["share"] == 1.0 and split["occluded"]["share"] == 0.0
    assert split["occluded"]["good"] is None
    assert split["visible"]["good"] == pytest.approx(plain.compute()["total"]["good"])


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="alpha < jitter_radius"):
        ErrorTypes(LSP, alpha=0.5, jitter_radius=0.5)
    assert ERROR_TYPES == ("good", "jitter", "inversion", "miss")
