"""Inference precision (``precision=auto|32-true|bf16-mixed`` of eval, predict and
``posehybrid.load``): ``auto`` follows training's rule, bf16 runs the detector only (the FFT
spatial model stays fp32) and keeps coordinates in fp32, and a bad value is one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import posehybrid
from posehybrid.inference import autocast, resolve_precision
from posehybrid.modules.base import to_original
from posehybrid.modules.load import load_module
from posehybrid.utils.resolvers import cpu_precision
from tests.test_export import tiny_checkpoint
from tests.test_predict import _picture


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("precision") / "joint.ckpt", "joint")


def test_auto_follows_trainings_rule_and_bad_values_are_named() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == cpu_precision()  # trainer.precision's resolver
    assert resolve_precision("32-true", cpu) == "32-true"
    assert resolve_precision("bf16-mixed", cpu) == "bf16-mixed"
    with pytest.raises(ValueError, match=r"precision='16'.*auto, 32-true, bf16-mixed"):
        resolve_precision("16", cpu)


def test_bf16_runs_the_detector_only(ckpt: Path) -> None:
    module = load_module(ckpt)
    x = torch.rand(2, 3, *module.codec.input_size[::-1])
    cpu = torch.device("cpu")
    with torch.inference_mode(), autocast("bf16-mixed", cpu):
        maps = module.heatmaps(x)
        coords, scores = module.decode(maps)
    assert maps["detector"].dtype == torch.bfloat16
    assert maps["spatial"].dtype == torch.float32  # the FFT spatial model turns autocast off
    assert coords.dtype == scores.dtype == torch.float32
    with torch.inference_mode(), autocast("32-true", cpu):
        assert module.heatmaps(x)["detector"].dtype == torch.float32


def test_bf16_predictions_stay_close(ckpt: Path, tmp_path: Path) -> None:
    """A large photograph: most joints within a heat-map pixel of the fp32 model's (this
    model's maps sit near 20, where bf16 keeps 0.6 %: a few argmaxes may move)."""
    import cv2

    path = tmp_path / "big.png"
    cv2.imwrite(str(path), _picture(1200, 900, 3))
    fp32 = posehybrid.load(ckpt, device="cpu", precision="32-true")
    bf16 = posehybrid.load(ckpt, device="cpu", precision="bf16-mixed")
    assert (fp32.precision, bf16.precision) == ("32-true", "bf16-mixed")
    (rgb,) = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)]
    kps32, _, _ = fp32.predict_arrays([rgb])
    kps16, _, _ = bf16.predict_arrays([rgb])
    scale = 1200 / fp32.module.codec.heatmap_size[0]  # original px per heat-map px
    close = np.abs(kps16 - kps32).max(-1) <= scale
    assert close.mean() >= 0.8, np.abs(kps16 - kps32).max(-1)


def test_original_pixels_are_float32_under_autocast() -> None:
    """The input -> original pixel map runs in fp32 inside a bf16 step: bf16 would round a
    ~700 px coordinate to a multiple of 4 px."""
    gen = torch.Generator().manual_seed(0)
    coords = 64 * torch.rand(3, 14, 2, generator=gen)
    inv = torch.tensor([[11.3, 0.2, 5.7], [-0.1, 11.1, 3.3]]).expand(3, 2, 3)
    want = coords.double() @ inv[:, :, :2].double().transpose(1, 2) + inv[:, None, :, 2].double()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = to_original(coords, inv)
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), want, atol=1e-3)
