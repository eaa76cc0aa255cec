"""The spatial model's FFT: per-edge spectrum products and the cropped two-pass inverse, with a
hand-written backward (autograd's version zero-fills and copies every crop and rescales
separately). ``SpatialModel`` (``models/spatial_model.py``) and its strided variant
(``models/strided_spatial.py``) are the users.

FFT details (why the sizes are what they are):
- Only displacements |d| ≤ H−1 (W−1) can link two pixels of an H×W map, so the kernel is cropped
  to at most 2H−1 × 2W−1 around its centre first; the cropped-off part never contributes.
- The 'same' window is rows c..c+H−1 of the linear convolution with the flipped kernel, and the
  circular wrap-around of an N-point FFT lands outside it as long as N ≥ H + c (not H + K − 1).
  ``scipy.fft.next_fast_len`` rounds that up to a 2·3·5-smooth size. The kernel is rolled so that its
  centre sits at the origin, which moves the window to rows 0..H−1 (crops start at 0, so the
  backward pass can zero-pad inside the FFTs with ``n=``). Crop, flip, pad and roll are one
  gather (:func:`fft_plan`).
- Input maps are transformed once (B,J), kernels once per forward (E), spectra are gathered per
  edge (for the all-pairs graph: broadcast, no gathered copy), and the inverse is two 1-D passes: ``ifft`` over columns then crop to W, ``irfft`` over
  rows then crop to H, so columns outside the window are never transformed along rows.
- The log is per edge, so the inverse must be per edge too; the E log-messages are then summed
  into their targets (a (J,E) 0/1 matmul).
"""

from __future__ import annotations

import torch
from scipy.fft import next_fast_len
from torch import Tensor
from torch.autograd.function import once_differentiable


