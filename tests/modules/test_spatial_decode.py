"""The spatial stage's decode choices: parabola through the logits, or the detector's centroid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posehybrid.modules.load import build_module
from posehybrid.modules.spatial import SpatialModule
from tests.test_export import tiny_model_cfg


def _module(decode: dict | None) -> SpatialModule:
    return build_module(SpatialModule, tiny_model_cfg(), joint_set="lsp", decode=decode)


def test_refine_spatial_fits_the_logits_and_detector_uses_its_map() -> None:
    module = _module(None)
    assert module.decode_cfg == {"method": "argmax", "refine": "spatial"}
    codec = module.codec
    rng = np.random.default_rng(0)
    truth = rng.uniform(12, 52, size=(14, 2)).astype(np.float32)
    heat, _ = codec.encode(truth)
    # Logits peaked at the truth; the detector's map on the same pixel but 1.2 px off to the
    # right, so the two refinements give measurably different answers.
    logits = torch.from_numpy(np.log(heat + 1e-12) - 3.0)[None]
    det, _ = codec.encode(truth + np.array([1.2, 0.0], np.float32))
    maps = {"spatial": logits, "detector": torch.from_numpy(det)[None]}
    spatial, _ = module.decode(maps)
    np.testing.assert_allclose(spatial[0].numpy(), truth, atol=1e-3)
    detector, _ = _module({"refine": "detector"}).decode(maps)
    assert (detector[0, :, 0] - spatial[0, :, 0]).mean() > 0.3
    # the log-parabola on the detector's Gaussian recovers its centre exactly, even though the
    # integer position comes from the spatial argmax (the centroid is biased towards it)
    parabola, _ = _module({"refine": "detector_parabola"}).decode(maps)
    shifted = truth + np.array([1.2, 0.0], np.float32)
    near = np.abs(np.round(codec.to_heatmap(shifted)) - np.round(codec.to_heatmap(truth)))
    same_pixel = (near == 0).all(axis=1)
    np.testing.assert_allclose(parabola[0].numpy()[same_pixel], shifted[same_pixel], atol=1e-3)
    assert same_pixel.sum() >= 3


def test_legacy_and_bad_decode_settings() -> None:
    assert _module({"refine_with_detector": True}).decode_cfg["refine"] == "detector"
    assert _module({"refine_with_detector": False}).decode_cfg["refine"] == "spatial"
    with pytest.raises(ValueError, match=r"stage\.decode\.refine.*'centre'"):
        _module({"refine": "centre"})


def test_joint_stage_keeps_detector_norm_statistics_frozen() -> None:
    from posehybrid.modules.joint import JointModule

    cfg = tiny_model_cfg()
    cfg["part_detector"]["norm"] = {"_target_": "torch.nn.BatchNorm2d", "_partial_": True}
    for frozen in (True, False):
        # train() as on_fit_start calls it (a real fit: tests/modules/test_norm_modes.py)
        module = build_module(JointModule, cfg, joint_set="lsp", detector_norm_eval=frozen).train()
        norms = [m for m in module.detector.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert norms and all(m.training != frozen for m in norms)
        assert module.detector.training and module.spatial.training
        before = norms[0].running_mean.clone()
        module.detector(torch.rand(2, 3, 64, 64))
        assert torch.equal(norms[0].running_mean, before) == frozen
        assert all(p.requires_grad for p in module.detector.parameters())


def test_spatial_stage_detector_stays_in_eval_mode_whatever_switches_modes() -> None:
    cfg = tiny_model_cfg()
    cfg["part_detector"]["norm"] = {"_target_": "torch.nn.BatchNorm2d", "_partial_": True}
    module = build_module(SpatialModule, cfg, joint_set="lsp")
    for _ in range(2):  # whoever switches modes, train() leaves the detector in eval mode
        module.eval()
        module.train()
        assert module.training and module.spatial.training
        assert not any(m.training for m in module.detector.modules())
