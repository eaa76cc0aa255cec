"""Fold batch norm into the preceding convolution for inference.

In eval mode a ``BatchNorm2d`` is a per-channel affine map ``y = a·x + b`` with
``a = γ / sqrt(running_var + eps)`` and ``b = β − a·running_mean``, so ``BN(conv(x))`` is one
convolution with weights ``a·W`` and bias ``a·bias + b``
(``torch.nn.utils.fusion.fuse_conv_bn_eval``). That removes a full read and write of every
normalised activation (about 2 ms of the ``model=small`` detector at batch 1).

The part detector pools *before* its norm layers (``conv → maxpool → BN``). A per-channel
affine map commutes with max-pooling only where ``a ≥ 0`` (a negative scale turns a max into
a min), so such a BN is folded through the pool only when every channel's scale is
non-negative, and otherwise left in place: the result is always the same function.

Only ``nn.Sequential`` containers are searched (the order of their children is the order of
computation); norm layers elsewhere are left alone.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
# layers a per-channel affine map with non-negative scales can be moved in front of
_MONOTONE = (nn.MaxPool2d,)


def _bn_scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    """(C,) the eval-mode scale a = γ / sqrt(running_var + eps)."""
    var = bn.running_var
    assert var is not None
    gamma = bn.weight if bn.affine else torch.ones_like(var)
    return gamma.detach() / torch.sqrt(var + bn.eps)


def _foldable(bn: nn.Module) -> bool:
    # Without running statistics (track_running_stats=False) eval mode still normalises with
    # the batch's statistics: not an affine map, cannot be folded.
    return isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None


def _fuse(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    channels_last = conv.weight.is_contiguous(memory_format=torch.channels_last)
    fused = fuse_conv_bn_eval(conv, bn)
    if channels_last:  # keep the layout the model chose (NHWC convolutions are faster on CPU)
        fused = fused.to(memory_format=torch.channels_last)
    return fused


def _fold_sequential(seq: nn.Sequential) -> int:
    """Fold in place; returns how many norm layers were folded."""
    layers = list(seq)
    folded = 0
    for i, layer in enumerate(layers):
        if not _foldable(layer):
            continue
        j = i - 1
        while j >= 0 and isinstance(layers[j], _MONOTONE):
            j -= 1
        conv = layers[j] if j >= 0 else None
        through_pool = j < i - 1
        ok = (
            isinstance(conv, nn.Conv2d)
            and conv.out_channels == layer.num_features
            and not (through_pool and bool((_bn_scale(layer) < 0).any()))
        )
        if not ok:
            continue
        layers[j] = _fuse(conv, layer)
        layers[i] = nn.Identity()
        folded += 1
    for (name, _), layer in zip(list(seq.named_children()), layers, strict=True):
        setattr(seq, name, layer)  # nn.Module.__setattr__ re-registers the child in place
    return folded


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every foldable ``BatchNorm2d`` merged into the
    convolution before it (replaced by ``nn.Identity``); ``model`` itself is not changed.

    Same function as ``model.eval()`` up to float32 round-off. A model without norm layers
    comes back as an equal copy. The counts are on the copy as ``folded_batch_norms`` /
    ``kept_batch_norms`` (ints).

    Shapes: whatever ``model`` maps, e.g. (B,3,H,W) -> (B,J,H/4,W/4) for a ``PartDetector``.
    """
    out = copy.deepcopy(model).eval()
    folded = sum(_fold_sequential(m) for m in list(out.modules()) if isinstance(m, nn.Sequential))
    out.folded_batch_norms = folded
    out.kept_batch_norms = sum(isinstance(m, _NORMS) for m in out.modules())
    return out


__all__ = ["fold_batch_norm"]