def fft_sizes(size: int, kernel_size: int) -> tuple[int, int, int]:
    """For one axis: (effective kernel size, its centre c, FFT length N ≥ size + c)."""
    c = min(kernel_size // 2, size - 1)
    # real=True: the 2·3·5-smooth sizes, those that real FFTs (pocketfft/MKL) handle fastest
    return 2 * c + 1, c, next_fast_len(size + c, real=True)


def fft_layout(kernel_size: int, size: int, n: int) -> tuple[Tensor, Tensor]:
    """For one axis: where each of the N FFT-input positions reads the kernel from.

    The FFT input is the kernel cropped to its 2c+1 central taps (c from :func:`fft_sizes`),
    flipped (cross-correlation = convolution with the flipped kernel), zero-padded to N and
    rolled by −c so that the 'same' window starts at index 0. Position p holds kernel tap
    ``index[p]`` where ``valid[p]``, else 0. Returns ``(index (N,) long, valid (N,) bool)``.
    """
    c = min(kernel_size // 2, size - 1)
    q = (torch.arange(n) + c) % n  # the un-rolled, padded position
    valid = q < 2 * c + 1
    index = torch.where(valid, kernel_size // 2 + c - q, 0)
    return index, valid


def fft_plan(kernel_size: int, h: int, w: int) -> tuple[int, int, Tensor, Tensor]:
    """The FFT plan of K x K kernels on h x w maps: ``(N_h, N_w, index (N_h*N_w,), mask
    (N_h, N_w))``, where the FFT input is ``kernels.flatten(1)[:, index] * mask`` (one gather
    instead of crop, flip, pad and roll: four copies forward and four backward each step)."""
    nh, nw = fft_sizes(h, kernel_size)[2], fft_sizes(w, kernel_size)[2]
    rows, row_ok = fft_layout(kernel_size, h, nh)
    cols, col_ok = fft_layout(kernel_size, w, nw)
    index = (rows[:, None] * kernel_size + cols[None, :]).flatten()
    return nh, nw, index, (row_ok[:, None] & col_ok[None, :]).float()


def kernel_spectra(kernels: Tensor, index: Tensor, mask: Tensor) -> Tensor:
    """(E, K, K) kernels -> (E, N_h//2+1, N_w) spectra on the plan of :func:`fft_plan`
    (``index``, ``mask`` (N_h, N_w))."""
    k = kernels.flatten(1).index_select(1, index).view(len(kernels), *mask.shape)
    k = k * mask.to(k.dtype)
    return torch.fft.fft(torch.fft.rfft(k, dim=-2), dim=-1)


def gather_spectra(xf: Tensor, sources: Tensor) -> Tensor:
    """``out[:, e] = xf[:, src(e)]``: (B,J,...) complex -> (B,E,...) complex (no autograd).

    ``index_select`` on the *real* view: on CPU the complex kernel is ~8x slower.
    """
    return torch.view_as_complex(torch.view_as_real(xf).index_select(1, sources))


class EdgeMessages(torch.autograd.Function):
    """Per-edge products of spectra and the cropped two-pass inverse, with a hand-written
    backward (autograd's version zero-fills and copies every crop and rescales separately).

    forward(xf (B,J,F1,N_w), kf (E,F1,N_w) complex, sources (E,), onehot (E,J), w, h, N_h)
        -> (B,E,w,h) real: ``irfft_rows(ifft_cols(xf[:, src] · kf)[..., :w])[..., :h]``.
    The kernels are pre-rolled so that the 'same' window starts at index 0 on both axes; the
    adjoint of "crop the first n" is then the zero-padding FFTs do internally (``n=``).
    """

    @staticmethod
    def forward(ctx, xf, kf, sources, onehot, w: int, h: int, nh: int, dense: bool):  # type: ignore[override]
        if dense:  # every (A, v) pair in (A, v) order: a broadcast product, no gathered copy
            j = xf.shape[1]
            p = torch.mul(xf.unsqueeze(1), kf.view(1, j, j, *kf.shape[-2:])).flatten(1, 2)
        else:
            p = gather_spectra(xf, sources).mul_(kf)  # (B, E, F1, N_w)
        cols = torch.fft.ifft(p, dim=-1)[..., :w]  # (B, E, F1, w)
        del p
        out = torch.fft.irfft(cols.transpose(-1, -2), n=nh, dim=-1)  # (B, E, w, N_h)
        ctx.save_for_backward(xf, kf, sources, onehot)
        ctx.nh, ctx.dense = nh, dense
        return out[..., :h]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        xf, kf, sources, onehot = ctx.saved_tensors
        nh, (f1, nw) = ctx.nh, kf.shape[-2:]
        # Adjoints: irfft -> rfft/N_h with the bins whose mirror image is not stored doubled;
        # ifft -> fft/N_w. Scale and doubling are folded into an (F1, 1) factor applied to
        # E-sized tensors only.
        scale = torch.full((f1, 1), 1.0 / (nh * nw), dtype=grad.dtype, device=grad.device)
        scale[1 : nh - f1 + 1] *= 2
        gc = torch.fft.rfft(grad, n=nh, dim=-1)  # (B, E, w, F1)
        gp = torch.fft.fft(gc.transpose(-1, -2), n=nw, dim=-1)  # (B, E, F1, N_w)
        del gc
        gxf = gkf = None
        if ctx.dense:
            gkf, gxf = _dense_adjoints(
                gp, xf, kf, scale, ctx.needs_input_grad[1], ctx.needs_input_grad[0]
            )
            return gxf, gkf, None, None, None, None, None, None
        if ctx.needs_input_grad[1]:
            xg = gather_spectra(xf, sources)
            torch.view_as_real(xg)[..., 1].neg_()  # conj in place
            gkf = xg.mul_(gp).sum(0).mul_(scale)  # Σ_b gP · conj(X_src)
            del xg
        if ctx.needs_input_grad[0]:
            gxg = gp.mul_(kf.conj() * scale)  # gP · conj(K), in place: gp is not needed after
            b, e = gxg.shape[:2]
            gr = torch.view_as_real(gxg).reshape(b, e, -1)
            # Σ over each source's edges as a 0/1 matmul: a real index_add_ is slower and runs
            # serially over threads
            gx = torch.matmul(onehot.T.to(gr.dtype), gr)
            gxf = torch.view_as_complex(gx.view(*xf.shape, 2))
        return gxf, gkf, None, None, None, None, None, None


def _dense_adjoints(
    gp: Tensor, xf: Tensor, kf: Tensor, scale: Tensor, want_k: bool, want_x: bool
) -> tuple[Tensor | None, Tensor | None]:
    """The all-pairs graph's adjoints without a gathered (B, E, F1, N_w) copy: one
    multiply-accumulate pass over ``gp`` each, looping over the shorter axis.

    gkf[A, v] = Σ_b gP[b, A, v] · conj(X[b, v]);  gxf[b, v] = Σ_A gP[b, A, v] · conj(K[A, v]).
    """
    b, j = xf.shape[:2]
    g = gp.view(b, j, j, *gp.shape[-2:])
    gkf = gxf = None
    if want_k:
        xc = xf.conj().resolve_conj().unsqueeze(1)  # (B, 1, J, F1, N_w)
        acc = torch.zeros_like(g[0])
        for i in range(b):
            acc.addcmul_(g[i], xc[i])
        gkf = acc.mul_(scale).flatten(0, 1)
    if want_x:
        kc = (kf.conj() * scale).view(j, j, *kf.shape[-2:])
        acc = torch.zeros_like(g[:, 0])
        for a in range(j):
            acc.addcmul_(g[:, a], kc[a])
        gxf = acc
    return gkf, gxf
