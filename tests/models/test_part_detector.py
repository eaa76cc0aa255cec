"""PartDetector, LCN, FLOP counting and the two model presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from posehybrid.models.flops import count_conv_flops, count_parameters
from posehybrid.models.lcn import LocalContrastNorm
from posehybrid.models.part_detector import PartDetector

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


def preset(name: str, num_joints: int = 14) -> dict:
    cfg = OmegaConf.merge(
        OmegaConf.create(
            {"data": {"num_joints": num_joints, "joint_set": "lsp" if num_joints == 14 else "flic"}}
        ),
        OmegaConf.create({"model": OmegaConf.load(CONF / f"{name}.yaml")}),
    )
    return OmegaConf.to_container(cfg.model, resolve=True)


def tiny(**kw) -> PartDetector:
    args = dict(num_joints=5, channels=(4, 6), bank_channels=8, wide_channels=8, head_channels=8)
    args.update(kw)
    return PartDetector(**args)


def test_small_preset_shape_and_grad() -> None:
    cfg = preset("small")
    model = instantiate(cfg["part_detector"])
    w, h = cfg["input_size"]
    x = torch.rand(2, 3, h, w)
    out = model(x)
    assert out.shape == (2, 14, cfg["heatmap_size"][1], cfg["heatmap_size"][0])
    assert out.is_contiguous()
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_tompson2014_preset_shape_360x240() -> None:
    # 360 is not a multiple of 16 (3 banks): padded internally, output cropped to exactly 90x60.
    cfg = preset("tompson2014", num_joints=11)
    assert cfg["input_size"] == [360, 240] and cfg["heatmap_size"] == [90, 60]
    model = instantiate(cfg["part_detector"]).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 240, 360))
    assert out.shape == (1, 11, 60, 90)
    assert torch.isfinite(out).all()


def test_stride_and_padding() -> None:
    model = tiny(banks=3)
    assert model.stride == 4 and model.multiple == 16
    assert model(torch.rand(1, 3, 36, 132)).shape == (1, 5, 9, 33)  # padded to 48x144
    with pytest.raises(ValueError, match="multiples of the stride"):
        model(torch.rand(1, 3, 34, 32))
    with pytest.raises(ValueError, match="expected"):
        model(torch.rand(1, 1, 32, 32))


def test_padding_is_right_bottom_then_cropped() -> None:
    # Padding only right/bottom keeps output pixel i on input pixels 4i..4i+3 (the codec's
    # convention): the result is the top-left window of the explicitly padded input's output.
    torch.manual_seed(0)
    model = tiny(banks=3).eval()
    x = torch.rand(1, 3, 36, 132)
    padded = F.pad(x, (0, 144 - 132, 0, 48 - 36), mode="replicate")
    with torch.no_grad():
        assert torch.allclose(model(x), model(padded)[..., :9, :33], atol=1e-6)


def test_initial_output_near_zero() -> None:
    torch.manual_seed(0)
    out = tiny()(torch.rand(2, 3, 64, 64))
    assert out.abs().max() < 0.1


def test_channels_last_matches_nchw() -> None:
    torch.manual_seed(0)
    a = tiny(channels_last=True)
    b = tiny(channels_last=False)
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 3, 48, 64)
    assert torch.allclose(a(x), b(x), atol=1e-5)


def test_norm_layer_from_hydra_partial() -> None:
    # The preset's `norm` is a Hydra `_partial_` factory; every hidden ReLU gets a norm layer in
    # front, the convolutions it follows lose their (redundant) bias, the output conv keeps it.
    cfg = preset("small")
    cfg["part_detector"]["norm"] = {"_target_": "torch.nn.BatchNorm2d", "_partial_": True}
    model = instantiate(cfg["part_detector"])
    relus = sum(isinstance(m, nn.ReLU) for m in model.modules())
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert relus == len(norms) == 3 * 4 + 2
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m is not model.out]
    assert convs and all(c.bias is None for c in convs)
    assert model.out.bias is not None
    w, h = cfg["input_size"]
    x = torch.rand(4, 3, h, w)
    out = model(x)
    out.square().mean().backward()
    assert out.shape == (4, 14, cfg["heatmap_size"][1], cfg["heatmap_size"][0])
    # Eval mode uses the running statistics, so one image's output no longer depends on the batch.
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x[:1]), model(x)[:1], atol=1e-5)


def test_lcn() -> None:
    lcn = LocalContrastNorm(3, 9)
    x = torch.rand(2, 3, 20, 24)
    y = lcn(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    # invariant to brightness and (positive) contrast changes
    assert torch.allclose(lcn(2.0 * x + 0.3), y, atol=1e-4)
    # a flat image carries no contrast
    assert lcn(torch.full((1, 3, 16, 16), 0.7)).abs().max() < 1e-4
    # tiny maps (smaller than the window) still work
    assert lcn(torch.rand(1, 3, 3, 3)).shape == (1, 3, 3, 3)


def test_flops_single_conv_hand_count() -> None:
    conv = nn.Conv2d(3, 8, 5, padding=2)
    # 8 output channels x 10x12 pixels x (3·5·5) multiply-adds x 2
    assert count_conv_flops(conv, (1, 3, 10, 12)) == 2 * 8 * 10 * 12 * 3 * 25
    assert count_conv_flops(conv, (2, 3, 10, 12)) == 2 * 2 * 8 * 10 * 12 * 3 * 25
    assert count_parameters(conv) == 8 * 3 * 25 + 8


def test_flops_detector_positive() -> None:
    model = tiny()
    flops = count_conv_flops(model, (1, 3, 64, 64))
    assert flops > 0
    assert model.training  # restored
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
