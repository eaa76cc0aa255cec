"""``warmup_cosine``: the rates it gives each parameter group, step by step."""

from __future__ import annotations

import math

import pytest
import torch

from posehybrid.modules.schedules import warmup_cosine


def _rates(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[list[float]]:
    opt = scheduler.optimizer
    out = []
    for _ in range(steps + 1):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        scheduler.step()
    return out


def _optimizer() -> torch.optim.Optimizer:
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.Adam([{"params": [a], "lr": 5e-3}, {"params": [b], "lr": 1e-2}])


def test_warm_up_then_cosine_for_each_group_from_its_own_rate() -> None:
    total, eta_min = 100, 1e-6
    rates = _rates(warmup_cosine(_optimizer(), total, 0.1, 0.1, eta_min), total)
    for g, base in enumerate((5e-3, 1e-2)):
        assert rates[0][g] == pytest.approx(0.1 * base)  # the first step's rate
        assert rates[5][g] == pytest.approx(base * (0.1 + 0.9 * 5 / 10))  # linear
        assert rates[10][g] == pytest.approx(base)  # the peak, at the end of the warm-up
        for t in (30, 55, 90):
            cosine = eta_min + (base - eta_min) * (1 + math.cos(math.pi * (t - 10) / 90)) / 2
            assert rates[t][g] == pytest.approx(cosine, rel=1e-6)
        assert rates[total][g] == pytest.approx(eta_min, abs=1e-12)


def test_no_warm_up_is_the_plain_cosine() -> None:
    total = 40
    plain = torch.optim.lr_scheduler.CosineAnnealingLR(_optimizer(), T_max=total, eta_min=1e-5)
    ours = warmup_cosine(_optimizer(), total, 0.0, 0.1, 1e-5)
    for mine, theirs in zip(_rates(ours, total), _rates(plain, total), strict=True):
        assert mine == pytest.approx(theirs)


def test_a_bad_fraction_is_named() -> None:
    with pytest.raises(ValueError, match=r"warmup_fraction=1\.5"):
        warmup_cosine(_optimizer(), 10, 1.5, 0.1, 0.0)


def test_a_resumed_base_rate_rescales_the_schedule() -> None:
    """What ``ConfiguredLearningRate`` does on a resume with another configured rate."""
    scheduler = warmup_cosine(_optimizer(), 100, 0.1, 0.1, 0.0)
    for _ in range(30):
        scheduler.optimizer.step()
        scheduler.step()
    before = scheduler.get_last_lr()
    scheduler.base_lrs[0] *= 2.0
    scheduler.optimizer.step()
    scheduler.step()
    after = scheduler.get_last_lr()
    ratio = [a / b for a, b in zip(after, before, strict=True)]
    assert ratio[0] == pytest.approx(2.0 * ratio[1])  # group 0 doubled, group 1 untouched
