"""The stage losses against hand calculations: masking by the joint weights, normalisation by
the number of weighted joints, and the spatial softmax's target normalisation."""

from __future__ import annotations

import math

import pytest
import torch

from posehybrid.modules.losses import heatmap_mse, spatial_cross_entropy, spatial_mse


def test_heatmap_mse_masks_and_normalises_by_weighted_joints() -> None:
    pred = torch.zeros(1, 3, 2, 2)
    target = torch.zeros(1, 3, 2, 2)
    target[0, 0] = 1.0  # per-joint MSE 1
    target[0, 1, 0, 0] = 2.0  # per-joint MSE 4 / 4 = 1
    target[0, 2] = 10.0  # huge error on a joint with weight 0: must not count
    weight = torch.tensor([[1.0, 1.0, 0.0]])
    assert heatmap_mse(pred, target, weight).item() == pytest.approx((1.0 + 1.0) / 2)
    half = torch.tensor([[1.0, 0.5, 0.0]])  # weights are weights, not only a mask
    assert heatmap_mse(pred, target, half).item() == pytest.approx((1.0 + 0.5) / 1.5)


def test_heatmap_mse_with_no_weighted_joint_is_zero_not_nan() -> None:
    loss = heatmap_mse(torch.ones(2, 2, 3, 3), torch.zeros(2, 2, 3, 3), torch.zeros(2, 2))
    assert loss.item() == 0.0


def test_spatial_cross_entropy_by_hand() -> None:
    # Two pixels; logits (0, log 3) give softmax (1/4, 3/4). Target (1, 1) normalises to
    # (1/2, 1/2): CE = -(1/2 log 1/4 + 1/2 log 3/4).
    logits = torch.tensor([0.0, math.log(3.0)]).reshape(1, 1, 1, 2)
    target = torch.tensor([5.0, 5.0]).reshape(1, 1, 1, 2)  # the scale of the target is irrelevant
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    loss = spatial_cross_entropy(logits, target, torch.ones(1, 1))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # a constant added to the logits changes nothing (it is a softmax)
    assert spatial_cross_entropy(logits + 7.0, target, torch.ones(1, 1)).item() == pytest.approx(
        expected, rel=1e-6
    )


def test_spatial_cross_entropy_skips_zero_weight_and_empty_targets() -> None:
    logits = torch.randn(1, 3, 2, 2)
    target = torch.rand(1, 3, 2, 2) + 0.1
    only_first = spatial_cross_entropy(logits[:, :1], target[:, :1], torch.ones(1, 1))
    target_empty = target.clone()
    target_empty[0, 2] = 0.0  # a joint outside the map: no target mass, no term
    weight = torch.tensor([[1.0, 0.0, 1.0]])
    assert spatial_cross_entropy(logits, target_empty, weight).item() == pytest.approx(
        only_first.item(), rel=1e-6
    )
    empty = spatial_cross_entropy(logits, torch.zeros_like(target), torch.ones(1, 3))
    assert empty.item() == 0.0


def test_spatial_mse_is_the_mse_of_exp_logits() -> None:
    logits = torch.log(torch.tensor([0.5, 2.0]).reshape(1, 1, 1, 2))
    target = torch.tensor([1.0, 1.0]).reshape(1, 1, 1, 2)
    expected = ((0.5 - 1.0) ** 2 + (2.0 - 1.0) ** 2) / 2
    assert spatial_mse(logits, target, torch.ones(1, 1)).item() == pytest.approx(expected)


@pytest.mark.parametrize(("power", "variance"), [(0.5, 2.0), (4.0, 0.25)])
def test_spatial_cross_entropy_target_power_rescales_the_gaussian(
    power: float, variance: float
) -> None:
    """t^p of a Gaussian of std s is a Gaussian of std s / sqrt(p): the loss against the
    powered target equals the loss against that wider (p < 1) or narrower (p > 1) Gaussian,
    written out directly."""
    ys, xs = torch.meshgrid(torch.arange(9.0), torch.arange(9.0), indexing="ij")
    d2 = (xs - 4.0) ** 2 + (ys - 3.0) ** 2
    unit = torch.exp(-d2 / 2.0)[None, None]  # std 1
    rescaled = torch.exp(-d2 / (2.0 * variance))[None, None]
    logits = torch.randn(1, 1, 9, 9, generator=torch.Generator().manual_seed(0))
    weight = torch.ones(1, 1)
    powered = spatial_cross_entropy(logits, unit, weight, target_power=power)
    assert torch.allclose(powered, spatial_cross_entropy(logits, rescaled, weight), atol=1e-6)
    assert not torch.allclose(powered, spatial_cross_entropy(logits, unit, weight), atol=1e-3)
