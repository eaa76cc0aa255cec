"""``posehybrid.export``: TorchScript and ONNX graphs reproduce the PyTorch keypoints/scores.

Checkpoints here are built from the configs with random weights (no training): equality of the
exported graph with PyTorch does not depend on what the weights learned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from posehybrid.callbacks.model_record import ModelRecord
from posehybrid.export import KeypointModel
from posehybrid.export import run as export_run
from posehybrid.modules.load import STAGE_MODULES, build_module, load_module

REPO = Path(__file__).resolve().parents[1]


def tiny_model_cfg(joints: int = 14, size: int = 64) -> dict:
    """``conf/model/small.yaml`` shrunk to a ``size`` x ``size`` input (heat-maps size/4), for
    the LSP (14) or FLIC (11) joints."""
    joint_set = "lsp" if joints == 14 else "flic"
    cfg = OmegaConf.create({"data": {"num_joints": joints, "joint_set": joint_set}})
    cfg.model = OmegaConf.load(REPO / "conf" / "model" / "small.yaml")
    cfg.model.input_size = [size, size]
    cfg.model.heatmap_size = [size // 4, size // 4]
    cfg.model.spatial.kernel_size = size // 2 - 1
    return OmegaConf.to_container(cfg.model, resolve=True)


def tiny_checkpoint(
    path: Path, stage: str = "joint", joint_set: str = "lsp", seed: int = 1
) -> Path:
    """A checkpoint of ``stage`` as training writes it (state_dict, hyper-parameters, the
    posehybrid block with the model config)."""
    torch.manual_seed(seed)
    model_cfg = tiny_model_cfg(14 if joint_set == "lsp" else 11)
    module = build_module(STAGE_MODULES[stage], model_cfg, joint_set=joint_set)
    # The detector starts with outputs ~0 (std 1e-3 head): spread them, and keep them positive
    # so the spatial model's ReLU leaves no flat maps (argmax ties that round-off decides).
    torch.nn.init.normal_(module.detector.out.weight, std=0.3)
    torch.nn.init.constant_(module.detector.out.bias, 20.0)
    # Batch-norm statistics and affine terms away from their init, so that folding them into
    # the convolutions (load_module, export) is not the identity (positive scales: all fold).
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in module.detector.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                c = bn.num_features
                bn.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                bn.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                bn.weight.copy_(0.5 + torch.rand(c, generator=gen))
                bn.bias.copy_(0.2 * torch.randn(c, generator=gen))
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    ModelRecord(model_cfg).on_save_checkpoint(None, module, ckpt)  # type: ignore[arg-type]
    module.on_save_checkpoint(ckpt)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def export_cfg(ckpt: Path, output: Path, **kw) -> OmegaConf:
    """conf/export.yaml's own values (not its Hydra parts), with ``ckpt``, ``output`` and ``kw``."""
    conf = OmegaConf.load(REPO / "conf" / "export.yaml")
    base = {k: v for k, v in conf.items() if k not in ("defaults", "hydra", "name")}
    return OmegaConf.create({**base, "ckpt": str(ckpt), "output": str(output), **kw})


