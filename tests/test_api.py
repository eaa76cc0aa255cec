"""The Python API (``posehybrid.load`` -> ``Predictor``) and the per-joint confidence: the API
gives what ``predict`` writes into its JSON, confidences lie in [0, 1] and mean something."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import posehybrid
from posehybrid.api import as_rgb
from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.inference import peak_mass
from posehybrid.predict import run as predict_run
from tests.test_export import tiny_checkpoint
from tests.test_predict import _picture


@pytest.fixture(scope="module", params=["part_detector", "joint"])
def ckpt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("api") / "m.ckpt", request.param)


def _predict_cli(ckpt: Path, src: Path, out: Path, **kw) -> None:
    cfg = {"ckpt": str(ckpt), "input": str(src), "output": str(out), "flip_test": False,
           "scales": [1.0], "torso_box": None, "box_scale": 3.0, "batch_size": 2,
           "device": "cpu", "overlay": False, "overlay_min_side": 512, "precision": "auto", **kw}  # fmt: skip
    predict_run(OmegaConf.create(cfg))


def test_api_round_trip_against_predict_json(ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    sizes = {"wide.jpg": (300, 180), "small.png": (157, 105), "tall.png": (90, 160)}
    for i, (name, (w, h)) in enumerate(sizes.items()):
        cv2.imwrite(str(src / name), _picture(w, h, i))
    for flip, scales in ((False, [1.0]), (True, [1.0, 0.75])):
        out = tmp_path / f"out_{flip}"
        _predict_cli(ckpt, src, out, flip_test=flip, scales=scales)
        model = posehybrid.load(ckpt, device="cpu", flip=flip, scales=scales, batch_size=3)
        paths = sorted(src.iterdir())
        batch = model.predict_batch(paths)
        for path, joints in zip(paths, batch, strict=True):
            record = json.loads((out / f"{path.stem}.json").read_text())["joints"]
            assert list(joints) == list(record) == list(model.joints)
            single = model.predict(path)  # one image alone: the same numbers as in a batch
            for name, (x, y, c) in joints.items():
                want = record[name]
                assert (x, y, c) == pytest.approx((want["x"], want["y"], want["confidence"]),
                                                  abs=1e-4)  # fmt: skip
                assert single[name] == pytest.approx((x, y, c), abs=1e-4)
                assert 0.0 <= c <= 1.0
            # original pixels: within the letterboxed input mapped back (padding included)
            w, h = sizes[path.name]
            s = min(64 / w, 64 / h)
            xy = np.array([v[:2] for v in joints.values()])
            centre = np.array([(w - 1) / 2, (h - 1) / 2])
            assert (np.abs(xy - centre) <= 32 / s + 1e-6).all()


def test_api_accepts_arrays_like_files(ckpt: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    bgr = _picture(120, 90, 4)
    cv2.imwrite(str(path), bgr)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    model = posehybrid.load(ckpt, device="cpu")
    from_file = model.predict(path)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])
    for image in (rgb, rgb.astype(np.float32) / 255.0, rgba):
        got = model.predict(image)
        for name in from_file:
            assert got[name] == pytest.approx(from_file[name], abs=1e-3)
    assert as_rgb(rgb[..., 0]).shape == (90, 120, 3)  # gray is replicated
    with pytest.raises(ValueError, match="image"):
        as_rgb(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="scales"):
        posehybrid.load(ckpt, scales=[])


def test_confidence_of_the_spatial_softmax() -> None:
    """A log-Gaussian of width sigma (what the cross-entropy trains towards) has ~95% of its
    mass within 2 sigma; a flat map has the window's share; values always in [0, 1]."""
    codec = HeatmapCodec((128, 128), (32, 32), sigma=1.0)
    target, _ = codec.encode(np.array([[40.0, 70.0], [3.0, 3.0]]))  # one centred, one at a corner
    sharp = torch.log(torch.from_numpy(target)[None] + 1e-12)
    conf = peak_mass(sharp, radius=2)
    assert conf.shape == (1, 2)
    assert 0.9 < float(conf[0, 0]) <= 1.0
    flat = peak_mass(torch.zeros(1, 1, 32, 32), radius=2)
    assert float(flat) <= 25 / 1024 + 1e-7  # the window's share (clipped at a border peak)
    wild = peak_mass(torch.randn(3, 14, 32, 32) * 50, radius=2)
    assert ((wild >= 0) & (wild <= 1)).all()
