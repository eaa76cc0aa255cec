"""The state that PCK and PCP share: integer counts summed over batches and processes."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


class CountMetric(Metric):
    """A torchmetrics ``Metric`` whose states are int64 sums: ``correct``, ``total`` and
    ``skipped`` (samples whose normaliser was undefined). Sums reduce exactly under DDP, so a
    score over several processes equals the single-process one."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    correct: Tensor
    total: Tensor
    skipped: Tensor

    def add_counts(self, correct_shape: tuple[int, ...], total_shape: tuple[int, ...]) -> None:
        """Register the three count states (zeros of the given shapes; ``skipped`` is ())."""
        self.add_state(
            "correct", torch.zeros(correct_shape, dtype=torch.long), dist_reduce_fx="sum"
        )
        self.add_state("total", torch.zeros(total_shape, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("skipped", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
