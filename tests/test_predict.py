"""``posehybrid.predict``: any image in, per-image JSON (score-tool readable) + overlay out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from posehybrid.data.dataset import PoseDataset
from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.records import PoseRecord
from posehybrid.data.skeleton import LSP
from posehybrid.inference import letterbox, to_batch
from posehybrid.predict import output_stems, parse_box
from posehybrid.predict import run as predict_run
from posehybrid.score import GroundTruth, load_predictions
from tests.test_export import tiny_checkpoint

REPO = Path(__file__).resolve().parents[1]


def _picture(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth colour image (BGR uint8) with a bright bar, so maps are not flat."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8), (w, h))
    cv2.rectangle(img, (w // 3, h // 4), (w // 2, 3 * h // 4), (250, 250, 250), -1)
    return img


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("predict") / "joint.ckpt", "joint")


def test_predict_folder_mixed_formats(ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "colour.jpg"), _picture(150, 100))
    cv2.imwrite(str(src / "gray.png"), cv2.cvtColor(_picture(90, 120, 1), cv2.COLOR_BGR2GRAY))
    rgba = cv2.cvtColor(_picture(64, 64, 2), cv2.COLOR_BGR2BGRA)
    rgba[..., 3] = 100
    cv2.imwrite(str(src / "alpha.png"), rgba)
    cv2.imwrite(str(src / "deep.png"), _picture(80, 50, 3).astype(np.uint16) * 257)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "readme.txt").write_text("not an image: ignored")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "posehybrid.predict", f"ckpt={ckpt}", f"input={src}",
         f"output={out}", "batch_size=3"],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "broken.jpg" in proc.stderr and "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["images"] == 4 and summary["failed"] == ["broken.jpg"]
    sizes = {"colour.jpg": (150, 100), "gray.png": (90, 120), "alpha.png": (64, 64),
             "deep.png": (80, 50)}  # fmt: skip
    for name, (w, h) in sizes.items():
        stem = Path(name).stem
        record = json.loads((out / f"{stem}.json").read_text())
        assert record["image"] == name and (record["width"], record["height"]) == (w, h)
        assert record["joint_set"] == "lsp" and record["stage"] == "joint"
        assert list(record["joints"]) == list(LSP.joints)
        assert all(set(v) == {"x", "y", "confidence", "raw_score"}
                   for v in record["joints"].values())  # fmt: skip
        assert all(0.0 <= v["confidence"] <= 1.0 for v in record["joints"].values())
        overlay = cv2.imread(str(out / f"{stem}_overlay.png"))
        f = 512 / max(w, h)  # small images are upscaled for the overlay (overlay_min_side)
        assert overlay.shape == (round(h * f), round(w * f), 3)
    assert not (out / "broken.json").exists()

    # The folder is a valid prediction input of the score tool (matched by file name).
    names = sorted(sizes)
    gt = GroundTruth(LSP, np.zeros((4, 14, 2)), np.ones((4, 14), bool), names)
    pred = load_predictions(out, gt)
    first = json.loads((out / "alpha.json").read_text())["joints"]
    assert pred.shape == (4, 14, 2)
    np.testing.assert_allclose(pred[0, 0], [first["r_ankle"]["x"], first["r_ankle"]["y"]])


def test_letterbox_is_the_dataset_geometry(tmp_path: Path) -> None:
    """Prediction preprocessing == evaluation preprocessing (same pixels, same inverse)."""
    path = tmp_path / "im.jpg"
    cv2.imwrite(str(path), _picture(300, 180))
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    codec = HeatmapCodec((64, 64), (16, 16))
    for box in (None, np.array([100.0, 40.0, 160.0, 120.0], np.float32)):
        rec = PoseRecord(path, np.zeros((14, 2), np.float32), np.ones(14, bool),
                         np.ones(14, bool), torso_box=box)  # fmt: skip
        sample = PoseDataset([rec], LSP, codec, train=False)[0]
        inp, inv = letterbox(image, (64, 64), LSP, box, 3.0)
        torch.testing.assert_close(to_batch([inp])[0], sample["image"])
        np.testing.assert_allclose(inv, sample["inv_affine"].numpy(), atol=1e-5)


def test_predict_torso_box_and_tta_in_process(ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "one.png"
    cv2.imwrite(str(src), _picture(200, 160))
    cfg = OmegaConf.create(
        {"ckpt": str(ckpt), "input": str(src), "output": str(tmp_path / "o"), "flip_test": True,
         "scales": [1.0, 0.75], "torso_box": [80, 40, 120, 100], "box_scale": 3.0,
         "batch_size": 8, "device": "cpu", "overlay": False, "overlay_min_side": 512, "precision": "auto"}
    )  # fmt: skip
    summary = predict_run(cfg)
    assert summary["images"] == 1 and summary["failed"] == []
    assert summary["tta"] == {"flip": True, "scales": [1.0, 0.75]}
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["one.json"]


def test_predict_bad_arguments(ckpt: Path, tmp_path: Path) -> None:
    base = {"ckpt": str(ckpt), "input": str(tmp_path / "missing"), "output": str(tmp_path),
            "flip_test": False, "scales": [1.0], "torso_box": None, "box_scale": 3.0,
            "batch_size": 8, "device": "cpu", "overlay": True, "overlay_min_side": 512, "precision": "auto"}  # fmt: skip
    with pytest.raises(ValueError, match="no such file"):
        predict_run(OmegaConf.create(base))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        predict_run(OmegaConf.create({**base, "input": str(tmp_path / "empty")}))
    with pytest.raises(ValueError, match="scales"):
        predict_run(OmegaConf.create({**base, "scales": [0.0]}))
    with pytest.raises(ValueError, match="torso_box"):
        parse_box([10, 10, 5, 20])
    assert parse_box(None) is None


def test_output_stems_keep_same_named_files_apart() -> None:
    stems = output_stems([Path("a.jpg"), Path("a.png"), Path("b.png")])
    assert stems == {Path("a.jpg"): "a.jpg", Path("a.png"): "a.png", Path("b.png"): "b"}
