"""Learning-rate schedules that read each parameter group's own rate from the optimiser, so a
stage's rates live in one place (its optimiser node or ``param_groups``). Built by Hydra with
``_partial_: true``; the module calls them with the optimiser and steps them every optimiser
step (``BaseModule._configure``)."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_factor(
    step: int, total_steps: int, warmup_steps: int, start_factor: float, floor: float
) -> float:
    """The rate at ``step`` as a fraction of the base rate: linear from ``start_factor`` to 1
    over ``warmup_steps``, then a cosine from 1 to ``floor`` at ``total_steps`` (held after)."""
    if step < warmup_steps:
        return start_factor + (1.0 - start_factor) * step / warmup_steps
    t = min(step - warmup_steps, total_steps - warmup_steps) / max(total_steps - warmup_steps, 1)
    return floor + (1.0 - floor) * (1.0 + math.cos(math.pi * t)) / 2.0


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int,
    warmup_fraction: float,
    start_factor: float,
    eta_min: float,
) -> LambdaLR:
    """A linear warm-up from ``start_factor`` x each group's rate to the rate itself over the
    first ``round(warmup_fraction * total_steps)`` steps, then a cosine to ``eta_min`` at
    ``total_steps``; with no warm-up steps, ``CosineAnnealingLR(T_max=total_steps)``'s rates.
    A ``LambdaLR`` (one factor per group, times its ``base_lrs``), so a resume that configures
    another base rate rescales it like any other schedule."""
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction={warmup_fraction}: expected a fraction in [0, 1)")
    warmup = round(warmup_fraction * total_steps)

    def factor(base_lr: float) -> Callable[[int], float]:
        floor = eta_min / base_lr if base_lr > 0 else 0.0
        return lambda step: warmup_cosine_factor(step, total_steps, warmup, start_factor, floor)

    return LambdaLR(optimizer, [factor(float(g["lr"])) for g in optimizer.param_groups])