@pytest.mark.parametrize("stage", ["part_detector", "joint"])
def test_export_equals_pytorch(tmp_path: Path, stage: str) -> None:
    import onnxruntime as ort

    ckpt = tiny_checkpoint(tmp_path / f"{stage}.ckpt", stage)
    out = tmp_path / "export"
    info = export_run(export_cfg(ckpt, out))
    assert {p.name for p in out.iterdir()} == {"model.ts", "model.onnx", "export.json"}
    meta = json.loads((out / "export.json").read_text())
    assert meta["input_size"] == [64, 64] and meta["stride"] == [4.0, 4.0]
    assert meta["joints"][0] == "r_ankle" and len(meta["joints"]) == 14
    assert meta["stage"] == stage and info["files"] == {
        "torchscript": "model.ts",
        "onnx": "model.onnx",
    }
    assert meta["verification"]["torchscript_max_abs"] <= 1e-4
    assert meta["verification"]["onnx_max_abs"] <= 1e-4
    for runtime in ("torchscript", "onnx"):
        assert 0 <= meta["verification"][f"{runtime}_keypoint_max_px"] <= 1e-3
    assert meta["verification"]["ambiguous_joints"] == 0  # so every keypoint was compared
    # model=small's 14 norm layers are folded into the exported convolutions, and the folded
    # model was checked against the checkpoint's own layers
    assert meta["batch_norm"] == {"folded": 14, "kept": 0}
    assert meta["verification"]["bn_folded_max_abs"] <= 1e-4
    assert meta["verification"]["bn_folded_keypoint_max_px"] <= 1e-3

    # Independently: fresh input, batch size 1 (traced with 2), both files vs PyTorch.
    module = load_module(ckpt)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        kps, scores = KeypointModel(module, "direct")(image)
        fft_kps, _ = module.decode(module.heatmaps(image))  # the training-time path
    ts_kps, ts_scores = torch.jit.load(str(out / "model.ts"))(image)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_kps, onnx_scores = session.run(None, {"image": image.numpy()})
    assert kps.shape == (1, 14, 2) and scores.shape == (1, 14)
    torch.testing.assert_close(ts_kps, kps, atol=1e-4, rtol=0)
    torch.testing.assert_close(ts_scores, scores, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.from_numpy(onnx_kps), kps, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.from_numpy(onnx_scores), scores, atol=1e-4, rtol=0)
    torch.testing.assert_close(fft_kps, kps, atol=1e-3, rtol=0)  # direct == FFT messages
    if stage == "joint":
        assert meta["spatial_method"] == "direct"
        assert meta["verification"]["direct_vs_fft_max_abs"] <= 1e-3


def test_load_module_folds_batch_norm_unless_asked_not_to(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "spatial.ckpt", "spatial")
    folded, unfolded = load_module(ckpt), load_module(ckpt, fold_bn=False)
    norms = [
        sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules()) for m in (folded, unfolded)
    ]
    assert norms == [0, 14]
    assert not folded.training and not unfolded.training
    image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        got, want = folded.heatmaps(image), unfolded.heatmaps(image)
    for key in ("detector", "spatial"):
        err = (got[key] - want[key]).abs().max() / want[key].abs().max()
        assert err <= 2e-5, key  # float32 round-off (models/test_fusion.py measures it)
    # the maps have clear maxima (positive detector bias), so the keypoints agree as in export
    torch.testing.assert_close(folded.decode(got)[0], unfolded.decode(want)[0], atol=1e-3, rtol=0)


def test_export_without_folding_keeps_the_norm_layers(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "pd.ckpt", "part_detector")
    out = tmp_path / "export"
    export_run(export_cfg(ckpt, out, format="torchscript", fold_bn=False))
    meta = json.loads((out / "export.json").read_text())
    assert meta["batch_norm"] == {"folded": 0, "kept": 14}
    assert "bn_folded_max_abs" not in meta["verification"]
    assert meta["verification"]["torchscript_max_abs"] <= 1e-4


def test_export_rejects_bad_options(tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "pd.ckpt", "part_detector")
    with pytest.raises(ValueError, match="format"):
        export_run(export_cfg(ckpt, tmp_path / "o", format="tflite"))
    with pytest.raises(ValueError, match="rfft"):
        export_run(export_cfg(ckpt, tmp_path / "o", format="onnx", spatial_method="fft"))
    with pytest.raises(ValueError, match="opset"):
        export_run(export_cfg(ckpt, tmp_path / "o", opset=13))


def test_export_cli_bad_checkpoint_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The Hydra entry point itself (in-process: a subprocess would cost seconds of imports)."""
    from posehybrid.export import main

    bad = tmp_path / "not_a.ckpt"
    bad.write_bytes(b"garbage")
    argv = ["export", f"ckpt={bad}", f"output={tmp_path / 'o'}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.startswith("export:")]
    assert len(lines) == 1 and lines[0].startswith("export: error:") and str(bad) in lines[0]
    assert "Traceback" not in err
