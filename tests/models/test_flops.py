"""The project's FLOP counts (``models.flops``) against ``torch.utils.flop_counter``.

``FlopCounterMode`` counts every aten convolution and its backward from the dispatcher, so it
is an independent check of the hook-based counts the MFU benchmark divides by. Both run on the
meta device: shapes only, so the paper-size detector costs nothing here.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.flop_counter import FlopCounterMode

from posehybrid.models.flops import count_conv_flops, count_train_flops
from posehybrid.models.part_detector import PartDetector
from tests.models.test_part_detector import preset


def reference(model: torch.nn.Module, shape: tuple[int, ...], train: bool) -> int:
    """FlopCounterMode's count of a forward (+ backward of a scalar loss when ``train``)."""
    net = copy.deepcopy(model).to("meta").train(train)
    x = torch.zeros(*shape, device="meta")
    with FlopCounterMode(display=False) as counter:
        if train:
            net(x).square().mean().backward()
        else:
            with torch.no_grad():
                net(x)
    return counter.get_total_flops()


def detector(name: str) -> tuple[PartDetector, tuple[int, ...]]:
    cfg = preset(name)
    w, h = cfg["input_size"]
    return instantiate(cfg["part_detector"]), (2, 3, h, w)


@pytest.mark.parametrize("name", ["small", "tompson2014"])
def test_counts_equal_flop_counter_mode(name: str) -> None:
    # small: batch norm, 1x1 head; tompson2014: the paper's sizes, 9x9 head, 360x240 padded
    # internally to a multiple of 16 (the padded work is real work and counted by both).
    model, shape = detector(name)
    fwd = count_conv_flops(model, shape)
    train = count_train_flops(model, shape)
    assert fwd == reference(model, shape, train=False)
    assert train == reference(model, shape, train=True)
    # The first conv of each bank needs no input gradient, so a step is less than 3 x forward.
    assert 2 * fwd < train < 3 * fwd
    assert next(model.parameters()).device.type == "cpu"  # counted on a copy


def test_tompson2014_forward_is_the_paper_scale() -> None:
    model, (_, c, h, w) = detector("tompson2014")
    # ~285 GFLOP per 360x240 image: the 9x9 head at 512->256 channels dominates.
    assert count_conv_flops(model, (1, c, h, w)) == pytest.approx(284.7e9, rel=1e-3)


def test_frozen_weights_are_not_counted_in_the_step() -> None:
    model, shape = detector("small")
    for p in model.bank_layers.parameters():
        p.requires_grad_(False)
    train = count_train_flops(model, shape)
    assert train == reference(model, shape, train=True)
    assert train < count_train_flops(detector("small")[0], shape)


def test_counts_scale_with_batch_and_match_on_a_real_device() -> None:
    model, (_, c, h, w) = detector("small")
    one = count_conv_flops(model, (1, c, h, w))
    assert count_conv_flops(model, (3, c, h, w)) == 3 * one
    small = (1, c, h // 2, w // 2)
    assert count_conv_flops(model, small, device="cpu") == count_conv_flops(model, small)
    assert model.training  # restored after the eval-mode count
