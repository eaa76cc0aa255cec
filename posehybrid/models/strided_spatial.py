"""The spatial model with its pairwise messages at a coarser resolution (a CPU-sized option).

Same parameters, priors and checkpoints as :class:`SpatialModel` (every kernel (K, K) at
heat-map resolution); only the pairwise (A ≠ v) messages are computed on maps pooled by
``stride`` and upsampled back after their logs are summed per target:

    s_A = log( SoftPlus(w_{A|A}) ⋆ ReLU(e_A) + SoftPlus(b_{A→A}) )
        + Up_s( Σ_{v≠A} log( W^s_{A|v} ⋆ Pool_s(ReLU(e_v)) + SoftPlus(b_{v→A}) ) )

``Pool_s`` averages s×s blocks; ``W^s`` is the kernel smoothed by a separable tent of half-width
s and sampled every s taps around its centre, times s² (the mass an average-pooled input
loses); ``Up_s`` is bilinear (half-pixel centres, as the pooling). Why: the self edge carries
the detector's precision and stays at full resolution, while the pairwise priors are broad
(blurred displacement histograms) and lose little on a coarser grid; their per-edge inverse
FFTs, 182 of the 196 edges of the full graph, are what the spatial model spends its time on,
and at stride 2 each is about 4x smaller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from posehybrid.models.fft_messages import EdgeMessages, fft_plan, kernel_spectra
from posehybrid.models.spatial_model import SpatialModel


def tent(stride: int) -> Tensor:
    """(2s−1,) separable tent weights summing to 1 (s = 2: [0.25, 0.5, 0.25])."""
    t = torch.arange(1 - stride, stride, dtype=torch.float32).abs()
    w = stride - t
    return w / w.sum()


class StridedSpatialModel(SpatialModel):
    """:class:`SpatialModel` whose pairwise messages run at 1/``pairwise_stride`` resolution.

    Args (beyond :class:`SpatialModel`'s):
        pairwise_stride: s ≥ 1; the heat-map sides must be divisible by it. s = 1 is exactly
            :class:`SpatialModel`.

    Needs a scalar bias (a per-pixel one would live on two grids).
    Shapes: ``forward(e (B,J,h,w)) -> s (B,J,h,w)``, as the base class.
    """

    def __init__(
        self,
        num_joints: int,
        edges: Sequence[Sequence[int]],
        heatmap_size: Sequence[int],
        *args: Any,
        pairwise_stride: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_joints, edges, heatmap_size, *args, **kwargs)
        s = int(pairwise_stride)
        w, h = self.heatmap_size
        if s < 1 or h % s or w % s:
            raise ValueError(f"pairwise_stride must be >= 1 and divide the heat-map size {w}x{h}")
        if s > 1 and self.bias_mode != "scalar":
            raise ValueError(
                f"pairwise_stride={s} needs bias='scalar', got {self.bias_mode!r} "
                "(pairwise_stride=1, the full-resolution model, takes per-pixel biases)"
            )
        self.pairwise_stride = s
        is_self = torch.tensor([a == v for a, v in self.edges])
        self.register_buffer("_self_ids", torch.nonzero(is_self).flatten(), persistent=False)
        # Pairwise edges: every edge on the dense all-pairs grid (the self edges' coarse
        # messages are computed and dropped: cheaper than gathering the other 182), else the
        # pairwise ones alone.
        pair = torch.ones_like(is_self) if self._dense else ~is_self
        self.register_buffer("_pair_ids", torch.nonzero(pair).flatten(), persistent=False)
        self.register_buffer("_pair_kept", (~is_self[pair]).float(), persistent=False)
        # Coarse kernels: taps c ± s·D for D ≤ c_s, each smoothed over ±(s−1) taps.
        c = self.kernel_size // 2
        self._coarse_half = max(0, (c - (s - 1)) // s)
        self._coarse_crop = c - s * self._coarse_half - (s - 1)
        self.register_buffer("_tent", tent(s), persistent=False)
        k_s = 2 * self._coarse_half + 1
        self._nh_s, self._nw_s, index, mask = fft_plan(k_s, h // s, w // s)
        self.register_buffer("_coarse_index", index, persistent=False)
        self.register_buffer("_coarse_mask", mask, persistent=False)

    def coarse_kernels(self, kernels: Tensor) -> Tensor:
        """Probability-space kernels (E', K, K) -> their coarse kernels W^s (E', K_s, K_s).

        The tent's strided correlation as 2s − 1 strided slices per axis: the same sums as
        ``F.conv2d`` with the tent and stride s, without its cost on this shape (one conv per
        axis was a third of the strided model's forward+backward on CPU).
        """
        s, lo = self.pairwise_stride, self._coarse_crop
        k = kernels[:, lo : kernels.shape[-2] - lo, lo : kernels.shape[-1] - lo]
        n = 2 * self._coarse_half + 1
        span = (n - 1) * s + 1  # the input taps one output row/column reads, at stride s
        t = self._tent.tolist()  # Python floats: no device or dtype to match
        k = sum(w * k[..., j : j + span : s] for j, w in enumerate(t))
        return sum(w * (s * s) * k[..., j : j + span : s, :] for j, w in enumerate(t))

    def _split_kernels(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """(self-edge kernels (J, K, K), coarse pairwise kernels (E', K_s, K_s)) in ``dtype``,
        from one SoftPlus of the weights."""
        kernels = self.kernels()
        own = kernels.index_select(0, self._self_ids)
        coarse = self.coarse_kernels(kernels.index_select(0, self._pair_ids))
        return own.to(dtype), coarse.to(dtype)

    def _compute_spectra(self, dtype: torch.dtype) -> Any:
        """(full-resolution self-edge spectra, coarse pairwise spectra); the base class's
        spectra at stride 1."""
        if self.pairwise_stride == 1:
            return super()._compute_spectra(dtype)
        own, coarse = self._split_kernels(dtype)
        return (
            kernel_spectra(own, self._layout_index, self._layout_mask),
            kernel_spectra(coarse, self._coarse_index, self._coarse_mask),
        )

    def _log_sum(self, conv: Tensor, ids: Tensor, weight: Tensor) -> Tensor:
        """Σ over each target of ``log(conv + SoftPlus(b) + eps)``: (B,E',p,q) -> (B,J,p,q);
        ``weight`` (E',) scales each edge's log (0 drops it)."""
        b = self.biases().index_select(0, ids).to(conv.dtype).view(1, -1, 1, 1)
        logs = torch.log(conv.clamp_min(0) + b + self.eps)
        tgt = self._tgt_onehot.index_select(1, ids).to(conv.dtype) * weight.to(conv.dtype)
        tau = self.edge_weights()
        if tau is not None:
            tgt = tgt * tau.index_select(0, ids).to(conv.dtype)
        n, _, p, q = logs.shape
        return torch.matmul(tgt, logs.reshape(n, -1, p * q)).view(n, self.num_joints, p, q)

    def _pairwise_scores(self, pair: Tensor) -> Tensor:
        """Coarse pairwise messages (B,E',p,q) -> each target's summed log-messages (B,J,p,q)."""
        return self._log_sum(pair, self._pair_ids, self._pair_kept)

    def forward(self, e: Tensor, method: Literal["fft", "direct"] = "fft") -> Tensor:
        """(B,J,h,w) detector heat-maps -> (B,J,h,w) log-space scores (float32, as the base)."""
        if self.pairwise_stride == 1:
            return super().forward(e, method)
        if method not in ("fft", "direct"):
            raise ValueError(f"method must be 'fft' or 'direct', got {method!r}")
        self._check(e)
        s, c_s = self.pairwise_stride, self._coarse_half
        w, h = self.heatmap_size
        if e.dtype not in (torch.float32, torch.float64):
            e = e.float()
        with torch.autocast(device_type=e.device.type, enabled=False):
            x = F.relu(e)
            xs = F.avg_pool2d(x, s)
            ones = torch.ones(len(self._self_ids), dtype=x.dtype, device=x.device)
            own_src = self.sources.index_select(0, self._self_ids)
            pair_src = self.sources.index_select(0, self._pair_ids)
            if method == "fft":  # the base class's (B, E, w, h) layout: spatial axes swapped
                kf, kf_s = self._kernel_spectra(x.dtype)
                onehot = self._src_onehot.to(x.dtype)
                xf = torch.fft.fft(torch.fft.rfft(x, n=self._nh, dim=-2), n=self._nw, dim=-1)
                own = EdgeMessages.apply(xf, kf, own_src, onehot.index_select(0, self._self_ids),
                                         w, h, self._nh, False)  # fmt: skip
                xfs = torch.fft.fft(torch.fft.rfft(xs, n=self._nh_s, dim=-2), n=self._nw_s, dim=-1)
                pair = EdgeMessages.apply(xfs, kf_s, pair_src, onehot.index_select(0, self._pair_ids),
                                          w // s, h // s, self._nh_s, self._dense)  # fmt: skip
            else:
                k, k_s = (t.unsqueeze(1) for t in self._split_kernels(x.dtype))
                own = F.conv2d(x.index_select(1, own_src), k, padding=self.kernel_size // 2,
                               groups=len(k))  # fmt: skip
                pair = F.conv2d(xs.index_select(1, pair_src), k_s, padding=c_s, groups=len(k_s))
            coarse = self._pairwise_scores(pair)
            up = F.interpolate(coarse, scale_factor=s, mode="bilinear", align_corners=False)
            scores = self._log_sum(own, self._self_ids, ones) + up
        return scores.transpose(-1, -2).contiguous() if method == "fft" else scores

    def conv_fft(self, e: Tensor) -> Tensor:
        if self.pairwise_stride == 1:
            return super().conv_fft(e)
        raise NotImplementedError("messages live on two grids: compare forward(e, method=...)")

    def conv_direct(self, e: Tensor) -> Tensor:
        if self.pairwise_stride == 1:
            return super().conv_direct(e)
        raise NotImplementedError("messages live on two grids: compare forward(e, method=...)")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, pairwise_stride={self.pairwise_stride}"


__all__ = ["StridedSpatialModel", "tent"]
