"""read_lspet: (14,3,N) axis order, flag 1 = visible / 0 = not annotated, placeholders -> 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posehybrid.data.lsp import read_lspet
from posehybrid.data.records import DataError
from tests.data.formats import lsp_joints, write_lsp, write_lspet


def _lspet_joints(n: int) -> np.ndarray:
    joints = lsp_joints(n, seed=3).transpose(1, 0, 2).copy()  # (14, 3, n)
    joints[:, 2] = 1  # all visible
    return joints


def test_axis_order_and_flags(tmp_path: Path) -> None:
    joints = _lspet_joints(3)
    recs = read_lspet(write_lspet(tmp_path, joints))
    assert len(recs) == 3
    for i, r in enumerate(recs):
        np.testing.assert_allclose(r.keypoints, joints[:, :2, i], rtol=1e-6)
        assert r.annotated.all() and r.visible.all()
    assert [r.image_path.name for r in recs] == ["im00001.jpg", "im00002.jpg", "im00003.jpg"]
    assert recs[2].meta == {"dataset": "lspet", "id": 3}


def test_placeholders_not_annotated_no_nan(tmp_path: Path) -> None:
    joints = _lspet_joints(2)
    joints[0, :, 0] = (0, -1, 0)  # placeholder, flag 0
    joints[1, :, 0] = (-3, 0, 0)  # placeholder, flag 0
    joints[2, :, 0] = (0, 0, 0)  # placeholder, flag 0
    joints[3, :, 0] = (np.nan, np.nan, 0)  # junk at an unannotated joint is ignored
    joints[4, :, 0] = (12.0, 9.0, 0)  # flag 0 = not annotated, whatever the coordinates
    joints[5, :, 1] = (0, -1, 1)  # contradictory: placeholder with flag 1 -> not annotated
    joints[6, :, 1] = (0, 5, 1)  # x = 0 with y > 0 is a real point on the left edge
    recs = read_lspet(write_lspet(tmp_path, joints))
    a, b = recs
    assert not a.annotated[:5].any() and a.annotated[5:].all()
    assert (a.visible == a.annotated).all()
    assert (a.keypoints[:5] == 0).all() and np.isfinite(a.keypoints).all()
    assert not b.annotated[5] and b.annotated[6] and (b.keypoints[6] == (0, 5)).all()
    assert b.keypoints[5].tolist() == [0.0, 0.0]


def _raises(root: Path, *fragments: str) -> None:
    with pytest.raises(DataError) as err:
        read_lspet(root)
    for fragment in fragments:
        assert fragment in str(err.value), f"{fragment!r} not in {err.value}"


def test_nan_at_annotated_joint(tmp_path: Path) -> None:
    joints = _lspet_joints(2)
    joints[9, 1, 1] = np.nan
    write_lspet(tmp_path, joints)
    _raises(tmp_path, str(tmp_path / "joints.mat"), "joint 9 (l_shoulder)", "example 2")


def test_lsp_layout_is_rejected_with_hint(tmp_path: Path) -> None:
    write_lsp(tmp_path, lsp_joints(5), write_images=False)
    _raises(tmp_path, "(14,3,N)", "(3, 14, 5)", "looks like LSP data")


def test_bad_flag(tmp_path: Path) -> None:
    joints = _lspet_joints(2)
    joints[1, 2, 0] = 0.5
    write_lspet(tmp_path, joints)
    _raises(tmp_path, "flag of joint 1", "1 = visible, 0 = not annotated")


def test_missing_root_and_images(tmp_path: Path) -> None:
    root = tmp_path / "lspet_dataset"
    _raises(root, str(root), "joints.mat", "images/im00001.jpg", "lspet_dataset.zip")
    write_lspet(root, _lspet_joints(3))
    (root / "images" / "im00002.jpg").unlink()
    _raises(root, "1 of 3 images are missing", "im00002.jpg", "im00003.jpg")
