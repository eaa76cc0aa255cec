"""The scoring CLI on tiny hand-built LSP and FLIC folders whose scores are worked out by hand.

LSP figure (facing the camera): torso ‖L-shoulder − R-hip‖ = ‖(120,30) − (80,60)‖ = 50, so
PCK@0.2 allows 10 px. Test examples (the last 4 of 8):
  0 perfect; 1 l_wrist off by (6,8) = 10 (boundary: correct), r_wrist off by 11 (wrong);
  2 every joint off by 10.5 (all wrong; PCP: only the head stick, limit 10, fails);
  3 seen from behind (mirrored x, person-centric labels), predicted as labelled: correct under
    PC; under OC its ground truth swaps left/right, so the 12 L/R joints are wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from omegaconf import OmegaConf

from posehybrid.data.skeleton import FLIC, LSP
from posehybrid.score import run
from tests.data.formats import FLIC_ARCHIVE_COLUMNS

REPO = Path(__file__).resolve().parents[1]

LSP_POSE = {
    "head_top": (100, 0), "neck": (100, 20), "l_shoulder": (120, 30), "r_shoulder": (80, 30),
    "l_elbow": (150, 30), "r_elbow": (50, 30), "l_wrist": (180, 30), "r_wrist": (20, 30),
    "l_hip": (120, 60), "r_hip": (80, 60), "l_knee": (120, 100), "r_knee": (80, 100),
    "l_ankle": (120, 140), "r_ankle": (80, 140),
}  # fmt: skip
FLIC_POSE = {
    "l_shoulder": (420, 200), "r_shoulder": (380, 200), "l_hip": (420, 230), "r_hip": (380, 230),
    "l_elbow": (450, 200), "r_elbow": (350, 200), "l_wrist": (480, 200), "r_wrist": (320, 200),
    "l_eye": (410, 150), "r_eye": (390, 150), "nose": (400, 160),
}  # fmt: skip


def _pose(joint_set, pose, mirror_at: float | None = None) -> np.ndarray:
    kps = np.array([pose[n] for n in joint_set.joints], dtype=np.float64)
    if mirror_at is not None:
        kps[:, 0] = mirror_at - kps[:, 0]  # back view: same labels, mirrored positions
    return kps


def _offset(kps: np.ndarray, joint_set, moves: dict[str, tuple[float, float]]) -> np.ndarray:
    kps = kps.copy()
    for name, delta in moves.items():
        kps[joint_set.index(name)] += delta
    return kps


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))


@pytest.fixture
def lsp(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """An LSP folder (8 images, test = last 4) and the (4, 14, 2) test predictions."""
    front = _pose(LSP, LSP_POSE)
    back = _pose(LSP, LSP_POSE, mirror_at=200)
    gts = [front] * 4 + [front, front, front, back]
    preds = [
        front,
        _offset(front, LSP, {"l_wrist": (6, 8), "r_wrist": (11, 0)}),
        front + np.array([0.0, 10.5]),
        back,
    ]
    joints = np.zeros((3, 14, 8))
    joints[:2] = np.stack(gts).transpose(2, 1, 0)
    joints[2, 5, :] = 1  # occlusion flags are not used by the protocol
    root = tmp_path / "lsp"
    root.mkdir()
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    for k in range(1, 9):
        _image(root / "images" / f"im{k:04d}.jpg")
    return root, np.stack(preds)


def _mat(path: Path, pred: np.ndarray, name: str = "pred") -> Path:
    scipy.io.savemat(path, {name: pred.transpose(2, 1, 0)})  # (N, J, 2) -> (2, J, N)
    return path


def _score(**cfg) -> dict:
    return run(OmegaConf.create({"split": "test", "plot": None, **cfg}))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "posehybrid.score", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=None, timeout=120)


LSP_PC = {
    "head": 75.0, "shoulder": 75.0, "elbow": 75.0, "wrist": 62.5, "hip": 75.0, "knee": 75.0,
    "ankle": 75.0, "total": 73.2,  # 41 / 56
}  # fmt: skip
LSP_PC_PCP = {
    "torso": 100.0, "upper_leg": 100.0, "lower_leg": 100.0, "upper_arm": 100.0,
    "forearm": 100.0, "head": 75.0, "total": 97.5,  # 39 / 40
}  # fmt: skip


def test_cli_lsp_pc_prints_one_json_object(lsp, tmp_path):
    root, pred = lsp
    proc = _cli(
        f"pred={_mat(tmp_path / 'p.mat', pred)}", "protocol=lsp_pc", f"root={root}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # the whole of stdout is one JSON object
    assert out["protocol"] == "lsp_pc" and out["n"] == 4
    assert out["pck@0.2"] == LSP_PC
    assert out["pcp"] == LSP_PC_PCP
    assert out["conventions"]["compare"] == "<=" and out["conventions"]["labels"] == "pc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lsp", "p.mat"]  # no Hydra outputs


def test_lsp_oc_relabels_the_back_view(lsp, tmp_path):
    root, pred = lsp
    out = _score(pred=str(_mat(tmp_path / "p.mat", pred)), protocol="lsp_oc", root=str(root))
    assert out["relabelled_oc"] == 1
    assert out["pck@0.2"] == {
        "head": 75.0, "shoulder": 50.0, "elbow": 50.0, "wrist": 37.5, "hip": 50.0, "knee": 50.0,
        "ankle": 50.0, "total": 51.8,  # (14 + 13 + 0 + 2) / 56
    }  # fmt: skip
    assert out["pcp"] == {
        "torso": 100.0, "upper_leg": 75.0, "lower_leg": 75.0, "upper_arm": 75.0,
        "forearm": 75.0, "head": 75.0, "total": 77.5,  # (10 + 10 + 9 + 2) / 40; limbs 6 / 8
    }  # fmt: skip


def test_json_formats_match_the_mat_result(lsp, tmp_path):
    root, pred = lsp
    names = [f"im{k:04d}.jpg" for k in range(5, 9)]
    entries = [
        {"image": f"images/{n}", "keypoints": p.tolist()} for n, p in zip(names, pred, strict=True)
    ]
    extra = {"image": "im0001.jpg", "keypoints": pred[0].tolist()}  # a train image: ignored
    entries = [*entries[::-1], extra]
    (tmp_path / "p.json").write_text(json.dumps({"predictions": entries}))
    folder = tmp_path / "per_image"
    folder.mkdir()
    for n, p in zip(names, pred, strict=True):
        joints = {
            j: {"x": x, "y": y, "score": 1.0} for j, (x, y) in zip(LSP.joints, p, strict=True)
        }
        (folder / f"{n}.json").write_text(json.dumps({"image": n, "joints": joints}))
    three = np.concatenate([pred, np.ones((4, 14, 1))], axis=-1)  # (3, J, N): third row dropped
    for path in (tmp_path / "p.json", folder, _mat(tmp_path / "p3.mat", three)):
        out = _score(pred=str(path), protocol="lsp_pc", root=str(root))
        assert out["pck@0.2"] == LSP_PC and out["pcp"] == LSP_PC_PCP, path


def test_plot_is_written(lsp, tmp_path):
    root, pred = lsp
    plot = tmp_path / "curve.png"
    _score(
        pred=str(_mat(tmp_path / "p.mat", pred)), protocol="lsp_pc", root=str(root), plot=str(plot)
    )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))


@pytest.fixture
def flic(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A FLIC folder: 1 train + 3 test examples (two test people share one frame)."""
    front = _pose(FLIC, FLIC_POSE)
    back = _pose(FLIC, FLIC_POSE, mirror_at=800)
    rows = [("train.jpg", front, 1), ("a.jpg", front, 0), ("b.jpg", front, 0), ("b.jpg", back, 0)]
    fields = ("coords", "filepath", "imgdims", "torsobox", "istrain", "istest", "moviename")
    examples = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for k, (name, kps, train) in enumerate(rows):
        coords = np.full((2, 29), np.nan)
        coords[:, FLIC_ARCHIVE_COLUMNS] = kps.T
        box = np.array([[350, 180, 450, 260]], np.float32)
        dims = np.array([[480.0, 720.0, 3.0]])
        examples[0, k] = (
            coords,
            name,
            dims,
            box,
            np.array([[train]]),
            np.array([[1 - train]]),
            "m",
        )
        _image(tmp_path / "flic" / "images" / name)
    scipy.io.savemat(tmp_path / "flic" / "examples.mat", {"examples": examples})
    preds = [front, _offset(front, FLIC, {"l_wrist": (6, 8), "r_elbow": (0, 11)}), back]
    return tmp_path / "flic", np.stack(preds)


