"""The ``mean pose`` ablation row: the training split's mean pose predicted for every test image,
scored by the same PCK code as the stages, in the network's input geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posehybrid.data.dataset import PoseDataset
from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.records import PoseRecord
from posehybrid.data.skeleton import LSP
from posehybrid.metrics.mean_pose import mean_pose, mean_pose_metric

SIZE = (100, 80)  # original image (w, h); letterboxed into the 128x128 input
CODEC = HeatmapCodec((128, 128), (32, 32), 1.0)
CENTRE_X = (SIZE[0] - 1) / 2


def _record(kps: np.ndarray) -> PoseRecord:
    j = len(kps)
    ones = np.ones(j, bool)
    return PoseRecord(Path("x.jpg"), kps.astype(np.float32), ones, ones, None, SIZE)


def _score(train: list[PoseRecord], test: list[PoseRecord]) -> dict:
    kps, valid = PoseDataset(train, LSP, CODEC).input_keypoints()
    inv, gt, ann = PoseDataset(test, LSP, CODEC).eval_geometry()
    return mean_pose_metric(mean_pose(kps, valid), inv, gt, ann, LSP).summary()


def _pose(offsets: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """Joints at x = centre + sign * offset, y spread down the image; l_shoulder (9) and r_hip
    (2) on the centre line, 40 px apart: the torso is 40 px, so @0.1 is 4 px and @0.2 8 px."""
    kps = np.zeros((14, 2))
    kps[:, 0] = CENTRE_X + sign * offsets
    kps[:, 1] = np.linspace(5, 75, 14)
    kps[9], kps[2] = (CENTRE_X, 20.0), (CENTRE_X, 60.0)
    return kps


def test_identical_poses_score_one() -> None:
    pose = _pose(np.linspace(-20, 20, 14))
    summary = _score([_record(pose)] * 5, [_record(pose)] * 3)
    assert summary["pck@0.1"] == 1.0 and summary["pck@0.2"] == 1.0


def test_two_mirrored_poses_score_the_hand_calculation() -> None:
    # The mean of a pose and its mirror image puts every joint on the centre line, so joint j
    # is off by |offset_j| on both test poses: 4 of 14 within 4 px, 9 of 14 within 8 px.
    offsets = np.array([0, 0, 0, 3, 3.5, 5, 6, 7, 7.5, 0, 9, 12, 15, 30])
    left, right = _record(_pose(offsets)), _record(_pose(offsets, -1.0))
    summary = _score([left, right, left, right], [left, right])
    within_01 = np.count_nonzero(np.abs(offsets) <= 4.0)
    within_02 = np.count_nonzero(np.abs(offsets) <= 8.0)
    assert (within_01, within_02) == (6, 10)  # off by 0 (4 joints), 3, 3.5 | 5 to 7.5
    assert summary["pck@0.1"] == pytest.approx(within_01 / 14)
    assert summary["pck@0.2"] == pytest.approx(within_02 / 14)


def test_mean_ignores_invalid_joints_and_fills_never_valid_ones() -> None:
    kps = np.array([[[0.0, 0.0], [10.0, 10.0]], [[2.0, 2.0], [99.0, 99.0]]])
    valid = np.array([[True, True], [True, False]])
    np.testing.assert_allclose(mean_pose(kps, valid), [[1.0, 1.0], [10.0, 10.0]])
    never = np.array([[True, False], [True, False]])
    np.testing.assert_allclose(mean_pose(kps, never), [[1.0, 1.0], [1.0, 1.0]])  # pose centre
    with pytest.raises(ValueError, match="no valid"):
        mean_pose(kps, np.zeros((2, 2), bool))
