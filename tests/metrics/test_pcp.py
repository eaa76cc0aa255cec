"""Strict PCP on hand-built LSP poses whose stick verdicts can be read off directly."""

from __future__ import annotations

import pytest
import torch

from posehybrid.data.skeleton import FLIC, LSP
from posehybrid.metrics import LSP_STICKS, PCP, pcp_correct, stick_weights

# A standing figure; stick lengths: head 20, torso 60, upper arm 40, forearm 30, upper leg 50,
# lower leg 40.
POSE = {
    "head_top": (50, 0),
    "neck": (50, 20),
    "l_shoulder": (70, 30),
    "r_shoulder": (30, 30),
    "l_elbow": (70, 70),
    "r_elbow": (30, 70),
    "l_wrist": (70, 100),
    "r_wrist": (30, 100),
    "l_hip": (70, 90),
    "r_hip": (30, 90),
    "l_knee": (70, 140),
    "r_knee": (30, 140),
    "l_ankle": (70, 180),
    "r_ankle": (30, 180),
}


def gt_pose() -> torch.Tensor:
    return torch.tensor([POSE[n] for n in LSP.joints], dtype=torch.float64)


def moved(offsets: dict[str, tuple[float, float]]) -> torch.Tensor:
    pose = gt_pose()
    for name, (dx, dy) in offsets.items():
        pose[LSP.index(name)] += torch.tensor([dx, dy], dtype=torch.float64)
    return pose


def two_examples() -> tuple[torch.Tensor, torch.Tensor]:
    first = moved(
        {
            "l_wrist": (9, 12),  # 15 = 0.5 * 30: forearm correct (boundary)
            "r_wrist": (16, 0),  # 16 > 15: forearm wrong
            "head_top": (6, 8),  # 10 = 0.5 * 20: head correct
            "l_knee": (12, 16),  # 20: upper leg (limit 25) and lower leg (limit 20) correct
            "r_knee": (21, 0),  # 21: upper leg correct, lower leg wrong
            "l_hip": (0, 10),  # mid-hip moves 5: torso and left upper leg still correct
        }
    )
    second = moved({"l_shoulder": (0, 31), "r_shoulder": (0, 31)})  # torso, upper arms wrong
    return torch.stack([first, second]), torch.stack([gt_pose(), gt_pose()])


def test_hand_computed_verdicts():
    pred, gt = two_examples()
    ok, length = pcp_correct(pred, gt, stick_weights(LSP, LSP_STICKS))
    names = [s[0] for s in LSP_STICKS]
    assert dict(zip(names, length[0].tolist(), strict=True)) == {
        "torso": 60,
        "l_upper_leg": 50,
        "r_upper_leg": 50,
        "l_lower_leg": 40,
        "r_lower_leg": 40,
        "l_upper_arm": 40,
        "r_upper_arm": 40,
        "l_forearm": 30,
        "r_forearm": 30,
        "head": 20,
    }
    wrong_first = {n for n, v in zip(names, ok[0].tolist(), strict=True) if not v}
    wrong_second = {n for n, v in zip(names, ok[1].tolist(), strict=True) if not v}
    assert wrong_first == {"r_lower_leg", "r_forearm"}
    assert wrong_second == {"torso", "l_upper_arm", "r_upper_arm"}


def test_summary_pools_left_and_right():
    pred, gt = two_examples()
    metric = PCP(LSP)
    metric.update(pred, gt)
    assert metric.summary() == {
        "torso": 1 / 2,
        "upper_leg": 4 / 4,
        "lower_leg": 3 / 4,
        "upper_arm": 2 / 4,
        "forearm": 3 / 4,
        "head": 2 / 2,
        "total": 15 / 20,
    }
    assert metric.compute().shape == (10,)


def test_mask_and_zero_length_sticks_are_not_counted():
    pred, gt = two_examples()
    mask = torch.ones(2, 14, dtype=torch.bool)
    mask[0, LSP.index("r_wrist")] = False  # drops the wrong r_forearm of example 0
    mask[1, LSP.index("l_hip")] = False  # drops example 1's torso and left upper leg
    gt[1, LSP.index("head_top")] = gt[1, LSP.index("neck")]  # zero-length head: skipped
    metric = PCP(LSP)
    metric.update(pred, gt, mask)
    summary = metric.summary()
    assert summary["forearm"] == 3 / 3
    assert summary["torso"] == 1 / 1
    assert summary["upper_leg"] == 3 / 3
    assert summary["head"] == 1 / 1
    assert int(metric.skipped) == 1
    assert summary["total"] == (8 + 5) / (9 + 7)  # 9 sticks counted in ex. 0, 7 in ex. 1


def test_merge_equals_single():
    pred, gt = two_examples()
    whole, a, b = PCP(LSP), PCP(LSP), PCP(LSP)
    whole.update(pred, gt)
    a.update(pred[:1], gt[:1])
    b.update(pred[1:], gt[1:])
    a.merge_state(b)
    assert a.summary() == whole.summary()


def test_undefined_for_joint_sets_without_the_sticks():
    with pytest.raises(ValueError, match="flic"):
        PCP(FLIC)
