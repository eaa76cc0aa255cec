"""The synthetic datasets: real on-disk formats, determinism, caching, label conventions.

Read back with scipy/cv2 directly, not through the dataset readers, so these tests pin the
*file format* independently of the loaders.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from posehybrid.data.render.difficulty import Difficulty
from posehybrid.data.render.figure import sample_figure
from posehybrid.data.render.scene import render_lsp_image
from posehybrid.data.skeleton import LSP
from posehybrid.data.sources import SyntheticSource
from posehybrid.data.synthetic import (
    FLIC_FIELDS,
    ensure_synthetic,
    ensure_synthetic_flic,
    lsp_views,
)
from tests.data.formats import FLIC_ARCHIVE_COLUMNS

N = 16


@pytest.fixture(scope="module")
def lsp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_synthetic(tmp_path_factory.mktemp("lsp"), n_images=N, seed=0)


@pytest.fixture(scope="module")
def flic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_synthetic_flic(tmp_path_factory.mktemp("flic"), n_frames=8, seed=0)


def _joints(folder: Path) -> np.ndarray:
    return scipy.io.loadmat(folder / "joints.mat")["joints"]


def _image_bytes(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((folder / "images").iterdir())]


def test_lsp_layout_and_joints(lsp_dir: Path) -> None:
    assert (lsp_dir / "COMPLETE").is_file()
    params = json.loads((lsp_dir / "params.json").read_text())
    assert params["n_images"] == N and params["image_size"] == 128
    joints = _joints(lsp_dir)
    assert joints.shape == (3, 14, N) and joints.dtype == np.float64
    flags = joints[2]
    assert set(np.unique(flags)) <= {0.0, 1.0}
    assert flags.sum() > 0, "some joints should be occluded (LSP flag 1)"
    assert flags.mean() < 0.4, "most joints should be visible"
    xy = joints[:2]
    assert np.isfinite(xy).all()
    inside = ((xy >= 0) & (xy < 128)).all(axis=0)
    assert inside.mean() > 0.9


def test_lsp_images(lsp_dir: Path) -> None:
    names = sorted(p.name for p in (lsp_dir / "images").iterdir())
    assert names == [f"im{i:04d}.jpg" for i in range(1, N + 1)]
    for name in names[:4]:
        path = lsp_dir / "images" / name
        assert path.read_bytes()[:2] == b"\xff\xd8"  # JPEG SOI marker
        img = cv2.imread(str(path))
        assert img is not None and img.shape == (128, 128, 3)
        assert img.std() > 10  # not blank


def test_lsp_deterministic(lsp_dir: Path, tmp_path: Path) -> None:
    again = ensure_synthetic(tmp_path / "a", n_images=N, seed=0)
    assert again.name == lsp_dir.name
    np.testing.assert_array_equal(_joints(again), _joints(lsp_dir))
    assert _image_bytes(again) == _image_bytes(lsp_dir)

    other = ensure_synthetic(tmp_path / "b", n_images=N, seed=1)
    assert other.name != lsp_dir.name
    assert not np.array_equal(_joints(other), _joints(lsp_dir))


def test_lsp_scene_independent_of_dataset_size(lsp_dir: Path, tmp_path: Path) -> None:
    """Scene i has its own child seed: a smaller dataset is a prefix of a larger one."""
    small = ensure_synthetic(tmp_path, n_images=4, seed=0)
    np.testing.assert_array_equal(_joints(small), _joints(lsp_dir)[:, :, :4])
    assert _image_bytes(small) == _image_bytes(lsp_dir)[:4]


def test_lsp_cache_reused_and_invalidated(tmp_path: Path) -> None:
    first = ensure_synthetic(tmp_path, n_images=4, seed=0)
    stamp = (
        (first / "joints.mat").stat().st_mtime_ns,
        (first / "images/im0001.jpg").stat().st_mtime_ns,
    )
    again = ensure_synthetic(tmp_path, n_images=4, seed=0)
    assert again == first
    assert (
        (again / "joints.mat").stat().st_mtime_ns,
        (again / "images/im0001.jpg").stat().st_mtime_ns,
    ) == stamp

    harder = ensure_synthetic(tmp_path, n_images=4, seed=0, occlusion_prob=1.0)
    assert harder != first and (harder / "COMPLETE").is_file()
    bigger = ensure_synthetic(tmp_path, n_images=4, seed=0, image_size=96)
    assert bigger not in (first, harder)
    assert cv2.imread(str(bigger / "images/im0001.jpg")).shape == (96, 96, 3)
    # No temporary build folders are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (first, harder, bigger)
    )


def test_incomplete_folder_is_rebuilt(tmp_path: Path) -> None:
    folder = ensure_synthetic(tmp_path, n_images=2, seed=0)
    (folder / "COMPLETE").unlink()
    (folder / "joints.mat").unlink()
    rebuilt = ensure_synthetic(tmp_path, n_images=2, seed=0)
    assert rebuilt == folder
    assert (folder / "COMPLETE").is_file() and _joints(folder).shape == (3, 14, 2)


def test_hydra_style_lists_hash_like_tuples(tmp_path: Path) -> None:
    a = ensure_synthetic(tmp_path, n_images=2, seed=0, distractors=(1, 2))
    b = ensure_synthetic(tmp_path, n_images=2, seed=0, distractors=[1, 2])
    assert a == b


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        ensure_synthetic(tmp_path, n_images=2, not_a_knob=1)
    with pytest.raises(ValueError, match="9999"):
        ensure_synthetic(tmp_path, n_images=10_000)
    with pytest.raises(ValueError, match="probability"):
        Difficulty(occlusion_prob=1.5)


def test_left_right_are_person_centric() -> None:
    """Facing the viewer, the person's left is on the image right; facing away, the reverse."""
    rng = np.random.default_rng(0)
    ls, rs = LSP.index("l_shoulder"), LSP.index("r_shoulder")
    lh, rh = LSP.index("l_hip"), LSP.index("r_hip")
    for away, sign in ((0.0, 1.0), (1.0, -1.0)):
        diff = Difficulty(face_away_prob=away, profile_prob=0.0, lean_deg=0.0)
        for _ in range(20):
            j = sample_figure(rng, diff, scale=100.0, rotation_deg=0.0).joints
            assert sign * (j[ls, 0] - j[rs, 0]) > 0
            assert sign * (j[lh, 0] - j[rh, 0]) > 0
            assert j[LSP.index("head_top"), 1] < j[LSP.index("neck"), 1]  # image y points down


