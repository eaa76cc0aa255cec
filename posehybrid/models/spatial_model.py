"""MRF-inspired spatial model of Tompson et al. 2014 (§3.2), computed in log space by FFT.

For each edge (A, v) ("message from v to A") with kernel w_{A|v} and bias b_{v→A}:

    s_A = Σ_{v ∈ N(A)} log( SoftPlus_β(w_{A|v}) ⋆ ReLU(e_v) + SoftPlus_β(b_{v→A}) + eps )
    ē_A = exp(s_A)

``⋆`` is *cross-correlation with 'same' padding*, exactly ``F.conv2d(x, w, padding=K//2)``:

    (w ⋆ x)[i, j] = Σ_{p,q} w[p, q] · x[i + p − c, j + q − c],   c = K // 2.

So a delta of v at pixel P yields the response w[P − P_out + c] at P_out: kernel pixel c − d carries
the mass for "A is displaced by d from v" (d = kp_A − kp_v; see ``priors.displacement_histograms``).

The FFT itself (sizes, the per-edge inverse and its hand-written backward) is in
``models/fft_messages.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posehybrid.models.fft_messages import EdgeMessages, fft_plan, fft_sizes, kernel_spectra


def softplus_inverse(y: Tensor, beta: float = 1.0, min_value: float = 1e-10) -> Tensor:
    """w such that ``F.softplus(w, beta) == y`` (y clamped to ≥ min_value; stable for all y).

    softplus_β(w) = log(1 + exp(βw)) / β  ⇒  w = y + log(1 − exp(−βy)) / β.
    """
    y64 = y.double().clamp_min(min_value)
    w = y64 + torch.log(-torch.expm1(-beta * y64)) / beta
    return w.to(y.dtype)


class SpatialModel(nn.Module):
    """Pairwise spatial model over J heat-maps.

    Args:
        num_joints: J.
        edges: list of (A, v) pairs, "message from v to A" (see ``graph.build_edges``).
        heatmap_size: (w, h) of the heat-maps (width first, like the configs).
        kernel_size: odd K; None covers every displacement: 2·max(h, w) − 1.
        beta: SoftPlus sharpness β.
        bias: ``"scalar"`` (one b per edge, shape (E,)) or ``"pixel"`` (shape (E, h, w)).
        eps: added inside the log so all-zero inputs with tiny biases stay finite.
        bias_init: initial SoftPlus_β(b) (probability space).
        edge_weights: learn one positive weight τ_e per edge on its log-message,
            ``s_A = Σ_v τ_{A|v} log(…)`` (a per-edge temperature; 1 at the start). The plain
            model counts every message as independent evidence, so the broad pairwise terms
            together can outweigh the sharp self term and pull the peak off the detector's.

    Parameters: ``weight`` (E, K, K) and ``bias`` (E,) or (E, h, w), both *pre*-SoftPlus;
    with ``edge_weights`` also ``edge_weight`` (E,), pre-SoftPlus.
    Initially every self edge is a delta and every other edge flat; call ``init_kernels`` with
    priors (``priors.init_kernels``) to start from displacement histograms.

    Shapes: ``forward(e (B,J,h,w)) -> s (B,J,h,w)`` (log-space scores, the logits of a spatial
    softmax); ``refine(e) -> exp(s − max s)`` per map.
    """

    def __init__(
        self,
        num_joints: int,
        edges: Sequence[Sequence[int]],
        heatmap_size: Sequence[int],
        kernel_size: int | None = None,
        beta: float = 1.0,
        bias: Literal["scalar", "pixel"] = "scalar",
        eps: float = 1e-6,
        bias_init: float = 1e-2,
        edge_weights: bool = False,
    ) -> None:
        super().__init__()
        w, h = (int(s) for s in heatmap_size)
        if kernel_size is None:
            kernel_size = 2 * max(h, w) - 1
        kernel_size = int(kernel_size)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for symmetric 'same' padding: {kernel_size}")
        if bias not in ("scalar", "pixel"):
            raise ValueError(f"bias must be 'scalar' or 'pixel', got {bias!r}")
        self.edges = [(int(a), int(v)) for a, v in edges]
        if not self.edges:
            raise ValueError("SpatialModel needs at least one edge")
        for a, v in self.edges:
            if not (0 <= a < num_joints and 0 <= v < num_joints):
                raise ValueError(f"edge {(a, v)} out of range for {num_joints} joints")
        self.num_joints = num_joints
        # The all-pairs graph in (A, v) order (``build_edges(mode="full")``): its per-edge
        # spectra are a broadcast product, with no gathered copy of the inputs' spectra.
        self._dense = self.edges == [(a, v) for a in range(num_joints) for v in range(num_joints)]
        self.heatmap_size = (w, h)
        self.kernel_size = kernel_size
        self.beta = float(beta)
        self.bias_mode = bias
        self.eps = eps
        e = len(self.edges)
        self.register_buffer("targets", torch.tensor([a for a, _ in self.edges]), persistent=False)
        self.register_buffer("sources", torch.tensor([v for _, v in self.edges]), persistent=False)
        # 0/1 incidence matrices: summing the gradients of each source's edges and the messages
        # of each target's edges as matmuls beats index_add_ on CPU (serial over threads).
        self.register_buffer(
            "_src_onehot", F.one_hot(self.sources, num_joints).float(), persistent=False
        )  # (E, J)
        self.register_buffer(
            "_tgt_onehot",
            F.one_hot(self.targets, num_joints).float().T.contiguous(),
            persistent=False,
        )  # (J, E)
        self.weight = nn.Parameter(torch.empty(e, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty((e,) if bias == "scalar" else (e, h, w)))
        self.edge_weight = nn.Parameter(torch.empty(e)) if edge_weights else None
        # The FFT plan: lengths per axis and where each FFT input position reads its kernel tap
        self._nh, self._nw, layout_index, layout_mask = fft_plan(kernel_size, h, w)
        self.register_buffer("_layout_index", layout_index, persistent=False)  # (N_h * N_w,)
        self.register_buffer("_layout_mask", layout_mask, persistent=False)  # (N_h, N_w)
        self.reset_parameters(bias_init)

    # ----------------------------------------------------------------------------- parameters
    def reset_parameters(self, bias_init: float = 1e-2) -> None:
        """Self edges = delta, other edges = flat (1/K²); biases = ``bias_init``."""
        k = self.kernel_size
        kernels = torch.full((len(self.edges), k, k), 1.0 / (k * k))
        for i, (a, v) in enumerate(self.edges):
            if a == v:
                kernels[i].zero_()
                kernels[i, k // 2, k // 2] = 1.0
        self.init_kernels(kernels)
        with torch.no_grad():
            self.bias.copy_(softplus_inverse(torch.full_like(self.bias, bias_init), self.beta))
            if self.edge_weight is not None:
                self.edge_weight.copy_(softplus_inverse(torch.ones_like(self.edge_weight)))

    def init_kernels(self, kernels: Tensor, min_value: float = 1e-8) -> None:
        """Set ``weight`` so that SoftPlus_β(weight) == kernels (E,K,K), clamped ≥ min_value.

        The clamp keeps weights finite (a pure delta would need −∞ elsewhere); SoftPlus'
        gradient there is ≈ min_value, so such pixels learn multiplicatively slowly.
        """
        kernels = torch.as_tensor(kernels, dtype=torch.float32)
        if kernels.shape != self.weight.shape:
            raise ValueError(f"kernels shape {tuple(kernels.shape)} != {tuple(self.weight.shape)}")
        with torch.no_grad():
            self.weight.copy_(softplus_inverse(kernels, self.beta, min_value))

    def prior_groups(
        self, keypoints: Tensor, valid: Tensor
    ) -> list[tuple[list[int], Tensor, list[tuple[int, int]]]]:
        """Which training samples each edge's prior histogram counts: ``[(edge indices,
        sample mask (N,) bool, pairs that start from histograms besides the skeleton's)]``;
        here one group, every edge over every sample, no extra pairs.

        ``keypoints`` (N, J, 2) in heat-map px, ``valid`` (N, J) bool. A model with pose types
        (:class:`~posehybrid.models.mixture_spatial.MixtureSpatialModel`) returns one group
        per type.
        """
        every = torch.ones(len(keypoints), dtype=torch.bool)
        return [(list(range(len(self.edges))), every, [])]

    def kernels(self) -> Tensor:
        """Probability-space kernels SoftPlus_β(weight), (E, K, K)."""
        return F.softplus(self.weight, beta=self.beta)

    def edge_weights(self) -> Tensor | None:
        """Per-edge weights τ (E,) of the log-messages (SoftPlus of ``edge_weight``), or None."""
        return None if self.edge_weight is None else F.softplus(self.edge_weight)

    def biases(self) -> Tensor:
        """Probability-space biases SoftPlus_β(bias), (E,) or (E, h, w)."""
        return F.softplus(self.bias, beta=self.beta)

    @property
    def fft_shape(self) -> tuple[int, int]:
        """(N_h, N_w) used by the FFT path."""
        return self._nh, self._nw

    # ------------------------------------------------------------------------ convolutions
    def _check(self, e: Tensor) -> None:
        w, h = self.heatmap_size
        if e.dim() != 4 or e.shape[1] != self.num_joints or tuple(e.shape[-2:]) != (h, w):
            raise ValueError(
                f"expected heat-maps (B,{self.num_joints},{h},{w}), got {tuple(e.shape)}"
            )

    def _conv_fft_t(self, e: Tensor) -> Tensor:
        """FFT messages in *transposed* layout: (B,J,h,w) -> (B,E,w,h), contiguous.

        The real FFT runs along rows and the complex one along columns, which is the
        contiguous axis of the (B,E,h//2+1,N_w) spectra: the big per-edge complex transform is
        then a unit-stride one (≈2x faster than a strided one on CPU). Its output is
        cropped to the w 'same' columns before the (smaller) real inverse along rows, done
        after a transpose so that it is unit-stride too.
        """
        self._check(e)
        w, h = self.heatmap_size
        nh, nw = self._nh, self._nw
        x = F.relu(e if e.dtype in (torch.float32, torch.float64) else e.float())
        kf = self._kernel_spectra(x.dtype)
        # (B, J, nh//2+1, nw): inputs once per joint, not per edge
        xf = torch.fft.fft(torch.fft.rfft(x, n=nh, dim=-2), n=nw, dim=-1)
        onehot = self._src_onehot.to(x.dtype)
        return EdgeMessages.apply(xf, kf, self.sources, onehot, w, h, nh, self._dense)  # (B,E,w,h)

    def _kernel_spectra(self, dtype: torch.dtype) -> Tensor:
        """(E, nh//2+1, nw) spectra of the kernels: once per forward, not per sample.

        Without autograd (inference) they are cached until the weights change (an optimiser
        step or ``load_state_dict`` bumps the parameter's version): for one image they are
        about half of the spatial model's time.
        """
        if torch.is_grad_enabled():
            return self._compute_spectra(dtype)
        key = (self.weight._version, self.weight.data_ptr(), self.weight.device, dtype, self.beta)
        cached = getattr(self, "_spectra", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        # A normal tensor even under inference_mode, so the module stays deep-copyable.
        with torch.inference_mode(False), torch.no_grad():
            kf = self._compute_spectra(dtype)
        self._spectra = (key, kf)
        return kf

    def _compute_spectra(self, dtype: torch.dtype) -> Tensor:
        return kernel_spectra(self.kernels().to(dtype), self._layout_index, self._layout_mask)

    def conv_fft(self, e: Tensor) -> Tensor:
        """SoftPlus(w_{A|v}) ⋆ ReLU(e_v) for every edge by FFT: (B,J,h,w) -> (B,E,h,w)."""
        return self._conv_fft_t(e).transpose(-1, -2)

    def conv_direct(self, e: Tensor) -> Tensor:
        """Reference path: the same messages by grouped ``F.conv2d`` (slow for large K)."""
        self._check(e)
        x = F.relu(e).index_select(1, self.sources)  # (B, E, h, w)
        k = self.kernels().to(x.dtype).unsqueeze(1)  # (E, 1, K, K)
        return F.conv2d(x, k, padding=self.kernel_size // 2, groups=len(self.edges))

    # ------------------------------------------------------------------------------ forward
    def log_messages(self, conv: Tensor, transposed: bool = False) -> Tensor:
        """(B,E,h,w) convolutions -> (B,E,h,w) log(conv + SoftPlus(b) + eps).

        ``transposed``: ``conv`` is in (B,E,w,h) layout (the FFT path's internal one).
        """
        b = self.biases().to(conv.dtype)
        if self.bias_mode == "scalar":
            b = b.view(1, -1, 1, 1)
        else:
            b = (b.transpose(-1, -2) if transposed else b).unsqueeze(0)
        # clamp: FFT round-off can make a true 0 slightly negative; with a tiny bias the log
        # would then be NaN.
        return torch.log(conv.clamp_min(0) + b + self.eps)

    def forward(self, e: Tensor, method: Literal["fft", "direct"] = "fft") -> Tensor:
        """(B,J,h,w) detector heat-maps -> (B,J,h,w) log-space scores s_A.

        ``method="direct"`` uses the grouped ``F.conv2d`` reference (tests, benchmarks).
        Always computed in float32 (or float64), also under autocast: the spectra, the 0/1
        matmuls and the log of small messages need the precision, and cuFFT's half precision
        only supports powers of two.
        """
        if e.dtype not in (torch.float32, torch.float64):
            e = e.float()
        with torch.autocast(device_type=e.device.type, enabled=False):
            if method == "fft":
                logs = self.log_messages(self._conv_fft_t(e), transposed=True)  # (B, E, w, h)
            elif method == "direct":
                logs = self.log_messages(self.conv_direct(e))  # (B, E, h, w)
            else:
                raise ValueError(f"method must be 'fft' or 'direct', got {method!r}")
            # Σ over each target's edges as a (J,E) 0/1 matmul (faster than index_add on CPU).
            b, _, p, q = logs.shape
            tgt = self._tgt_onehot.to(logs.dtype)
            tau = self.edge_weights()
            if tau is not None:
                tgt = tgt * tau.to(logs.dtype)  # (J, E): τ_e on each target's edges
            s = torch.matmul(tgt, logs.reshape(b, -1, p * q)).view(b, self.num_joints, p, q)
        return s.transpose(-1, -2).contiguous() if method == "fft" else s

    def refine(self, e: Tensor) -> Tensor:
        """ē_A = exp(s_A), rescaled per map so its max is 1 (exp(s) itself overflows easily;
        the per-map constant changes neither argmax nor the normalised distribution)."""
        s = self.forward(e)
        return torch.exp(s - s.amax(dim=(-2, -1), keepdim=True))

    def extra_repr(self) -> str:
        return (
            f"num_joints={self.num_joints}, edges={len(self.edges)}, heatmap_size="
            f"{self.heatmap_size}, kernel_size={self.kernel_size}, beta={self.beta}, "
            f"bias={self.bias_mode!r}, edge_weights={self.edge_weight is not None}, "
            f"fft=({self._nh}, {self._nw})"
        )


__all__ = ["SpatialModel", "fft_sizes", "softplus_inverse"]
