"""PerImagePCK: each test image's correct and counted joints, the unit the ablation's paired
intervals resample; its sums must be exactly PCK's pooled counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posehybrid.data.skeleton import LSP
from posehybrid.metrics.pck import PCK
from posehybrid.metrics.per_image import PerImagePCK, per_image_from_json, per_image_to_json


def _batch(seed: int, n: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(n, 14, 2, generator=g, dtype=torch.float64) * 100
    pred = gt + torch.randn(n, 14, 2, generator=g, dtype=torch.float64) * 6
    mask = torch.rand(n, 14, generator=g) > 0.15
    l_sh, r_hip = LSP.torso_indices
    gt[0, r_hip] = gt[0, l_sh]  # a zero torso: PCK skips the example
    mask[1, l_sh] = False  # a torso on a masked joint: skipped too
    return pred, gt, mask


def test_per_image_counts_sum_to_the_pooled_counts() -> None:
    reference, metric = PCK(LSP), PerImagePCK(LSP)
    for seed, start in ((0, 0), (1, 12)):
        pred, gt, mask = _batch(seed)
        reference.update(pred, gt, mask)
        metric.update(pred, gt, mask, torch.arange(start, start + 12))
    record = metric.per_image()
    assert record["alphas"] == ["0.1", "0.2"]
    assert record["index"].tolist() == list(range(24))
    counts = reference.compute()
    for k, alpha in enumerate((0.1, 0.2)):
        row = reference.alphas.index(alpha)
        assert record["correct"][:, k].sum() == int(counts["correct"][row].sum())
    assert record["counted"].sum() == int(counts["total"].sum())
    assert record["counted"][0] == 0 and record["counted"][1] == 0  # the skipped examples
    assert record["counted"][12] == 0  # the second batch's zero torso
    # the pooled PCK from the per-image counts is PCK's own
    pck = record["correct"][:, 1].sum() / record["counted"].sum()
    assert pck == pytest.approx(metric.summary()["pck@0.2"], abs=1e-12)


def test_one_image_by_hand() -> None:
    gt = torch.zeros(1, 14, 2, dtype=torch.float64)
    gt[0, :, 1] = torch.arange(14, dtype=torch.float64) * 10
    l_sh, r_hip = LSP.torso_indices
    gt[0, l_sh], gt[0, r_hip] = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 50.0])  # torso 50
    pred = gt.clone()
    pred[0, :, 0] += torch.tensor([0, 3, 5, 7, 9, 11, 20, 0, 0, 0, 0, 0, 0, 0.0])  # off by x
    mask = torch.ones(1, 14, dtype=torch.bool)
    mask[0, 13] = False
    metric = PerImagePCK(LSP)
    metric.update(pred, gt, mask, torch.tensor([7]))
    record = metric.per_image()
    # @0.1: within 5 px -> the seven exact joints (13 is masked) and 3, 5: 9; @0.2 within 10: 11
    assert record["index"].tolist() == [7]
    assert record["correct"].tolist() == [[9, 11]] and record["counted"].tolist() == [13]


def test_repeated_indices_count_once() -> None:
    """A distributed sampler pads its last batch with repeated images: each counts once."""
    pred, gt, mask = _batch(3, 4)
    metric = PerImagePCK(LSP)
    metric.update(pred[2:], gt[2:], mask[2:], torch.tensor([2, 3]))
    metric.update(pred, gt, mask, torch.tensor([0, 1, 2, 3]))
    once = PerImagePCK(LSP)
    once.update(pred, gt, mask, torch.arange(4))
    a, b = metric.per_image(), once.per_image()
    assert a["index"].tolist() == [0, 1, 2, 3]
    assert np.array_equal(a["correct"], b["correct"]) and np.array_equal(a["counted"], b["counted"])


def test_json_round_trip_and_reset() -> None:
    metric = PerImagePCK(LSP)
    metric.update(*_batch(5), torch.arange(12))
    record = metric.per_image()
    back = per_image_from_json(per_image_to_json(record))
    assert back["alphas"] == record["alphas"]
    for key in ("index", "correct", "counted"):
        assert back[key].dtype == np.int64 and np.array_equal(back[key], record[key]), key
    metric.reset()
    assert metric.per_image()["index"].size == 0


def test_an_untracked_alpha_is_refused() -> None:
    with pytest.raises(KeyError, match=r"0\.3"):
        PerImagePCK(LSP, thresholds=(0.1, 0.2), image_alphas=(0.1, 0.3))