def test_occluded_joints_are_flagged() -> None:
    """Heavy occlusion settings flag many more joints than none at all."""
    hard = Difficulty(occlusion_prob=1.0, max_occluders=4, occluder_size=(0.3, 0.4))
    easy = Difficulty(
        occlusion_prob=0.0, distractor_front_prob=0.0, behind_torso_prob=0.0, profile_prob=0.0
    )
    vis = {}
    for name, diff in (("hard", hard), ("easy", easy)):
        rng = np.random.default_rng(3)
        vis[name] = np.mean([render_lsp_image(rng, 128, diff)[2].mean() for _ in range(20)])
    assert vis["hard"] < vis["easy"] - 0.1


def test_flic_format(flic_dir: Path) -> None:
    mat = scipy.io.loadmat(flic_dir / "examples.mat")
    ex = mat["examples"]
    assert ex.shape[0] == 1 and ex.shape[1] >= 8
    assert set(FLIC_FIELDS) <= set(ex.dtype.names)
    labelled = np.zeros(29, bool)
    labelled[FLIC_ARCHIVE_COLUMNS] = True
    frames: dict[str, int] = {}
    train = test = 0
    for e in ex[0]:
        coords = np.asarray(e["coords"], float)
        assert coords.shape == (2, 29)
        assert np.isnan(coords[:, ~labelled]).all()
        assert np.isfinite(coords[:, labelled]).all()
        box = np.asarray(e["torsobox"])
        assert box.shape == (1, 4) and box.dtype == np.float32
        assert box[0, 0] < box[0, 2] and box[0, 1] < box[0, 3]
        assert np.asarray(e["imgdims"]).ravel().tolist() == [480, 720, 3]
        is_train, is_test = (
            bool(np.asarray(e["istrain"]).item()),
            bool(np.asarray(e["istest"]).item()),
        )
        assert is_train != is_test, "istrain and istest must be disjoint and cover everything"
        train, test = train + is_train, test + is_test
        path = str(np.asarray(e["filepath"]).item())
        frames[path] = frames.get(path, 0) + 1
        assert str(np.asarray(e["moviename"]).item()) in path
    assert train > 0 and test > 0
    assert max(frames.values()) >= 2, "some frame should hold several people"
    for path in list(frames)[:2]:
        img = cv2.imread(str(flic_dir / "images" / path))
        assert img is not None and img.shape == (480, 720, 3)


def test_flic_person_centric_and_boxes(flic_dir: Path) -> None:
    """Most FLIC people face the camera: their left arm is on the image right."""
    ex = scipy.io.loadmat(flic_dir / "examples.mat")["examples"][0]
    facing = []
    for e in ex:
        c = np.asarray(e["coords"], float)
        facing.append(c[0, 0] > c[0, 3])  # lsho x > rsho x
        box = np.asarray(e["torsobox"])[0]
        for col in (0, 3, 6, 9):  # shoulders and hips lie in the torso box
            assert box[0] <= c[0, col] <= box[2] and box[1] <= c[1, col] <= box[3]
    assert np.mean(facing) > 0.6


def test_flic_deterministic(flic_dir: Path, tmp_path: Path) -> None:
    again = ensure_synthetic_flic(tmp_path, n_frames=8, seed=0)
    assert again.name == flic_dir.name
    assert _image_bytes(again) == _image_bytes(flic_dir)
    a = scipy.io.loadmat(again / "examples.mat")["examples"][0]
    b = scipy.io.loadmat(flic_dir / "examples.mat")["examples"][0]
    np.testing.assert_array_equal(
        np.stack([e["coords"] for e in a]), np.stack([e["coords"] for e in b])
    )


def test_lsp_views_replay_each_scene_to_its_figure(lsp_dir: Path) -> None:
    """``lsp_views`` replays a scene's generator up to its figure: the replayed figure's joints
    are the dataset's annotation (so its view is that image's), and the synthetic source puts
    the view into each record's meta."""
    from posehybrid.data.render.scene import place_lsp_figure
    from posehybrid.data.synthetic import _child_rng

    joints = _joints(lsp_dir)[:2].transpose(2, 1, 0)  # (N, 14, 2)
    for i in range(N):
        fig = place_lsp_figure(_child_rng(0, i), 128, Difficulty())
        np.testing.assert_allclose(fig.joints, joints[i], atol=1e-9)
    views = lsp_views(N, seed=0)
    assert len(views) == N and set(views) <= {"front", "back", "profile"}
    assert lsp_views(2 * N, seed=0)[:N] == views  # a scene does not depend on the set's size
    # over many scenes, each view near its Difficulty probability (0.2 back, 0.12 profile)
    many = lsp_views(1000, seed=0)
    assert 0.15 < many.count("back") / 1000 < 0.25 and 0.08 < many.count("profile") / 1000 < 0.16
    source = SyntheticSource(n_images=N, seed=0)
    root = lsp_dir.parent
    for split in ("train", "test"):
        for rec in source.load(root, split):
            assert rec.meta["view"] == views[rec.meta["id"] - 1]
