"""Parameter and convolution FLOP counts (for the README table and the MFU benchmark).

FLOPs are counted as 2 × multiply-adds of every ``nn.Conv2d`` / ``nn.Linear`` forward, measured
with forward hooks on a real forward pass (so internal padding, banks and crops are exact).
Pooling, LCN's fixed-window filtering of the 3-channel input, ReLUs and additions are ignored:
they are < 1 % of the work for these models. LCN uses ``F.conv2d`` (not a module), so it is not
counted either.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _conv_flops(module: nn.Conv2d, out: torch.Tensor) -> int:
    # Each output element needs (Cin/groups)·kh·kw multiply-adds.
    kh, kw = module.kernel_size
    macs_per_out = (module.in_channels // module.groups) * kh * kw
    return 2 * out.numel() * macs_per_out


def count_conv_flops(
    model: nn.Module, input_shape: Sequence[int], device: torch.device | str = "cpu"
) -> int:
    """Forward FLOPs (2 × multiply-adds) of all Conv2d/Linear layers for one input of ``input_shape``.

    ``input_shape`` includes the batch dimension, e.g. (1, 3, 128, 128); the count scales with it.
    Bias additions are not counted (the usual convention).
    """
    total = 0

    def hook(module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += _conv_flops(module, out)
        elif isinstance(module, nn.Linear):
            total += 2 * out.numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(*input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)


__all__ = ["count_conv_flops", "count_parameters"]
