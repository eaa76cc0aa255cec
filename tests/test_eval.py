"""``posehybrid.eval`` (agreement with training's test metrics, outputs) and the test-time
augmentation helpers of ``posehybrid.inference``.

One tiny part-detector run is trained once per module (a subprocess, as a user runs it); the
spatial-stage check builds its module directly (random spatial weights suffice: the question
is whether eval computes what Lightning's test loop computes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.skeleton import LSP
from posehybrid.inference import TTA, tta_heatmaps, unflip_maps
from posehybrid.modules.load import build_module, model_config_of
from posehybrid.modules.spatial import SpatialModule
from posehybrid.provenance import data_config

REPO = Path(__file__).resolve().parents[1]
PERM = LSP.flip_permutation


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train a tiny part detector once: {"root", "ckpt", "metrics"} of its run."""
    root = tmp_path_factory.mktemp("eval_run")
    proc = _python(
        "posehybrid.train", "stage=part_detector", "name=t5", "data.n_images=24",
        "data.batch_size=4", "trainer.max_epochs=1", "logger=none",
        f"paths.log_dir={root}/outputs", f"paths.data_dir={root}/data", cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (root / "outputs" / "t5" / "part_detector").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    return {"root": root, "ckpt": run / "checkpoints" / "best.ckpt", "metrics": metrics}


def _spatial_on_tiny_run(tiny_run: dict) -> tuple[SpatialModule, Any]:
    """A spatial module on the tiny run's detector (random spatial weights, seed 0) and the
    DataModule of that run's data, set up for testing."""
    torch.manual_seed(0)
    module = build_module(
        SpatialModule,
        model_config_of(tiny_run["ckpt"]),
        joint_set="lsp",
        init={"part_detector": str(tiny_run["ckpt"])},
    ).eval()
    data, _, _ = data_config(OmegaConf.create({"data_from_run": "true"}), tiny_run["ckpt"], [])
    datamodule = instantiate(data, codec=module.codec)
    datamodule.setup("test")
    return module, datamodule


def _test_trainer() -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False,
    )  # fmt: skip


def test_eval_matches_training_metrics_and_writes_outputs(tiny_run: dict) -> None:
    root = tiny_run["root"]
    proc = _python("posehybrid.eval", f"ckpt={tiny_run['ckpt']}", f"paths.log_dir={root}/outputs",
                   cwd=root)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    train = tiny_run["metrics"]
    for key in ("pck@0.1", "pck@0.2"):
        assert summary[key] == pytest.approx(train[key], abs=1e-6)
    for part, value in train["parts@0.2"].items():
        assert summary["parts@0.2"][part] == pytest.approx(value, abs=1e-6, nan_ok=True)

    out = Path(summary["output_dir"])
    assert out.parent == root / "outputs" / "t5" / "eval"  # experiment name from the run
    files = ("metrics.json", "table.md", "pck_curve.png", "examples.png")
    for name in files:
        assert (out / name).stat().st_size > 0
    for name in files[2:]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"stage", "dataset", "experiment", "joints@0.2", "pcp", "tta"} <= set(metrics)
    assert metrics["stage"] == "part_detector" and metrics["dataset"] == "synthetic"
    assert metrics["tta"] == {"flip": False, "scales": [1.0]}
    assert metrics["joints@0.2"] == pytest.approx(train["joints@0.2"], abs=1e-6)
    table = (out / "table.md").read_text()
    assert "PCK@0.2" in table and "Strict PCP" in table and "| head |" in table
    # the kinds of mistake: the training run's (within one of its 168 joints: a batch of
    # another size moves bf16 predictions by float noise, enough to cross the jitter radius
    # once), and "good" is PCK@0.2 itself
    errors = metrics["errors@0.2"]["total"]
    assert errors == pytest.approx(train["errors@0.2"]["total"], abs=1 / 168 + 1e-9)
    assert errors["good"] == pytest.approx(metrics["pck@0.2"], abs=1e-9)
    assert sum(errors.values()) == pytest.approx(1.0) and "| inversion |" in table
    assert "| occluded |" in table and "| visible |" in table
    # what was scored, truthfully: the training run's own test split
    assert metrics["kind"] == "eval" and metrics["n"] == metrics["data"]["splits"]["test"] == 12
    assert metrics["data"]["differs_from_training"] == []
    assert metrics["data"]["test_images_in_training"] == 0
    assert "differs" not in proc.stderr
    saved = OmegaConf.load(out / ".hydra" / "config.yaml")
    assert saved.data.name == "synthetic" and saved.data.n_images == 24  # not eval.yaml's 2000
    # the same per-image counts as the training run's test (paired comparisons read them)
    per_image = json.loads((out / "test_per_image.json").read_text())
    trained = json.loads((tiny_run["ckpt"].parent.parent / "test_per_image.json").read_text())
    assert per_image == trained and len(per_image["index"]) == 12


