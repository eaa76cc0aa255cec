"""Parameter and FLOP counts (for the README table and the MFU benchmark).

FLOPs are 2 × multiply-adds, counted with forward hooks on a real forward pass (so internal
padding, banks and crops are exact), by default on a ``meta``-device copy of the model: shapes
only, no arithmetic, so even the paper-size detector is counted in milliseconds.

Counted: every ``nn.Conv2d`` / ``nn.Linear`` and the fixed Gaussian filters of
``LocalContrastNorm`` (depthwise ``F.conv2d`` calls, not modules). Not counted (the convention
of ``torch.utils.flop_counter.FlopCounterMode``, which the tests check these counts against):
bias additions, pooling, norm layers, ReLUs, element-wise ops.

A training step (:func:`count_train_flops`) is the forward plus, per layer, the weight
gradient (same FLOPs as its forward) when the weight trains and the input gradient (same
FLOPs again) when the layer's input needs one. The first convolution of each bank reads the
LCN'd image, which needs no gradient, so "3 × forward" overstates a detector step (by 3 % for
``model=small``, 0.3 % for ``model=tompson2014``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from posehybrid.models.lcn import LocalContrastNorm


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _conv_flops(module: nn.Conv2d, out: torch.Tensor) -> int:
    # Each output element needs (Cin/groups)·kh·kw multiply-adds.
    kh, kw = module.kernel_size
    macs_per_out = (module.in_channels // module.groups) * kh * kw
    return 2 * out.numel() * macs_per_out


def _lcn_flops(module: LocalContrastNorm, x: torch.Tensor) -> int:
    """LCN's two smoothings, each a row pass on the padded map then a column pass.

    x (B,C,H,W): the row pass outputs (B,C,H+2p,W), the column pass (B,C,H,W), K MACs each.
    """
    b, c, h, w = x.shape
    k, p = module.kernel_size, module.kernel_size // 2
    per_smooth = 2 * k * b * c * ((h + 2 * p) * w + h * w)
    return 2 * per_smooth


def _layer_flops(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        return _conv_flops(module, out)
    if isinstance(module, nn.Linear):
        return 2 * out.numel() * module.in_features
    if isinstance(module, LocalContrastNorm):
        return _lcn_flops(module, x)
    return 0


_COUNTED = (nn.Conv2d, nn.Linear, LocalContrastNorm)


def _count(
    model: nn.Module, input_shape: Sequence[int], device: torch.device | str | None, train: bool
) -> int:
    """Forward (``train=False``) or forward + backward (``train=True``) FLOPs of one input."""
    if device is None or torch.device(device).type == "meta":
        # A meta copy: the caller's model is untouched and nothing is computed.
        net, dev = copy.deepcopy(model).to("meta"), torch.device("meta")
    else:
        net, dev = model, torch.device(device)
    total = 0

    def hook(module: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        fwd = _layer_flops(module, inp[0], out)
        total += fwd
        if train:
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.requires_grad:
                total += fwd  # dL/dW: one more product of the same size
            if inp[0].requires_grad:
                total += fwd  # dL/dx: the transposed operation, same size

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, _COUNTED)]
    was_training = net.training
    try:
        net.train(train)
        with torch.set_grad_enabled(train):
            net(torch.zeros(*input_shape, device=dev))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return int(total)


def count_conv_flops(
    model: nn.Module, input_shape: Sequence[int], device: torch.device | str | None = None
) -> int:
    """Forward FLOPs (2 × multiply-adds) of Conv2d/Linear/LCN layers for one input.

    ``input_shape`` includes the batch dimension, e.g. (1, 3, 128, 128); the count scales with
    it. ``device``: ``None``/``"meta"`` counts on a meta copy (free); a real device runs the
    model itself there (e.g. for modules whose forward a meta tensor cannot run).
    """
    return _count(model, input_shape, device, train=False)


def count_train_flops(
    model: nn.Module, input_shape: Sequence[int], device: torch.device | str | None = None
) -> int:
    """FLOPs of forward + backward (a training step's model work) for one input.

    Per layer: forward, + weight gradient if its weight requires grad, + input gradient if
    its input requires grad (see the module docstring). The optimiser step is not counted.
    """
    return _count(model, input_shape, device, train=True)


__all__ = ["count_conv_flops", "count_parameters", "count_train_flops"]
