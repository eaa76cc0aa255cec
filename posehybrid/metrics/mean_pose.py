"""The mean-pose floor: predict the training split's mean keypoints for every test image.

It is the first row of every ablation table. A stage that does not beat it clearly has learned
nothing about the images, only the average pose, so it tells a reader at a glance whether
anything trained (issue: recipes that barely trained on small real datasets still "scored").

The mean is taken in the network's input geometry (the evaluation letterbox or crop, where the
model makes its predictions) and mapped back through each test sample's own inverse affine, so
it is scored exactly like a model's predictions, by the same :class:`~posehybrid.metrics.pck.PCK`.
"""

from __future__ import annotations

import numpy as np
import torch

from posehybrid.data.skeleton import JointSet
from posehybrid.metrics.per_image import PerImagePCK


def mean_pose(keypoints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-joint mean of the valid training keypoints.

    Args:
        keypoints: (N, J, 2) input px. valid: (N, J) bool, which entries count.

    Returns:
        (J, 2) float64; a joint that is never valid gets the mean of all valid joints (the
        pose centre), so the prediction is always finite.
    """
    kps = np.asarray(keypoints, np.float64)
    ok = np.asarray(valid, bool) & np.isfinite(kps).all(-1)
    if kps.ndim != 3 or kps.shape[-1] != 2 or ok.shape != kps.shape[:2]:
        raise ValueError(f"keypoints must be (N,J,2) and valid (N,J); got {kps.shape}, {ok.shape}")
    if not ok.any():
        raise ValueError("mean pose: no valid training keypoint")
    sums = np.where(ok[..., None], kps, 0.0).sum(0)  # (J, 2)
    counts = ok.sum(0)[:, None]  # (J, 1)
    centre = sums.sum(0) / counts.sum()
    return np.where(counts > 0, sums / np.maximum(counts, 1), centre)


def mean_pose_metric(
    mean: np.ndarray,
    inv_affine: np.ndarray,
    gt: np.ndarray,
    annotated: np.ndarray,
    joint_set: JointSet,
) -> PerImagePCK:
    """Predict ``mean`` (J, 2) input px for every test sample and score it.

    Args:
        inv_affine: (M, 2, 3) input px -> original px, per test sample.
        gt: (M, J, 2) ground truth in original px. annotated: (M, J) bool.

    Returns:
        The updated metric: ``summary()`` (``pck@0.1``, ``pck@0.2``, ``parts@0.2`` ...) and
        ``per_image()`` (the test samples' indices are 0..M-1, their order in the split).
    """
    inv = torch.as_tensor(np.asarray(inv_affine), dtype=torch.float64)
    m = torch.as_tensor(np.asarray(mean), dtype=torch.float64)
    pred = m @ inv[:, :, :2].transpose(1, 2) + inv[:, None, :, 2]  # (M, J, 2)
    metric = PerImagePCK(joint_set)
    index = torch.arange(pred.shape[0])
    metric.update(
        pred, torch.as_tensor(np.asarray(gt)), torch.as_tensor(np.asarray(annotated)), index
    )
    return metric


__all__ = ["mean_pose", "mean_pose_metric"]
