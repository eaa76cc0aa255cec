"""Initial spatial-model kernels from training-set displacement histograms (design §4).

Convention (matches ``SpatialModel``, which cross-correlates like ``F.conv2d``): for an edge
(A, v) and displacement d = kp_A − kp_v (x right, y down, heat-map pixels), the mass goes to kernel
pixel ``[c − d_y, c − d_x]`` with c = K // 2. A delta of v at pixel P then produces a response
peaking at P + d, i.e. where A is likely to be. (The kernel *image* is therefore the displacement
histogram rotated by 180°.)

Normalisation: each histogram is scaled so its **maximum is 1**, then floored at ``floor``
(``max(h, floor)``). Max-normalisation keeps the scale independent of K and comparable to the
self-edge delta (also peak 1); a floor relative to a sum-normalised histogram would instead swamp
it once K² · floor ≳ 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

HistogramPairs = Literal["neighbours", "all", "none"]


def _gaussian_blur(h: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (E,K,K) with zero padding (mass beyond the kernel is dropped)."""
    if sigma <= 0:
        return h
    r = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=h.dtype)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    x = h.unsqueeze(1)  # (E,1,K,K)
    x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, r))
    x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(r, 0))
    return x.squeeze(1)


def displacement_histograms(
    keypoints: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor,
    edges: Sequence[Sequence[int]],
    kernel_size: int,
    blur_sigma: float = 1.0,
    floor: float = 1e-3,
) -> torch.Tensor:
    """Blurred, max-normalised, floored displacement histograms, one per edge.

    Args:
        keypoints: (N, J, 2) joint positions (x, y) in *heat-map* pixels.
        valid: (N, J) bool; a sample counts for edge (A, v) only when both joints are valid.
        edges: (A, v) pairs.
        kernel_size: odd K; displacements beyond ±K//2 are dropped.
        blur_sigma: Gaussian blur in heat-map pixels (0 = none).
        floor: minimum value after normalisation, so log(kernel) is finite.

    Returns: (E, K, K) float32; an edge with no valid sample is flat at ``floor``.
    Sub-pixel displacements are splatted bilinearly onto the 4 nearest kernel pixels.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(kp).all(-1)
    if kp.ndim != 3 or kp.shape[-1] != 2 or ok.shape != kp.shape[:2]:
        raise ValueError(f"keypoints must be (N,J,2) and valid (N,J); got {kp.shape}, {ok.shape}")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    k, c = kernel_size, kernel_size // 2
    hist = np.zeros((len(edges), k, k), dtype=np.float64)
    for i, (a, v) in enumerate(edges):
        m = ok[:, a] & ok[:, v]
        d = kp[m, a] - kp[m, v]  # (n, 2) displacement of A relative to v
        # Cross-correlation convention: displacement d lives at kernel pixel c − d.
        px, py = c - d[:, 0], c - d[:, 1]
        x0, y0 = np.floor(px), np.floor(py)
        fx, fy = px - x0, py - y0
        for dx, dy, wgt in (
            (0, 0, (1 - fx) * (1 - fy)),
            (1, 0, fx * (1 - fy)),
            (0, 1, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            xi, yi = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
            inside = (xi >= 0) & (xi < k) & (yi >= 0) & (yi < k)
            np.add.at(hist[i], (yi[inside], xi[inside]), wgt[inside])
    h = _gaussian_blur(torch.from_numpy(hist), blur_sigma)
    peak = h.amax(dim=(-2, -1), keepdim=True)
    h = torch.where(peak > 0, h / peak.clamp_min(1e-300), torch.zeros_like(h))
    return h.clamp_min(floor).float()


def delta_kernel(kernel_size: int) -> torch.Tensor:
    """(K, K) with a single 1 at the centre (the self edge; design §4: not a blob)."""
    d = torch.zeros(kernel_size, kernel_size)
    d[kernel_size // 2, kernel_size // 2] = 1.0
    return d


def init_kernels(
    edges: Sequence[Sequence[int]],
    keypoints: np.ndarray | torch.Tensor | None,
    valid: np.ndarray | torch.Tensor | None,
    kernel_size: int,
    histogram_pairs: HistogramPairs = "neighbours",
    neighbour_set: Iterable[Sequence[int]] = (),
    blur_sigma: float = 1.0,
    floor: float = 1e-3,
    flat_value: float | None = None,
    links: Iterable[Sequence[int]] = (),
) -> torch.Tensor:
    """Initial probability-space kernels (E, K, K) for ``SpatialModel.init_kernels``.

    - self edges (A, A): a delta;
    - neighbour pairs (either direction of a pair in ``neighbour_set``): displacement histograms
      when ``histogram_pairs`` is "neighbours" or "all", flat otherwise;
    - other pairs: histograms only when ``histogram_pairs == "all"`` (design §4: broad priors on
      all pairs act as an "average pose" prior and hurt), otherwise flat.

    Flat kernels are constant ``flat_value`` (default: ``floor``); they add a per-image constant.
    ``links`` (e.g. ``JointSet.link_indices``) is an alias of ``neighbour_set``; both are merged.
    Keypoints are (N, J, 2) in heat-map pixels (see ``displacement_histograms``).
    """
    if histogram_pairs not in ("neighbours", "all", "none"):
        raise ValueError(f"histogram_pairs must be neighbours|all|none, got {histogram_pairs!r}")
    edges = [(int(a), int(v)) for a, v in edges]
    nbrs = {(int(a), int(v)) for a, v in (*neighbour_set, *links)}
    nbrs |= {(v, a) for a, v in nbrs}
    flat = floor if flat_value is None else flat_value
    out = torch.full((len(edges), kernel_size, kernel_size), float(flat))
    want = [
        i
        for i, (a, v) in enumerate(edges)
        if a != v
        and (histogram_pairs == "all" or (histogram_pairs == "neighbours" and (a, v) in nbrs))
    ]
    if want:
        if keypoints is None or valid is None:
            raise ValueError(f"histogram_pairs={histogram_pairs!r} needs keypoints and valid")
        sub = [edges[i] for i in want]
        out[want] = displacement_histograms(keypoints, valid, sub, kernel_size, blur_sigma, floor)
    for i, (a, v) in enumerate(edges):
        if a == v:
            out[i] = delta_kernel(kernel_size)
    return out


__all__ = ["HistogramPairs", "delta_kernel", "displacement_histograms", "init_kernels"]
