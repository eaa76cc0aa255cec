"""Gaussian heat-map codec: keypoints in input pixels <-> heat-maps at the model's output stride.

Coordinate convention (pixel centres, the same one ``cv2.warpAffine`` and ``cv2.resize`` use):
heat-map pixel ``i`` covers input coordinate ``(i + 0.5) * stride - 0.5``, so an input point
``x`` lands at heat-map coordinate ``u = (x + 0.5) / stride - 0.5``. Encoding centres an
unnormalised Gaussian (peak value 1) at the *sub-pixel* position ``u``; decoding inverts that
exactly for a clean Gaussian (the log of a Gaussian is a parabola, so a 3-point parabola fit of
the log-map recovers the centre), which is what makes the round trip error ~0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

_EPS = 1e-10


class HeatmapCodec:
    """Symmetric encode/decode between keypoints (input px) and Gaussian heat-maps.

    Args:
        input_size: (W, H) of the network input.
        heatmap_size: (w, h) of the heat-maps (the network output).
        sigma: Gaussian standard deviation in heat-map pixels.
    """

    def __init__(
        self,
        input_size: Sequence[int],
        heatmap_size: Sequence[int],
        sigma: float = 1.0,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        if min(*self.input_size, *self.heatmap_size) <= 0 or sigma <= 0:
            raise ValueError(f"bad codec sizes {input_size=} {heatmap_size=} {sigma=}")
        self.sigma = float(sigma)
        # stride per axis: (sx, sy) input px per heat-map px.
        self.stride = (
            self.input_size[0] / self.heatmap_size[0],
            self.input_size[1] / self.heatmap_size[1],
        )
        w, h = self.heatmap_size
        self._xs = np.arange(w, dtype=np.float32)
        self._ys = np.arange(h, dtype=np.float32)

    def __repr__(self) -> str:
        return (
            f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
            f"sigma={self.sigma})"
        )

    # ------------------------------------------------------------------ coordinates
    def to_heatmap(self, xy: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(..., 2) input px -> (..., 2) heat-map coordinates (pixel-centre convention)."""
        sx, sy = self.stride
        scale = xy.new_tensor([sx, sy]) if isinstance(xy, torch.Tensor) else np.array([sx, sy])
        return (xy + 0.5) / scale - 0.5

    def to_input(self, uv: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(..., 2) heat-map coordinates -> (..., 2) input px."""
        sx, sy = self.stride
        scale = uv.new_tensor([sx, sy]) if isinstance(uv, torch.Tensor) else np.array([sx, sy])
        return (uv + 0.5) * scale - 0.5

    # ------------------------------------------------------------------ encode
    def encode(
        self, keypoints: np.ndarray, weight: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render Gaussian targets.

        Args:
            keypoints: (J, 2) x/y in input px. Non-finite entries are allowed (they get weight 0).
            weight: (J,) training weight (bool or float); None means all ones.

        Returns:
            heatmaps (J, h, w) float32 with peak 1 at each kept joint (all-zero maps elsewhere),
            weight (J,) float32: the input weight, zeroed for non-finite joints and for joints
            whose centre lies more than 3 sigma outside the map. Never contains NaN.
        """
        kps = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)
        n = kps.shape[0]
        wt = np.ones(n, np.float32) if weight is None else np.asarray(weight, np.float32).copy()
        w, h = self.heatmap_size
        uv = self.to_heatmap(kps.astype(np.float64)).astype(np.float32)
        finite = np.isfinite(uv).all(axis=1)
        uv = np.where(finite[:, None], uv, 0.0).astype(np.float32)
        r = 3.0 * self.sigma
        inside = (uv[:, 0] >= -r) & (uv[:, 0] <= w - 1 + r)
        inside &= (uv[:, 1] >= -r) & (uv[:, 1] <= h - 1 + r)
        keep = finite & inside & np.isfinite(wt) & (wt > 0)
        wt = np.where(keep, wt, 0.0).astype(np.float32)
        # Separable Gaussian: (J,w) x (J,h) outer product; one small einsum per sample.
        inv = np.float32(-0.5 / self.sigma**2)
        gx = np.exp(inv * (self._xs[None, :] - uv[:, :1]) ** 2)
        gy = np.exp(inv * (self._ys[None, :] - uv[:, 1:]) ** 2)
        gy *= keep[:, None]
        heat = np.einsum("jy,jx->jyx", gy, gx).astype(np.float32, copy=False)
        return heat, wt

    # ------------------------------------------------------------------ decode
    def decode(
        self,
        heatmaps: torch.Tensor,
        refine_with: torch.Tensor | None = None,
        method: str = "argmax",
        beta: float = 1.0,
        refine: str | None = None,
        log_space: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Heat-maps -> keypoints in input px.

        Args:
            heatmaps: (B, J, h, w) scores (detector maps, or spatial-model log-space output).
            refine_with: optional (B, J, h, w) maps. When given, the argmax is taken from
                ``heatmaps`` and the sub-pixel offset from ``refine_with`` around it (by default
                its 3x3 centroid after clamping at 0: the spatial-model decode, design §4).
            method: ``"argmax"`` (argmax + log-parabola sub-pixel refinement, exact for a
                Gaussian) or ``"soft_argmax"`` (expectation under ``softmax(beta * heatmaps)``
                over all pixels; natural for log-space outputs such as the spatial model's).
            beta: inverse temperature for ``soft_argmax``.
            refine: sub-pixel refinement for ``argmax``: ``"parabola"`` (per-axis parabola
                through the log of 3 values: exact for a Gaussian; default without
                ``refine_with``) or ``"centroid"`` (3x3 centroid of the clamped map; the default
                with ``refine_with``, as the design measured). Refinement reads ``refine_with``
                when given, else ``heatmaps``.
            log_space: the refined map is already a log-density (the spatial model's logits
                ``s_A``), so ``"parabola"`` fits it directly instead of its log. Cross-entropy
                against a Gaussian target drives ``s_A`` towards a parabola around the peak, so
                this is the decode consistent with the spatial model's training.

        Returns:
            coords (B, J, 2) float32 input px, scores (B, J) float32 (the map value at the
            argmax; for soft_argmax the max softmax probability).
        """
        if heatmaps.ndim != 4:
            raise ValueError(f"heatmaps must be (B,J,h,w), got {tuple(heatmaps.shape)}")
        hm = heatmaps.detach().float()
        if method == "soft_argmax":
            uv, score = _soft_argmax(hm, beta)
        elif method == "argmax":
            x, y, score = _argmax(hm)
            ref = hm
            if refine_with is not None:
                if refine_with.shape != heatmaps.shape:
                    raise ValueError(
                        f"refine_with {tuple(refine_with.shape)} != heatmaps {tuple(hm.shape)}"
                    )
                ref = refine_with.detach().float()
            if refine is None:
                refine = "parabola" if refine_with is None else "centroid"
            if refine == "parabola":
                uv = _parabola(ref, x, y, log_space)
            elif refine == "centroid":
                uv = _centroid(ref, x, y)
            else:
                raise ValueError(f"unknown refine {refine!r}; use 'parabola' or 'centroid'")
        else:
            raise ValueError(f"unknown decode method {method!r}; use 'argmax' or 'soft_argmax'")
        return self.to_input(uv), score


def _argmax(hm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B,J,h,w) -> integer x, y (B,J) long and the max value (B,J)."""
    b, j, h, w = hm.shape
    score, idx = hm.reshape(b, j, h * w).max(dim=-1)
    return idx % w, idx // w, score


def _parabola(
    ref: torch.Tensor, x: torch.Tensor, y: torch.Tensor, log_space: bool = False
) -> torch.Tensor:
    """Refine integer (x, y) (B,J) by a per-axis parabola through the log of 3 values of ``ref``
    (through the values themselves when ``log_space``).

    The 3-point window is centred on the argmax, shifted inward at the border (any 3 samples of
    a parabola determine it, so border maxima are refined exactly too). The offset from the
    argmax pixel is clamped to half a pixel so noisy maps cannot throw the estimate away.
    """
    b, j, h, w = ref.shape
    flat = (ref if log_space else ref.clamp(min=_EPS).log()).reshape(b, j, h * w)
    cx = x.clamp(1, w - 2) if w >= 3 else x
    cy = y.clamp(1, h - 2) if h >= 3 else y

    def at(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
        return flat.gather(-1, (py * w + px).unsqueeze(-1)).squeeze(-1)

    out = []
    for pos, centre, size, axis in ((x, cx, w, 0), (y, cy, h, 1)):
        if size < 3:
            out.append(pos.float())
            continue
        if axis == 0:  # sample along x through the argmax row (and along y through its column)
            lo, mid, hi = at(centre - 1, y), at(centre, y), at(centre + 1, y)
        else:
            lo, mid, hi = at(x, centre - 1), at(x, centre), at(x, centre + 1)
        curv = lo - 2 * mid + hi
        ok = curv < -1e-6  # concave: a real peak; flat/convex windows keep the integer argmax
        vertex = centre.float() + 0.5 * (lo - hi) / curv.clamp(max=-1e-6)
        off = torch.where(ok, vertex - pos.float(), 0.0).clamp(-0.5, 0.5)
        out.append(pos.float() + off)
    return torch.stack(out, dim=-1)


def _centroid(ref: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Refine integer (x, y) (B,J) by the 3x3 centroid of ``ref.clamp(min=0)`` around them."""
    b, j, _, w = ref.shape
    pad = F.pad(ref.clamp(min=0), (1, 1, 1, 1))  # zeros outside: no pull across the border
    # 3x3 window gathered with one advanced index (no loops over B or J).
    d = torch.arange(-1, 2, device=ref.device)
    ys = (y[..., None] + 1 + d).unsqueeze(-1).expand(b, j, 3, 3)
    xs = (x[..., None] + 1 + d).unsqueeze(-2).expand(b, j, 3, 3)
    flat = pad.reshape(b, j, -1)
    win = flat.gather(-1, (ys * (w + 2) + xs).reshape(b, j, 9)).reshape(b, j, 3, 3)
    total = win.sum(dim=(-1, -2))
    df = d.to(win.dtype)
    ox = (win.sum(dim=-2) * df).sum(-1) / total.clamp(min=_EPS)
    oy = (win.sum(dim=-1) * df).sum(-1) / total.clamp(min=_EPS)
    ok = total > _EPS
    return torch.stack(
        [x.float() + torch.where(ok, ox, 0.0), y.float() + torch.where(ok, oy, 0.0)], dim=-1
    )


def _soft_argmax(hm: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected (u, v) under a spatial softmax of ``beta * hm``."""
    b, j, h, w = hm.shape
    p = torch.softmax(beta * hm.reshape(b, j, h * w), dim=-1).reshape(b, j, h, w)
    xs = torch.arange(w, device=hm.device, dtype=p.dtype)
    ys = torch.arange(h, device=hm.device, dtype=p.dtype)
    u = (p.sum(dim=-2) * xs).sum(-1)
    v = (p.sum(dim=-1) * ys).sum(-1)
    return torch.stack([u, v], dim=-1), p.reshape(b, j, -1).max(dim=-1).values
