"""read_lsp / lsp_split on fixtures in the exact LSP format (joints.mat (3,14,N), flag 1 = occluded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from posehybrid.data.lsp import lsp_split, read_lsp
from posehybrid.data.records import DataError
from tests.data.formats import lsp_joints, write_lsp


def test_flag_inversion_and_values(tmp_path: Path) -> None:
    joints = lsp_joints(4, seed=1)
    joints[2] = 0
    joints[2, 5, 1] = 1  # example 2, joint 5 (l_ankle) occluded
    joints[0, 3, 0] = -250.0  # far outside the image: kept as is (documented)
    recs = read_lsp(write_lsp(tmp_path, joints))
    assert len(recs) == 4
    r = recs[1]
    assert r.keypoints.dtype == np.float32 and r.keypoints.shape == (14, 2)
    np.testing.assert_allclose(r.keypoints, joints[:2, :, 1].T, rtol=1e-6)
    assert r.visible.dtype == bool and not r.visible[5] and r.visible.sum() == 13
    assert r.annotated.all() and r.torso_box is None and r.image_size is None
    assert recs[0].keypoints[3, 0] == -250.0 and recs[0].visible.all()
    assert [q.image_path.name for q in recs] == [f"im{k:04d}.jpg" for k in range(1, 5)]
    assert recs[0].image_path.is_absolute() and recs[0].image_path.is_file()
    assert recs[3].meta == {"dataset": "lsp", "id": 4}


def test_single_example_matlab_drops_trailing_dim(tmp_path: Path) -> None:
    write_lsp(tmp_path, lsp_joints(1))
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": lsp_joints(1)[:, :, 0]})  # (3, 14)
    assert len(read_lsp(tmp_path)) == 1


def test_split_halves(tmp_path: Path) -> None:
    recs = read_lsp(write_lsp(tmp_path, lsp_joints(6)))
    assert [r.meta["id"] for r in lsp_split(recs, "train")] == [1, 2, 3]
    assert [r.meta["id"] for r in lsp_split(recs, "test")] == [4, 5, 6]
    assert len(lsp_split(recs, "all")) == 6
    full = list(range(2000))
    assert lsp_split(full, "train") == list(range(1000))  # the standard 1000 / 1000
    assert lsp_split(full, "test")[0] == 1000
    with pytest.raises(ValueError, match="val"):
        lsp_split(recs, "val")


def test_check_images_off(tmp_path: Path) -> None:
    write_lsp(tmp_path, lsp_joints(3), write_images=False)
    recs = read_lsp(tmp_path, check_images=False)
    assert recs[2].image_path == tmp_path.resolve() / "images" / "im0003.jpg"


def _raises(root: Path, *fragments: str) -> str:
    with pytest.raises(DataError) as err:
        read_lsp(root)
    msg = str(err.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    return msg


def test_missing_root(tmp_path: Path) -> None:
    root = tmp_path / "lsp_dataset"
    _raises(root, str(root), "joints.mat", "images/im0001.jpg", "lsp_dataset.zip")


def test_missing_joints_mat(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    _raises(tmp_path, str(tmp_path / "joints.mat"), "lsp_dataset.zip")


def test_missing_variable(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "joints.mat", {"poses": lsp_joints(2)})
    _raises(tmp_path, str(tmp_path / "joints.mat"), "'joints'", "poses", "(3,14,N)")


def test_corrupt_mat(tmp_path: Path) -> None:
    (tmp_path / "joints.mat").write_bytes(b"\x00garbage" * 20)
    _raises(tmp_path, str(tmp_path / "joints.mat"), "cannot read")


def test_wrong_shape_hints_lspet(tmp_path: Path) -> None:
    write_lsp(tmp_path, lsp_joints(5).transpose(1, 0, 2), write_images=False)  # (14, 3, 5)
    _raises(
        tmp_path,
        str(tmp_path / "joints.mat"),
        "(3,14,N)",
        "(14, 3, 5)",
        "looks like LSPet data, read it with read_lspet",
    )
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": np.zeros((3, 13, 5))})
    _raises(tmp_path, "(3, 13, 5)", "(3,14,N)")


def test_non_numeric(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": "not numbers"})
    _raises(tmp_path, str(tmp_path / "joints.mat"), "non-numeric")


def test_nan_coordinates(tmp_path: Path) -> None:
    joints = lsp_joints(3)
    joints[1, 7, 1] = np.nan
    write_lsp(tmp_path, joints)
    _raises(tmp_path, str(tmp_path / "joints.mat"), "joint 7 (r_elbow)", "example 2", "non-finite")
    joints[1, 7, 1] = np.inf
    write_lsp(tmp_path, joints, write_images=False)
    _raises(tmp_path, "joint 7 (r_elbow)")


def test_bad_flag(tmp_path: Path) -> None:
    joints = lsp_joints(2)
    joints[2, 0, 1] = 2
    write_lsp(tmp_path, joints)
    _raises(tmp_path, "flag of joint 0", "example 2", "1 = occluded")


def test_empty_and_missing_images(tmp_path: Path) -> None:
    write_lsp(tmp_path, lsp_joints(4), write_images=False)
    _raises(tmp_path, str(tmp_path / "images"), "is empty", "im0001.jpg")
    write_lsp(tmp_path, lsp_joints(4))
    (tmp_path / "images" / "im0003.jpg").unlink()
    _raises(tmp_path, "1 of 4 images are missing", str(tmp_path / "images" / "im0003.jpg"))
