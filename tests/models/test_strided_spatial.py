"""StridedSpatialModel: FFT == direct on both grids, stride 1 == SpatialModel, and the coarse
pairwise messages approximate the full-resolution ones where the kernels are smooth."""

from __future__ import annotations

import pytest
import torch

from posehybrid.data.skeleton import LSP
from posehybrid.models.graph import build_edges
from posehybrid.models.spatial_model import SpatialModel
from posehybrid.models.strided_spatial import StridedSpatialModel, tent


def _edges(graph: str, j: int) -> list[tuple[int, int]]:
    links = [(a, b) for a, b in LSP.link_indices if a < j and b < j]
    return build_edges(j, links, mode=graph)


def _random(graph: str, size: tuple[int, int], k: int, j: int = 5) -> StridedSpatialModel:
    torch.manual_seed(0)
    m = StridedSpatialModel(j, _edges(graph, j), size, k).double()
    with torch.no_grad():
        m.weight.normal_(-1.0, 1.0)
        m.bias.normal_(-2.0, 1.0)
    return m


def test_tent_weights() -> None:
    assert torch.allclose(tent(2), torch.tensor([0.25, 0.5, 0.25]))
    assert torch.allclose(tent(3), torch.tensor([1, 2, 3, 2, 1]) / 9.0)


@pytest.mark.parametrize("graph", ["full", "tree"])
@pytest.mark.parametrize(("w", "h", "k"), [(32, 32, 63), (16, 12, 15), (10, 14, 9)])
def test_fft_matches_direct_values_and_gradients(graph: str, w: int, h: int, k: int) -> None:
    m = _random(graph, (w, h), k)
    e = torch.randn(2, m.num_joints, h, w, dtype=torch.float64, requires_grad=True)
    params = [e, m.weight, m.bias]
    s_fft, s_dir = m(e), m(e, method="direct")
    assert s_fft.shape == (2, m.num_joints, h, w) and s_fft.is_contiguous()
    assert torch.allclose(s_fft, s_dir, atol=1e-10)
    g_fft = torch.autograd.grad(s_fft.sin().sum(), params)
    g_dir = torch.autograd.grad(s_dir.sin().sum(), params)
    for a, b in zip(g_fft, g_dir, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


def test_gradcheck() -> None:
    m = _random("full", (8, 6), 7, j=3)
    e = (torch.randn(1, 3, 6, 8, dtype=torch.float64).abs() + 0.1).requires_grad_()

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(m, {"weight": w, "bias": b}, (x,))

    assert torch.autograd.gradcheck(fn, (e, m.weight, m.bias))


@pytest.mark.parametrize("graph", ["full", "tree"])
def test_stride_one_is_the_base_model(graph: str) -> None:
    m = _random(graph, (12, 10), 11)
    one = StridedSpatialModel(m.num_joints, m.edges, (12, 10), 11, pairwise_stride=1).double()
    base = SpatialModel(m.num_joints, m.edges, (12, 10), 11).double()
    one.load_state_dict(m.state_dict())
    base.load_state_dict(m.state_dict())
    e = torch.randn(2, m.num_joints, 10, 12, dtype=torch.float64)
    assert torch.equal(one(e), base(e))


def test_smooth_kernels_give_the_full_resolution_scores() -> None:
    """Broad pairwise kernels (Gaussians of σ = 3 px) and a delta self edge: near each joint's
    peak (scores within 3 of the maximum) the coarse grid moves the log-scores by at most 0.28
    (bound 0.5), and every argmax stays on the same pixel."""
    j, size, k = 4, (32, 32), 63
    edges = build_edges(j, mode="full")
    r = torch.arange(k, dtype=torch.float64) - k // 2
    gauss = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 3.0**2))
    kernels = torch.stack(
        [
            torch.zeros(k, k).index_put_((torch.tensor(k // 2),) * 2, torch.tensor(1.0))
            if a == v
            else torch.roll(gauss, (a - v, 2 * (v - a)), (0, 1)).float()
            for a, v in edges
        ]
    )
    full = SpatialModel(j, edges, size, k).double()
    full.init_kernels(kernels)
    strided = StridedSpatialModel(j, edges, size, k).double()
    strided.load_state_dict(full.state_dict())
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    e = torch.stack([torch.exp(-((xx - 8 - 5 * i) ** 2 + (yy - 20 + 3 * i) ** 2) / 8.0)
                     for i in range(j)]).unsqueeze(0).double()  # fmt: skip
    a, b = full(e).detach(), strided(e).detach()
    top = a >= a.amax(dim=(-2, -1), keepdim=True) - 3.0
    assert ((a - b).abs() * top).max() < 0.5
    assert torch.equal(a.flatten(2).argmax(-1), b.flatten(2).argmax(-1))


def test_bad_settings() -> None:
    edges = build_edges(3, mode="full")
    with pytest.raises(ValueError, match="divide"):
        StridedSpatialModel(3, edges, (10, 9), 9, pairwise_stride=2)
    with pytest.raises(ValueError, match="scalar"):
        StridedSpatialModel(3, edges, (10, 10), 9, bias="pixel", pairwise_stride=2)
    m = StridedSpatialModel(3, edges, (10, 10), 9)
    with pytest.raises(NotImplementedError):
        m.conv_fft(torch.rand(1, 3, 10, 10))