def test_eval_on_other_data_says_so(tiny_run: dict) -> None:
    """Evaluating on data other than the training run's: one warning line naming how it
    differs; metrics.json and the eval run's config record the data actually used."""
    root = tiny_run["root"]
    (folder,) = (root / "data" / "synthetic").glob("synthetic-lsp-*")
    proc = _python("posehybrid.eval", f"ckpt={tiny_run['ckpt']}", "data=lsp",
                   f"data.root={folder}", f"paths.log_dir={root}/outputs", cwd=root)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if "differs from the checkpoint" in line]
    assert len(warnings) == 1, proc.stderr
    assert "name synthetic -> lsp" in warnings[0] and "root" in warnings[0]
    out = Path(json.loads(proc.stdout.strip().splitlines()[-1])["output_dir"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "lsp" and metrics["n"] == 12
    assert metrics["data"]["root"] == str(folder)
    assert metrics["data"]["test_images_in_training"] == 0  # LSP's second half = the test half
    saved = OmegaConf.load(out / ".hydra" / "config.yaml")
    assert saved.data.name == "lsp" and saved.data.root == str(folder)


def test_overlap_with_the_training_split_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from posehybrid.provenance import DATA_FILE, check_against_training

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    images = [str(tmp_path / f"im{i:05d}.jpg") for i in range(10)]
    record = {"images": {"train": images[:6], "val": images[6:8], "test": images[8:]}}
    (run / DATA_FILE).write_text(json.dumps(record))
    trained = OmegaConf.create({"name": "lspet", "root": str(tmp_path), "batch_size": 8,
                                "source": {"_target_": "x.LSPetSource", "test_size": 2}})  # fmt: skip
    used = OmegaConf.merge(trained, {"source": {"test_size": 5}, "batch_size": 2})
    facts = {"images": {"test": images[5:]}}  # the last 5: 3 of them trained or validated on
    with caplog.at_level("WARNING", logger="posehybrid.provenance"):
        out = check_against_training(run / "checkpoints" / "best.ckpt", trained, used, facts)
    assert out == {"differs_from_training": ["source.test_size 2 -> 5"],
                   "test_images_in_training": 3}  # fmt: skip
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "3 of 5 test images" in messages[1]
    assert "batch_size" not in messages[0]  # not a property of which images are tested


def _evaluated(tiny_run: dict, *args: str) -> tuple[dict, Path]:
    """``eval`` of the tiny run's checkpoint with ``args``: its metrics.json and folder."""
    root = tiny_run["root"]
    proc = _python("posehybrid.eval", f"ckpt={tiny_run['ckpt']}", *args,
                   f"paths.log_dir={root}/outputs", cwd=root)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = Path(json.loads(proc.stdout.strip().splitlines()[-1])["output_dir"])
    return json.loads((out / "metrics.json").read_text()), out


def test_eval_by_view_scores_each_view_apart(tiny_run: dict) -> None:
    root = tiny_run["root"]
    metrics, out = _evaluated(tiny_run, "by=view")
    groups = metrics["by"]["groups"]
    assert metrics["by"]["key"] == "view" and set(groups) <= {"front", "back", "profile"}
    assert sum(g["n"] for g in groups.values()) == metrics["n"] == 12
    pooled = sum(g["pck@0.2"] * g["joints"] for g in groups.values() if g["joints"])
    assert pooled / sum(g["joints"] for g in groups.values()) == pytest.approx(metrics["pck@0.2"])
    assert "## By view" in (out / "table.md").read_text()
    # the views' occluded joints add up to the pooled ones (the batch's visibility flag kept)
    hidden = sum(g["visibility"]["occluded"]["share"] * g["joints"] for g in groups.values())
    pooled_hidden = metrics["errors@0.2"]["visibility"]["occluded"]["share"]
    assert hidden / sum(g["joints"] for g in groups.values()) == pytest.approx(pooled_hidden)
    assert (
        pooled_hidden > 0 and "| visible @0.2 | occluded @0.2 |" in (out / "table.md").read_text()
    )
    # a label the records do not have: one error line (after the log's), no evaluation written
    finished = set((root / "outputs" / "t5" / "eval").glob("*/metrics.json"))
    proc = _python("posehybrid.eval", f"ckpt={tiny_run['ckpt']}", "by=moviename",
                   f"paths.log_dir={root}/outputs", cwd=root)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("eval: error:")]
    assert len(errors) == 1 and "by=moviename" in errors[0] and "view" in errors[0], proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == errors[0]
    assert set((root / "outputs" / "t5" / "eval").glob("*/metrics.json")) == finished


def test_eval_refuses_flic_data_for_an_lsp_checkpoint(tiny_run: dict) -> None:
    root = tiny_run["root"]
    proc = _python("posehybrid.eval", f"ckpt={tiny_run['ckpt']}", "data=synthetic_flic",
                   f"paths.log_dir={root}/outputs", cwd=root)  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eval: error:"), proc.stderr
    assert "'lsp'" in lines[0] and "'flic'" in lines[0] and "Traceback" not in proc.stderr


def test_trainer_test_runs_tta_as_the_predict_path_does(tiny_run: dict) -> None:
    """The spatial stage through ``trainer.test`` with flip + multi-scale TTA in its test_step:
    the kept predictions equal ``predict_batch`` (the predict/API path) on the same batches,
    and the module's PCK equals a PCK of those predictions."""
    from posehybrid.inference import predict_batch
    from posehybrid.metrics import PCK

    module, datamodule = _spatial_on_tiny_run(tiny_run)
    tta = TTA(flip=True, scales=(1.0, 0.75))
    module.tta, module.keep_test_outputs = tta, True
    trainer = _test_trainer()
    trainer.test(module, datamodule=datamodule, verbose=False)
    kept = module.test_outputs
    preds, pck = [], PCK(LSP)
    for batch in datamodule.test_dataloader():
        pred, *_ = predict_batch(module, batch["image"], batch["inv_affine"], tta)
        preds.append(pred)
        pck.update(pred, batch["keypoints_orig"], batch["annotated"])
    torch.testing.assert_close(kept["pred"], torch.cat(preds))
    ours = pck.summary()
    for key in ("pck@0.1", "pck@0.2"):
        assert ours[key] == pytest.approx(module.test_summary[key], abs=1e-9)
    # and the TTA changed something: the plain test loop predicts otherwise
    module.tta = TTA()
    trainer.test(module, datamodule=datamodule, verbose=False)
    assert not torch.allclose(module.test_outputs["pred"], kept["pred"])


def test_predict_then_score_reproduces_the_test_metrics(tiny_run: dict, tmp_path: Path) -> None:
    """predict's per-image JSONs, scored by the score tool, give training's PCK@0.2: the
    letterbox of arbitrary images is the evaluation geometry, and the JSONs are compatible."""
    from posehybrid.predict import run as predict_run
    from posehybrid.score import run as score_run

    (folder,) = (tiny_run["root"] / "data" / "synthetic").glob("synthetic-lsp-*")
    predict_run(
        OmegaConf.create(
            {"ckpt": str(tiny_run["ckpt"]), "input": str(folder / "images"),
             "output": str(tmp_path), "flip_test": False, "scales": [1.0], "torso_box": None,
             "box_scale": 3.0, "batch_size": 8, "device": "cpu", "overlay": False,
             "overlay_min_side": 512, "precision": "auto"}
        )
    )  # fmt: skip
    scored = score_run(
        OmegaConf.create({"pred": str(tmp_path), "protocol": "lsp_pc", "root": str(folder),
                          "split": "test", "plot": None})
    )  # fmt: skip
    train = tiny_run["metrics"]
    assert scored["pck@0.2"]["total"] == round(100 * train["pck@0.2"], 1)
    for part, value in train["parts@0.2"].items():
        assert scored["pck@0.2"][part] == round(100 * value, 1)


# ---------------------------------------------------------------------------- TTA helpers
class PoolStub(nn.Module):
    """A flip-equivariant 'detector': joint j's map = w_j * avgpool4(mean over colour)."""

    def __init__(self, weights: torch.Tensor, size: int = 64) -> None:
        super().__init__()
        self.joint_set = LSP
        self.codec = HeatmapCodec((size, size), (size // 4, size // 4))
        self.register_buffer("w", weights.view(1, -1, 1, 1))
        self.detector = lambda x: F.avg_pool2d(x.mean(1, keepdim=True), 4) * self.w

    def heatmaps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"detector": self.detector(image)}

    def decode(self, maps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.codec.decode(maps["detector"])


def test_unflip_of_encoded_maps_is_exact() -> None:
    """Mirror keypoints (x -> W-1-x, labels swapped), encode, unflip == encode originals."""
    codec = HeatmapCodec((64, 48), (16, 12), sigma=1.5)
    kps = np.random.default_rng(0).uniform([3, 3], [60, 44], size=(14, 2))
    mirrored = kps.copy()
    mirrored[:, 0] = 63 - mirrored[:, 0]
    maps, _ = codec.encode(kps)
    maps_m, _ = codec.encode(mirrored[PERM])
    back = unflip_maps(torch.from_numpy(maps_m)[None], PERM)[0]
    torch.testing.assert_close(back, torch.from_numpy(maps), atol=1e-6, rtol=0)


def test_flip_tta_recovers_maps_of_an_equivariant_stub() -> None:
    image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    sym = torch.tensor([1.0 + min(j, PERM[j]) for j in range(14)])  # w_j == w_perm[j]
    stub = PoolStub(sym)
    plain = stub.heatmaps(image)["detector"]
    mirrored = stub.heatmaps(image.flip(-1))["detector"]
    torch.testing.assert_close(unflip_maps(mirrored, PERM), plain, atol=1e-6, rtol=1e-6)
    flipped = tta_heatmaps(stub, image, TTA(flip=True))["detector"]
    torch.testing.assert_close(flipped, plain, atol=1e-6, rtol=1e-6)
    # Asymmetric weights: the average pairs each joint with its mirror partner's channel.
    w = torch.arange(1.0, 15.0)
    got = tta_heatmaps(PoolStub(w), image, TTA(flip=True))["detector"]
    want = PoolStub((w + w[PERM]) / 2).heatmaps(image)["detector"]
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("scale", [0.75, 1.5])
def test_multiscale_keeps_positions(scale: float) -> None:
    """A blob found at scale s decodes to the same input position as at scale 1."""
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    x0, y0 = 37.3, 21.6
    image = torch.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 6.0**2)).expand(1, 3, 64, 64)
    stub = PoolStub(torch.ones(14))
    base, _ = stub.decode(tta_heatmaps(stub, image, TTA()))
    maps = tta_heatmaps(stub, image, TTA(scales=(scale,)))
    assert maps["detector"].shape == (1, 14, 16, 16)
    got, _ = stub.decode(maps)
    assert (got - base).abs().max() < 0.35
    assert (base[0, 0] - torch.tensor([x0, y0])).abs().max() < 0.35


def test_tta_on_the_spatial_stage_averages_both_maps() -> None:
    from tests.test_export import tiny_model_cfg

    torch.manual_seed(0)
    module = build_module(SpatialModule, tiny_model_cfg(), joint_set="lsp").eval()
    image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        plain = module.heatmaps(image)
        same = tta_heatmaps(module, image, TTA())
        maps = tta_heatmaps(module, image, TTA(flip=True, scales=(1.0, 0.75)))
    for key in ("detector", "spatial"):
        assert torch.equal(same[key], plain[key])
        assert maps[key].shape == plain[key].shape and torch.isfinite(maps[key]).all()
    with pytest.raises(ValueError, match="scales"):
        TTA.from_cfg(False, [])


def _mirror_order(joints: tuple[str, ...]) -> list[int]:
    """Channel order of a mirrored image, from the names alone: l_x <-> r_x."""
    swap = {"l_": "r_", "r_": "l_"}
    return [joints.index(swap.get(n[:2], n[:2]) + n[2:]) for n in joints]


def test_flip_and_multiscale_average_is_the_hand_built_mean() -> None:
    """TTA(flip, scales=(1, 0.75)) == the mean of the four runs built here by hand: plain,
    mirrored (un-mirrored by flipping the maps back and swapping left/right channels), and
    both again at 48 px input with the detector maps resized back to 16 px. The spatial
    stage's log-maps are the mean of the spatial model run on each run's detector maps."""
    from tests.test_export import tiny_model_cfg

    torch.manual_seed(0)
    module = build_module(SpatialModule, tiny_model_cfg(), joint_set="lsp").eval()
    torch.nn.init.normal_(module.detector.out.weight, std=0.3)  # maps that are not ~0
    image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    order = _mirror_order(LSP.joints)
    assert order != list(range(14))

    def run(img: torch.Tensor, side: int, mirrored: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x = img.flip(-1) if mirrored else img
        if side != 64:
            x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True)
        e = module.detector(x)
        if e.shape[-1] != 16:
            e = F.interpolate(e, size=(16, 16), mode="bilinear")
        s = module.spatial(e)
        if mirrored:
            e, s = e.flip(-1)[:, order], s.flip(-1)[:, order]
        return e, s

    with torch.inference_mode():
        runs = [run(image, side, m) for side in (64, 48) for m in (False, True)]
        want_e = sum(e for e, _ in runs) / 4
        want_s = sum(s for _, s in runs) / 4
        got = tta_heatmaps(module, image, TTA(flip=True, scales=(1.0, 0.75)))
    torch.testing.assert_close(got["detector"], want_e, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got["spatial"], want_s, atol=1e-4, rtol=1e-5)
    # and the mean is not just one of its runs
    assert (got["detector"] - runs[0][0]).abs().max() > 1e-3


def test_candidate_recall_in_the_test_loop_is_the_argmax_at_top1(tiny_run: dict) -> None:
    """``track_candidates`` on a spatial module: for both maps, top-1 equals a PCK of the plain
    argmax computed here (heat-map px -> input px -> original px), and recall grows with k."""
    from posehybrid.metrics import PCK
    from posehybrid.modules.base import to_original

    module, datamodule = _spatial_on_tiny_run(tiny_run)
    module.track_candidates([5, 1, 2])
    trainer = _test_trainer()
    trainer.test(module, datamodule=datamodule, verbose=False)
    recall = module.test_summary["candidates"]
    argmax = {name: PCK(LSP) for name in ("detector", "spatial")}
    with torch.inference_mode():
        for batch in datamodule.test_dataloader():
            for name, maps in module.heatmaps(batch["image"]).items():
                flat = maps.flatten(2).argmax(-1)
                uv = torch.stack([flat % maps.shape[-1], flat // maps.shape[-1]], -1).float()
                pred = to_original(module.codec.to_input(uv), batch["inv_affine"])
                argmax[name].update(pred, batch["keypoints_orig"], batch["annotated"])
    for name, metric in argmax.items():
        ours = metric.summary()
        for alpha in ("0.1", "0.2"):
            got = recall[name][f"pck@{alpha}"]
            assert got["top1"] == pytest.approx(ours[f"pck@{alpha}"], abs=1e-9)
            assert got["top1"] <= got["top2"] <= got["top5"]
    assert recall["spatial"]["pck@0.2"]["top5"] > recall["spatial"]["pck@0.2"]["top1"]
    # the kinds of mistake reach the loggers, as the summary has them
    kinds = module.test_summary["errors@0.2"]["total"]
    for kind, value in kinds.items():
        logged = float(trainer.callback_metrics[f"test/errors@0.2/{kind}"])
        assert logged == pytest.approx(value, abs=1e-6)
    assert kinds["good"] == pytest.approx(module.test_summary["pck@0.2"], abs=1e-9)
    # and PCK@0.2 of the visible and of the occluded joints, which pool to the whole
    split = module.test_summary["errors@0.2"]["visibility"]
    pooled = 0.0
    for name, group in split.items():
        logged = float(trainer.callback_metrics[f"test/pck@0.2/{name}"])
        assert logged == pytest.approx(group["good"], abs=1e-6)
        pooled += group["share"] * group["good"]
    assert split["occluded"]["share"] > 0  # the synthetic figures hide some joints
    assert pooled == pytest.approx(kinds["good"], abs=1e-9)


def test_eval_writes_the_candidate_recall(tiny_run: dict) -> None:
    metrics, out = _evaluated(tiny_run, "candidates=[1,3]")
    assert set(metrics["candidates"]) == {"detector"}  # a detector checkpoint has no spatial map
    top = metrics["candidates"]["detector"]["pck@0.2"]
    assert set(top) == {"top1", "top3"} and top["top1"] <= top["top3"]
    assert "top-k peaks" in (out / "table.md").read_text()


@pytest.mark.parametrize("value", [3, [], [0], ["a"], [True], [1.5]])
def test_candidate_counts_refuse_anything_but_a_list_of_counts(value: Any) -> None:
    from posehybrid.eval import candidate_counts

    with pytest.raises(ValueError, match=r"candidates must be a list of peak counts"):
        candidate_counts(OmegaConf.create({"k": value}).k if isinstance(value, list) else value)
    assert candidate_counts(OmegaConf.create({"k": [1, 2, 5]}).k) == [1, 2, 5]