def test_flic_pc_and_oc(flic, tmp_path):
    root, pred = flic
    entries = [
        {"image": n, "keypoints": p.tolist()}
        for n, p in zip(["a.jpg", "b.jpg", "b.jpg"], pred, strict=True)
    ]  # two people in b.jpg: matched in file order
    (tmp_path / "p.json").write_text(json.dumps({"predictions": entries}))
    pc = _score(pred=str(tmp_path / "p.json"), protocol="flic_pc", root=str(root))
    assert pc["n"] == 3 and "pcp" not in pc
    assert pc["pck@0.2"] == {"elbow": 83.3, "wrist": 100.0, "total": 91.7}  # 11 / 12
    curve = pc["curve"]
    assert len(curve["thresholds"]) == 21 and curve["thresholds"][-1] == 0.2
    assert curve["elbow"][-1] == 83.3 and curve["wrist"][-1] == 100.0
    assert curve["wrist"][-2] == 83.3  # at α = 0.19 the boundary wrist (10 px > 9.5) is wrong
    oc = _score(pred=str(tmp_path / "p.json"), protocol="flic_oc", root=str(root))
    assert oc["relabelled_oc"] == 1
    assert oc["pck@0.2"] == {"elbow": 50.0, "wrist": 66.7, "total": 58.3}  # 7 / 12


def test_bad_inputs_exit_2_with_one_line(lsp, tmp_path):
    root, pred = lsp
    wrong_shape = tmp_path / "wrong.mat"
    scipy.io.savemat(wrong_shape, {"pred": pred})  # N x J x 2: not accepted silently
    no_var = _mat(tmp_path / "novar.mat", pred, name="predictions")
    cases = {
        f"pred={tmp_path / 'missing.mat'}": ["missing.mat", "not found"],
        f"pred={no_var}": ["novar.mat", "'pred'"],
        f"pred={wrong_shape}": ["wrong.mat", "(2, 14, 4)", "(4, 14, 2)"],
    }
    for arg, expected in cases.items():
        proc = _cli(arg, f"root={root}", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        for text in expected:
            assert text in proc.stderr


def test_json_missing_image_is_an_error(lsp, tmp_path):
    root, pred = lsp
    entries = [{"image": f"im{k:04d}.jpg", "keypoints": pred[0].tolist()} for k in (5, 6, 7)]
    (tmp_path / "p.json").write_text(json.dumps({"predictions": entries}))
    with pytest.raises(ValueError, match=r"p\.json.*im0008\.jpg"):
        _score(pred=str(tmp_path / "p.json"), protocol="lsp_pc", root=str(root))
    with pytest.raises(ValueError, match="unknown protocol"):
        _score(pred=str(tmp_path / "p.json"), protocol="lsp", root=str(root))
