"""A per-joint confidence in [0, 1] from the maps a prediction was decoded from (what
``predict`` writes and the Python API returns next to each keypoint)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def peak_mass(logits: torch.Tensor, radius: int) -> torch.Tensor:
    """(B,J,h,w) log-space maps -> (B,J) in [0,1]: the probability mass of the spatial softmax
    within ``radius`` heat-map px (a square window) of its peak."""
    b, j, h, w = logits.shape
    flat = logits.detach().float().reshape(b, j, h * w)
    p = torch.softmax(flat, dim=-1).reshape(b * j, 1, h, w)
    k = 2 * radius + 1
    # window sums: zero padding, so a peak at the border sums only what lies inside the map
    window = F.avg_pool2d(p, k, stride=1, padding=radius, count_include_pad=True) * (k * k)
    peak = flat.argmax(dim=-1, keepdim=True)
    return window.reshape(b, j, h * w).gather(-1, peak).squeeze(-1).clamp(0.0, 1.0)


def confidence(module: Any, maps: dict[str, torch.Tensor]) -> torch.Tensor:
    """A per-joint confidence in [0, 1], (B,J), from the maps the keypoints were decoded from.

    * spatial and joint stages: :func:`peak_mass` of the spatial model's logits ``s_A``
      within 2 sigma of the argmax (a clean Gaussian target of width sigma scores ~0.95; a
      flat map scores (4 sigma + 1)^2 / (h w));
    * part detector: the heat-map's peak value clamped to [0, 1] (its training target has
      peak 1 at the joint and 0 elsewhere).
    """
    if "spatial" in maps:
        return peak_mass(maps["spatial"], max(1, round(2 * module.codec.sigma)))
    return maps["detector"].detach().float().flatten(2).amax(-1).clamp(0.0, 1.0)
