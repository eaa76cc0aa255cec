"""MixtureSpatialModel: one type is the strided model, a certain type is that type's strided
model, FFT == direct, and the types are clustered from mirrored views."""

from __future__ import annotations

import pytest
import torch

from posehybrid.data.skeleton import LSP, flip_pair_indices
from posehybrid.models.graph import build_edges
from posehybrid.models.mixture_spatial import MixtureSpatialModel, left_right_offsets
from posehybrid.models.strided_spatial import StridedSpatialModel

J = LSP.num_joints
EDGES = build_edges(J, LSP.link_indices, mode="full")
SIZE = (8, 8)


def _mixture(types: int) -> MixtureSpatialModel:
    torch.manual_seed(0)
    m = MixtureSpatialModel(J, EDGES, SIZE, 7, flip_pairs=flip_pair_indices("lsp"), num_types=types)
    m = m.double()
    with torch.no_grad():
        m.weight.normal_(-1.0, 1.0)
        m.bias.normal_(-2.0, 1.0)
        m.type_logits.normal_()
    return m


def _strided_with_type(m: MixtureSpatialModel, k: int) -> StridedSpatialModel:
    """The plain strided model whose typed edges carry type k's kernels and biases."""
    ref = StridedSpatialModel(J, EDGES, SIZE, 7).double()
    with torch.no_grad():
        base = len(EDGES)
        ref.weight.copy_(m.weight[:base])
        ref.bias.copy_(m.bias[:base])
        ref.weight[m._typed_ids[0]] = m.weight[m._typed_ids[k]]
        ref.bias[m._typed_ids[0]] = m.bias[m._typed_ids[k]]
    return ref


def test_one_type_is_the_strided_model() -> None:
    m = _mixture(1)
    ref = StridedSpatialModel(J, EDGES, SIZE, 7).double()
    ref.load_state_dict({k: v for k, v in m.state_dict().items() if k != "type_logits"})
    e = torch.randn(2, J, 8, 8, dtype=torch.float64)
    assert torch.equal(m(e), ref(e))


@pytest.mark.parametrize("k", [0, 2])
def test_a_certain_type_is_its_own_strided_model(k: int) -> None:
    m = _mixture(3)
    with torch.no_grad():
        m.type_logits.fill_(-1e4)
        m.type_logits[k] = 0.0
    e = torch.randn(2, J, 8, 8, dtype=torch.float64)
    assert torch.allclose(m(e), _strided_with_type(m, k)(e), atol=1e-9)


def test_equal_types_are_one_type() -> None:
    m = _mixture(3)
    with torch.no_grad():
        for k in (1, 2):
            m.weight[m._typed_ids[k]] = m.weight[m._typed_ids[0]]
            m.bias[m._typed_ids[k]] = m.bias[m._typed_ids[0]]
    e = torch.randn(2, J, 8, 8, dtype=torch.float64)
    assert torch.allclose(m(e), _strided_with_type(m, 0)(e), atol=1e-9)


def test_fft_matches_direct_values_and_gradients() -> None:
    m = _mixture(2)
    e = torch.randn(2, J, 8, 8, dtype=torch.float64, requires_grad=True)
    params = [e, m.weight, m.bias, m.type_logits]
    s_fft, s_dir = m(e), m(e, method="direct")
    assert torch.allclose(s_fft, s_dir, atol=1e-10)
    for a, b in zip(
        torch.autograd.grad(s_fft.sin().sum(), params),
        torch.autograd.grad(s_dir.sin().sum(), params),
        strict=True,
    ):
        assert torch.allclose(a, b, atol=1e-10)


def _views(n_front: int, n_back: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Front views (left joints on the image right) and their mirror images (back views)."""
    torch.manual_seed(1)
    front = torch.rand(n_front, J, 2) * 2 + torch.tensor([4.0, 4.0])
    for left, right in flip_pair_indices("lsp"):
        front[:, left, 0] += 1.5
        front[:, right, 0] -= 1.5
    back = front[:n_back].clone()
    back[..., 0] = 8 - back[..., 0]
    kp = torch.cat([front, back])
    return kp, torch.ones(len(kp), J, dtype=torch.bool)


def test_types_separate_mirrored_views() -> None:
    m = _mixture(2)
    kp, ok = _views(30, 10)
    groups = m.prior_groups(kp, ok)
    (shared, every, extra), (ids0, front, pairs0), (ids1, back, _) = groups
    assert every.all() and extra == []
    assert front.tolist() == [True] * 30 + [False] * 10  # the larger type first
    assert back.tolist() == [False] * 30 + [True] * 10
    assert ids0 == m._typed_ids[0].tolist() and ids1 == m._typed_ids[1].tolist()
    assert sorted(shared + ids0 + ids1) == list(range(len(m.edges)))
    assert pairs0 == flip_pair_indices("lsp")
    shares = m.type_logits.detach().exp()[:, 0]
    assert torch.allclose(shares, torch.tensor([0.75, 0.25], dtype=shares.dtype))


def test_left_right_offsets_are_scaled_and_zero_when_missing() -> None:
    kp, ok = _views(2, 0)
    ok[1, flip_pair_indices("lsp")[0][0]] = False
    d = left_right_offsets(kp, ok, flip_pair_indices("lsp"))
    assert d.shape == (2, 6)
    assert (d[0] > 0).all() and d[1, 0] == 0 and (d[1, 1:] > 0).all()
    assert d.abs().max() <= 1.0


def test_bad_settings_say_what_is_expected() -> None:
    with pytest.raises(ValueError, match="pairwise_stride >= 2"):
        MixtureSpatialModel(J, EDGES, SIZE, 7, flip_pairs=[(3, 2)], pairwise_stride=1)
    m = _mixture(4)
    with pytest.raises(ValueError, match="num_types=4 needs at least 4"):
        m.prior_groups(*_views(3, 0))
