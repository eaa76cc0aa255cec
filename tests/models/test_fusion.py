"""``models.fusion.fold_batch_norm``: the folded detector computes what the eval-mode one does."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from posehybrid.models.fusion import fold_batch_norm
from posehybrid.models.part_detector import PartDetector
from tests.models.test_part_detector import preset, tiny

# max |folded - unfolded| / max |unfolded| for model=small measured at <= 2.0e-6 (5 seeds x
# both layouts, float32): round-off of 7 conv layers. 10x margin.
REL_TOL = 2e-5


def trained_like(channels_last: bool = True, seed: int = 0) -> PartDetector:
    """``model=small`` with batch-norm statistics and affine terms away from their init, and
    outputs of order 10 (the real head starts at std 1e-3, which would hide any error)."""
    torch.manual_seed(seed)
    cfg = preset("small")
    cfg["part_detector"]["channels_last"] = channels_last
    model = instantiate(cfg["part_detector"])
    nn.init.normal_(model.out.weight, std=0.3)
    with torch.no_grad():
        for _ in range(2):  # train-mode forwards update the running mean and variance
            model(torch.rand(4, 3, 128, 128))
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.3, 0.3)
    return model.eval()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("channels_last", [True, False])
def test_folded_small_equals_unfolded(channels_last: bool) -> None:
    model = trained_like(channels_last)
    folded = fold_batch_norm(model)
    # 3 banks x 4 norm layers + 2 in the head, all folded; the copy has none left
    assert folded.folded_batch_norms == 14 and folded.kept_batch_norms == 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    convs = [m for m in folded.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)  # the BN shift became the conv bias
    if channels_last:
        assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    x = torch.rand(3, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        want, got = model(x), folded(x)
    assert want.abs().max() > 1.0  # outputs big enough for the error to show
    assert rel_err(got, want) <= REL_TOL
    assert torch.equal(got.argmax(-1), want.argmax(-1))


def test_input_model_is_not_changed() -> None:
    model = trained_like().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fold_batch_norm(model)
    assert model.training
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 14
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_negative_scale_behind_a_pool_is_kept() -> None:
    # BN(maxpool(conv)) == maxpool(BN'(conv)) only for scales >= 0: one negative gamma in a
    # bank's first norm layer (after the pool) must leave that layer in place.
    model = trained_like()
    bank_bn = model.bank_layers[0].features[2]
    assert isinstance(bank_bn, nn.BatchNorm2d)
    with torch.no_grad():
        bank_bn.weight[0] = -1.0
    folded = fold_batch_norm(model)
    assert folded.folded_batch_norms == 13 and folded.kept_batch_norms == 1
    assert isinstance(folded.bank_layers[0].features[2], nn.BatchNorm2d)
    x = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert rel_err(folded(x), model(x)) <= REL_TOL


def test_model_without_norm_layers_is_unchanged() -> None:
    torch.manual_seed(0)
    model = tiny(banks=2).eval()  # norm=None: the paper's layers
    folded = fold_batch_norm(model)
    assert folded.folded_batch_norms == 0 and folded.kept_batch_norms == 0
    assert folded is not model and repr(folded) == repr(model)
    want, got = model.state_dict(), folded.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    x = torch.rand(2, 3, 32, 48)
    with torch.inference_mode():
        assert torch.equal(folded(x), model(x))


def test_bn_without_running_stats_is_not_folded() -> None:
    # track_running_stats=False normalises with batch statistics even in eval mode
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    folded = fold_batch_norm(seq)
    assert folded.folded_batch_norms == 0 and isinstance(folded[1], nn.BatchNorm2d)
