"""Learning-rate schedules that read each parameter group's own rate from the optimiser, so a
stage's rates live in one place (its optimiser node or ``param_groups``). Built by Hydra with
``_partial_: true``; the module calls them with the optimiser and steps them every optimiser
step (``BaseModule._configure``)."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int,
    warmup_fraction: float,
    start_factor: float,
    eta_min: float,
) -> LRScheduler:
    """A linear warm-up from ``start_factor`` x each group's rate to the rate itself over the
    first ``round(warmup_fraction * total_steps)`` steps, then a cosine to ``eta_min`` at
    ``total_steps`` (``torch.optim.lr_scheduler`` pieces in a ``SequentialLR``). With no
    warm-up steps it is ``CosineAnnealingLR(T_max=total_steps)``."""
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction={warmup_fraction}: expected a fraction in [0, 1)")
    warmup = round(warmup_fraction * total_steps)
    if warmup == 0:
        return CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=eta_min)
    ramp = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup)
    anneal = CosineAnnealingLR(optimizer, T_max=total_steps - warmup, eta_min=eta_min)
    return SequentialLR(optimizer, [ramp, anneal], milestones=[warmup])
