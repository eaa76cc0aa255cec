"""SpatialModel: FFT == direct, FFT sizes, numerics, gradients; graph building."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from posehybrid.data.skeleton import LSP
from posehybrid.models.fft_messages import fft_sizes
from posehybrid.models.graph import build_edges, neighbour_pairs
from posehybrid.models.spatial_model import SpatialModel, softplus_inverse


def full_edges(j: int) -> list[tuple[int, int]]:
    return build_edges(j, mode="full")


def random_model(j, edges, size, k, bias="scalar", seed=0, **kw) -> SpatialModel:
    torch.manual_seed(seed)
    m = SpatialModel(j, edges, size, k, bias=bias, **kw)
    with torch.no_grad():
        m.weight.normal_(-1.0, 1.0)
        m.bias.normal_(-2.0, 1.0)
    return m


def test_fft_sizes_are_long_enough_and_5_smooth() -> None:
    for size in range(1, 200):
        for k in (1, 5, 31, 127):
            ke, c, n = fft_sizes(size, k)
            assert c == min(k // 2, size - 1) and ke == 2 * c + 1
            assert n >= size + c
            for p in (2, 3, 5):
                while n % p == 0:
                    n //= p
            assert n == 1


@pytest.mark.parametrize(
    ("w", "h", "k", "bias"),
    [
        (16, 16, 31, "scalar"),  # kernel covers every displacement (2h-1)
        (20, 12, 5, "pixel"),  # kernel much smaller than a non-square map
        (13, 17, 9, "scalar"),  # odd sizes
        (9, 7, 31, "pixel"),  # kernel larger than the map in both axes (cropped)
        (24, 10, 33, "scalar"),  # kernel larger than one axis only
    ],
)
def test_fft_matches_direct(w: int, h: int, k: int, bias: str) -> None:
    j = 4
    edges = [(a, v) for a in range(j) for v in range(j) if (a + 2 * v) % 3 != 1 or a == v]
    m = random_model(j, edges, (w, h), k, bias=bias)
    e = torch.randn(3, j, h, w)
    fft, direct = m.conv_fft(e), m.conv_direct(e)
    assert fft.shape == direct.shape == (3, len(edges), h, w)
    assert (fft - direct).abs().max() <= 1e-4 * direct.abs().max()
    s_fft, s_direct = m(e), m(e, method="direct")
    assert s_fft.shape == (3, j, h, w) and s_fft.is_contiguous()
    assert torch.allclose(s_fft, s_direct, rtol=1e-4, atol=1e-4)


# (w, h, k) -> FFT lengths (rows, cols): the hand-written backward zero-pads inside ``irfft``
# with ``n=``, where even and odd lengths take different code paths (the Nyquist bin).
FFT_PARITY = {
    "odd": ((8, 8, 15), (15, 15)),
    "even": ((10, 9, 15), (16, 18)),
    "mixed": ((11, 8, 15), (15, 18)),
}


def _grad_case(parity: str, graph: str, bias: str) -> tuple[SpatialModel, torch.Tensor]:
    (w, h, k), shape = FFT_PARITY[parity]
    j = 3
    edges = build_edges(j, [(0, 1), (1, 2)], mode=graph)
    m = random_model(j, edges, (w, h), k, bias=bias).double()
    assert m.fft_shape == shape
    e = torch.randn(2, j, h, w, dtype=torch.float64, requires_grad=True)
    return m, e


@pytest.mark.parametrize("bias", ["scalar", "pixel"])
@pytest.mark.parametrize("graph", ["tree", "full"])
@pytest.mark.parametrize("parity", list(FFT_PARITY))
def test_fft_gradients_match_direct(parity: str, graph: str, bias: str) -> None:
    m, e = _grad_case(parity, graph, bias)
    params = [e, m.weight, m.bias]
    g_fft = torch.autograd.grad(m(e).sin().sum(), params)
    g_dir = torch.autograd.grad(m(e, method="direct").sin().sum(), params)
    for a, b in zip(g_fft, g_dir, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("parity", list(FFT_PARITY))
def test_fft_backward_passes_gradcheck(parity: str) -> None:
    """Finite differences in float64 against the hand-written backward of the FFT messages."""
    m, e = _grad_case(parity, "full", "pixel")
    # ReLU's kink is not differentiable: keep the inputs away from 0.
    e = (e.detach().abs() + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, w, b: _forward_with(m, x, w, b), (e, m.weight, m.bias)
    )


def _forward_with(m: SpatialModel, e: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """``m(e)`` as a function of explicit weight and bias tensors (for ``gradcheck``)."""
    return torch.func.functional_call(m, {"weight": weight, "bias": bias}, (e,))


def _fft_same_conv(x: torch.Tensor, k: torch.Tensor, nh: int, nw: int) -> torch.Tensor:
    """Cross-correlation of x (H,W) with k (K,K) by FFTs of exactly (nh, nw), 'same' crop."""
    c = k.shape[-1] // 2
    h, w = x.shape
    y = torch.fft.irfft2(
        torch.fft.rfft2(x, s=(nh, nw)) * torch.fft.rfft2(k.flip(-2, -1), s=(nh, nw)), s=(nh, nw)
    )
    # circular indices of the 'same' window (it may run past N when N is too small)
    rows, cols = (c + torch.arange(h)) % nh, (c + torch.arange(w)) % nw
    return y[rows][:, cols]


def test_fft_size_h_plus_half_k_is_enough() -> None:
    # Claim: keeping only the 'same' window, N >= H + K//2 avoids visible wrap-around; H + K - 1
    # (full linear convolution) is not needed, and one less than H + K//2 is not enough.
    torch.manual_seed(0)
    h, w, k = 12, 10, 9
    c = k // 2
    x, ker = torch.rand(h, w, dtype=torch.float64), torch.rand(k, k, dtype=torch.float64)
    ref = F.conv2d(x[None, None], ker[None, None], padding=c)[0, 0]
    assert torch.allclose(_fft_same_conv(x, ker, h + c, w + c), ref, atol=1e-12)
    assert not torch.allclose(_fft_same_conv(x, ker, h + c - 1, w + c), ref, atol=1e-6)
    assert not torch.allclose(_fft_same_conv(x, ker, h + c, w + c - 1), ref, atol=1e-6)
    # the model's plan: next fast length of H + min(K//2, H-1) per axis
    assert fft_sizes(60, 127) == (119, 59, 120)
    assert fft_sizes(90, 127) == (127, 63, 160)
    m = SpatialModel(2, full_edges(2), (90, 60), 127)
    assert m.fft_shape == (120, 160)


def test_default_kernel_covers_all_displacements() -> None:
    assert SpatialModel(2, full_edges(2), (32, 24)).kernel_size == 63


def test_gradients_flow_to_weights_and_biases() -> None:
    for bias in ("scalar", "pixel"):
        m = SpatialModel(3, full_edges(3), (10, 8), 9, bias=bias)
        e = torch.rand(2, 3, 8, 10, requires_grad=True)
        target = torch.softmax(torch.randn(2, 3, 80), -1)
        loss = -(target * torch.log_softmax(m(e).flatten(2), -1)).sum()
        loss.backward()
        for p in (m.weight, m.bias, e):
            assert p.grad is not None and torch.isfinite(p.grad).all()
            assert p.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["zeros", "peaky", "negative"])
def test_no_nan_or_inf(kind: str) -> None:
    j, h, w = 3, 12, 16
    m = SpatialModel(j, full_edges(j), (w, h), 15, bias_init=1e-30)  # tiny biases
    e = torch.zeros(2, j, h, w)
    if kind == "peaky":
        e[:, :, 5, 7] = 1e6
    elif kind == "negative":
        e = -torch.rand(2, j, h, w)
    e.requires_grad_(True)
    s = m(e)
    assert torch.isfinite(s).all()
    assert torch.isfinite(m.refine(e)).all()
    target = torch.softmax(torch.randn(2, j, h * w), -1)
    (-(target * torch.log_softmax(s.flatten(2), -1)).sum()).backward()
    for p in (m.weight, m.bias, e):
        assert torch.isfinite(p.grad).all()


def test_init_kernels_roundtrip() -> None:
    for beta in (1.0, 2.5):
        m = SpatialModel(2, full_edges(2), (8, 8), 7, beta=beta)
        k = torch.rand(4, 7, 7) * 3 + 1e-4
        m.init_kernels(k)
        assert torch.allclose(m.kernels(), k, rtol=1e-4, atol=1e-7)
        y = torch.tensor([1e-6, 0.1, 1.0, 50.0])
        assert torch.allclose(F.softplus(softplus_inverse(y, beta), beta=beta), y, rtol=1e-4)
    with pytest.raises(ValueError, match="shape"):
        m.init_kernels(torch.rand(3, 7, 7))


def test_default_init_self_delta_keeps_detector_argmax() -> None:
    # Self edge = delta: with only self edges, s_A is a monotone function of e_A.
    m = SpatialModel(3, build_edges(3, mode="explicit", explicit=[]), (16, 12), 9)
    e = torch.rand(2, 3, 12, 16)
    s = m(e)
    assert torch.equal(s.flatten(2).argmax(-1), e.flatten(2).argmax(-1))
    r = m.refine(e)
    assert torch.allclose(r.flatten(2).amax(-1), torch.ones(2, 3))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="odd"):
        SpatialModel(2, full_edges(2), (8, 8), 8)
    with pytest.raises(ValueError, match="out of range"):
        SpatialModel(2, [(0, 2)], (8, 8), 7)
    m = SpatialModel(2, full_edges(2), (8, 6), 7)
    with pytest.raises(ValueError, match="expected heat-maps"):
        m(torch.rand(1, 2, 8, 6))


# ------------------------------------------------------------------------------------ graph
def test_build_edges_tree_lsp() -> None:
    j, links = LSP.num_joints, LSP.link_indices
    edges = build_edges(j, links, mode="tree")
    assert len(edges) == j + 2 * len(links)
    assert all((a, a) in edges for a in range(j))
    for a, b in links:
        assert (a, b) in edges and (b, a) in edges
    nbrs = LSP.neighbours()
    for a, v in edges:
        assert a == v or v in nbrs[a]
    assert edges == sorted(set(edges))
    assert neighbour_pairs(links) == {e for e in edges if e[0] != e[1]}


def test_build_edges_modes() -> None:
    assert build_edges(4, mode="full") == [(a, v) for a in range(4) for v in range(4)]
    assert len(build_edges(4, mode="full", self_edges=False)) == 12
    assert build_edges(3, mode="explicit", explicit=[(0, 1), (2, 1)]) == [
        (0, 0),
        (0, 1),
        (1, 1),
        (2, 1),
        (2, 2),
    ]
    with pytest.raises(ValueError, match="receive no message"):
        build_edges(3, [(0, 1)], mode="tree", self_edges=False)
    with pytest.raises(ValueError, match="unknown graph mode"):
        build_edges(3, mode="star")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="explicit"):
        build_edges(3, mode="explicit")


def test_autocast_runs_in_float32() -> None:
    m = SpatialModel(3, full_edges(3), (16, 12), 15)
    e = torch.rand(2, 3, 12, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = m(e.bfloat16())
    assert s.dtype == torch.float32
    assert torch.allclose(s, m(e.bfloat16().float()), atol=1e-4)


def test_inference_reuses_kernel_spectra_until_the_weights_change() -> None:
    m = random_model(3, full_edges(3), (12, 10), 9)
    e = torch.randn(2, 3, 10, 12)
    with torch.inference_mode():
        first = m.conv_fft(e)
        cached = m._spectra[1]
        assert torch.equal(m.conv_fft(e), first) and m._spectra[1] is cached
    with torch.no_grad():  # an optimiser step or load_state_dict: the parameter's version moves
        m.weight.add_(0.5)
    with torch.inference_mode():
        after = m.conv_fft(e)
    assert m._spectra[1] is not cached
    assert not m._spectra[1].is_inference()
    copy.deepcopy(m)  # a cache filled under inference_mode must not make the module uncopyable
    assert torch.allclose(after, m.conv_direct(e), rtol=1e-4, atol=1e-4 * after.abs().max())
    assert not torch.allclose(after, first)
    # with autograd on, the spectra are recomputed (and gradients reach the weights)
    m.conv_fft(e).sum().backward()
    assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0


def test_edge_weights_scale_each_log_message() -> None:
    j, size, k = 3, (10, 8), 9
    edges = full_edges(j)
    plain = random_model(j, edges, size, k)
    weighted = random_model(j, edges, size, k, edge_weights=True)
    e = torch.rand(2, j, size[1], size[0])
    # at initialisation every weight is 1: the same model
    assert torch.allclose(weighted.edge_weights(), torch.ones(len(edges)), atol=1e-6)
    torch.testing.assert_close(weighted(e), plain(e), atol=1e-5, rtol=1e-5)
    tau = torch.linspace(0.2, 3.0, len(edges))
    with torch.no_grad():
        weighted.edge_weight.copy_(softplus_inverse(tau))
    logs = weighted.log_messages(weighted.conv_direct(e))  # (B, E, h, w)
    want = torch.zeros(2, j, size[1], size[0])
    for i, (a, _) in enumerate(edges):
        want[:, a] += tau[i] * logs[:, i]
    torch.testing.assert_close(weighted(e), want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(weighted(e, method="direct"), want, atol=1e-5, rtol=1e-5)
    weighted(e).logsumexp(dim=(-2, -1)).sum().backward()
    assert weighted.edge_weight.grad is not None and weighted.edge_weight.grad.abs().sum() > 0
