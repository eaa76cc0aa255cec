"""The spatial stage's prior initialisation with pose types (``model=small_mixture``): each
type's mirror pairs start from the displacement histograms of its own training poses."""

from __future__ import annotations

import torch

from posehybrid.data.skeleton import flip_pair_indices
from posehybrid.modules.load import build_module
from posehybrid.modules.spatial import SpatialModule
from tests.test_export import tiny_model_cfg


def _mixture_module() -> SpatialModule:
    cfg = tiny_model_cfg()
    cfg["spatial"].update(
        _target_="posehybrid.models.mixture_spatial.MixtureSpatialModel",
        num_types=2,
        flip_pairs=flip_pair_indices("lsp"),
    )
    return build_module(SpatialModule, cfg, joint_set="lsp")


def test_each_type_starts_from_its_own_views() -> None:
    module = _mixture_module()
    spatial = module.spatial
    # 12 front views (left joints 8 input px = 2 heat-map px right of their mirrors), 6 back
    # views: the same poses mirrored about the image's centre line (64 x 64 input).
    torch.manual_seed(0)
    front = 24 + 16 * torch.rand(12, 14, 2)
    for left, right in flip_pair_indices("lsp"):
        front[:, right] = front[:, left] - torch.tensor([8.0, 0.0])
    back = front[:6].clone()
    back[..., 0] = 64 - back[..., 0]
    module.init_priors(
        torch.cat([front, back]).numpy(), torch.ones(18, 14, dtype=torch.bool).numpy()
    )
    kernels = spatial.kernels().detach()
    c = spatial.kernel_size // 2
    for left, right in flip_pair_indices("lsp"):
        (e0,) = [i for i in spatial._typed_ids[0].tolist() if spatial.edges[i] == (left, right)]
        e1 = spatial._typed_ids[1, spatial._typed_ids[0].tolist().index(e0)].item()
        # l - r = +2 px in front views: mass at kernel column c - 2; back views: c + 2
        assert kernels[e0, c, c - 2] == kernels[e0].max() and kernels[e0, c, c + 2] < 0.01
        assert kernels[e1, c, c + 2] == kernels[e1].max() and kernels[e1, c, c - 2] < 0.01
    assert torch.allclose(spatial.type_logits.exp()[:, 0], torch.tensor([2 / 3, 1 / 3]))
