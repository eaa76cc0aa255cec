"""Heat-map losses shared by the stages. Tensors are (B, J, h, w) maps and (B, J) weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Visibility-weighted MSE: joints with weight 0 (invisible/missing) contribute nothing.

    Normalised by the number of weighted joints (not B*J) so the loss scale does not depend on
    how many joints happen to be visible in a batch.
    """
    per_joint = (pred - target).pow(2).mean(dim=(2, 3))  # (B, J)
    return (per_joint * weight).sum() / weight.sum().clamp_min(1.0)


def spatial_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, target_power: float = 1.0
) -> torch.Tensor:
    """Cross-entropy of a spatial softmax of ``logits`` over the h*w pixels against the
    Gaussian ``target`` normalised to a distribution (equal to KL up to a constant).
    ``target_power`` raises the target first: a Gaussian of std sigma becomes one of std
    ``sigma / sqrt(target_power)`` (8: 0.35 sigma, a near one-hot spread over the cells around
    the sub-pixel location; 0.5: 1.41 sigma). Above 1 it asks the softmax to put its mass on
    the right cell rather than on a blob the detector's own width.

    Design §4: treating the log-space messages as logits trains the pairwise kernels, whereas
    MSE on ``exp(s)`` barely moves them because its scale is arbitrary.
    """
    b, j = logits.shape[:2]
    log_p = F.log_softmax(logits.reshape(b, j, -1), dim=-1)
    t = target.reshape(b, j, -1).clamp_min(0)
    if target_power != 1.0:
        t = t.pow(target_power)
    mass = t.sum(dim=-1, keepdim=True)
    valid = (mass.squeeze(-1) > 0).to(weight.dtype) * weight
    t = t / mass.clamp_min(1e-12)
    per_joint = -(t * log_p).sum(dim=-1)  # (B, J)
    return (per_joint * valid).sum() / valid.sum().clamp_min(1.0)


def spatial_mse(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """MSE on ``exp(s)`` (the paper's literal loss); kept for comparison, see design §4."""
    return heatmap_mse(logits.clamp(max=30).exp(), target, weight)
