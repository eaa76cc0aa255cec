"""Local contrast normalisation (LCN), the per-bank input normalisation of Tompson et al. 2014.

Subtractive then divisive normalisation with a normalised Gaussian window, per channel
(Jarrett et al. 2009 style):

    v = x - G * x                      (remove the local mean)
    σ = sqrt(G * v²)                   (local standard deviation)
    y = v / max(σ, mean(σ), eps)       (divide, but never amplify flat regions above average)

The window is a fixed (non-trainable) buffer applied as a depthwise convolution. Borders use
reflection padding so that an image edge is not mistaken for a contrast edge.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gaussian_window(kernel_size: int, sigma: float) -> Tensor:
    """A normalised 2-D Gaussian window, shape (kernel_size, kernel_size), summing to 1."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"LCN kernel_size must be a positive odd integer, got {kernel_size}")
    r = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    w = g[:, None] * g[None, :]
    return (w / w.sum()).float()


class LocalContrastNorm(nn.Module):
    """Subtractive + divisive local contrast normalisation with a Gaussian window.

    Args:
        channels: number of input channels (the window is applied to each independently).
        kernel_size: odd window size in pixels.
        sigma: Gaussian standard deviation; default ``kernel_size / 4`` (≈ the window's
            effective radius, as in the Torch7 ``SpatialContrastiveNormalization`` defaults).
        eps: floor of the divisor, so that constant images map to 0 rather than NaN.

    Shapes: ``forward(x (B,C,H,W)) -> (B,C,H,W)``.
    """

    def __init__(
        self, channels: int = 3, kernel_size: int = 9, sigma: float | None = None, eps: float = 1e-4
    ) -> None:
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.sigma = float(sigma) if sigma is not None else kernel_size / 4.0
        self.eps = eps
        # The Gaussian is separable: two 1-D depthwise passes cost 2K instead of K² per pixel.
        g = gaussian_window(kernel_size, self.sigma).sum(0)  # (K,) marginal, sums to 1
        # Buffers (never trained, not saved) so they follow .to(device/dtype).
        self.register_buffer("row", g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), persistent=False)
        self.register_buffer("col", g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), persistent=False)

    def _smooth(self, x: Tensor) -> Tensor:
        p = self.kernel_size // 2
        # Reflection needs p < H, W; fall back to replicate for tiny maps.
        mode = "reflect" if min(x.shape[-2:]) > p else "replicate"
        x = F.pad(x, (p, p, p, p), mode=mode)
        x = F.conv2d(x, self.row.to(x.dtype), groups=self.channels)
        return F.conv2d(x, self.col.to(x.dtype), groups=self.channels)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"LCN expects {self.channels} channels, got input {tuple(x.shape)}")
        v = x - self._smooth(x)
        sigma = self._smooth(v * v).clamp_min(0).sqrt()
        # Per image/channel mean σ: a flat area is divided by the average contrast, not its own
        # (near-zero) one, so noise in flat areas is not blown up.
        mean_sigma = sigma.mean(dim=(-2, -1), keepdim=True)
        return v / torch.maximum(sigma, mean_sigma).clamp_min(self.eps)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}, sigma={self.sigma:.3g}"


__all__ = ["LocalContrastNorm", "gaussian_window"]
