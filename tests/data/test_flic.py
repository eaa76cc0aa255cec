"""read_flic on fixtures in the exact FLIC format (examples.mat, a 1xN struct array)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io

from posehybrid.data.flic import faces_away, read_flic, to_observer_centric
from posehybrid.data.records import DataError
from posehybrid.data.skeleton import FLIC, LSP
from tests.data.formats import (
    FLIC_ARCHIVE_COLUMNS,
    FLIC_ARCHIVE_PARTS,
    FRONTAL_FLIC,
    flic_example,
    write_flic,
    write_image,
)

ALL_FIELDS = [
    "poselet_hit_idx",
    "moviename",
    "coords",
    "filepath",
    "imgdims",
    "currframe",
    "torsobox",
    "istrain",
    "istest",
]
# Seen from behind: person-centric left arm ends up on the image left (smaller x).
BACK = FRONTAL_FLIC * np.array([-1.0, 1.0]) + (500.0, 240.0)


def _examples() -> list[dict[str, Any]]:
    kps = FRONTAL_FLIC + np.array([150.0, 240.0])
    kps[2] = np.nan  # l_wrist unlabelled
    return [
        # two people in one frame, told apart by their torso boxes
        flic_example(filepath="film-00000010.jpg", currframe=10, center=(150.0, 240.0)),
        flic_example(keypoints=BACK, filepath="film-00000010.jpg", currframe=10),
        flic_example(keypoints=kps, filepath="film-00000020.jpg", currframe=20, istrain=False),
        flic_example(filepath="other-00000005.jpg", moviename="other", istrain=False),
        flic_example(filepath="other-00000006.jpg", istrain=False, istest=False),  # neither
    ]


@pytest.fixture
def flic_root(tmp_path: Path) -> Path:
    return write_flic(tmp_path / "FLIC", _examples())


def test_fixture_is_a_real_struct_array(flic_root: Path) -> None:
    assert scipy.io.whosmat(flic_root / "examples.mat") == [("examples", (1, 5), "struct")]
    ex = scipy.io.loadmat(flic_root / "examples.mat")["examples"]
    assert list(ex.dtype.names) == ALL_FIELDS
    assert ex[0, 0]["coords"].shape == (2, 29) and ex[0, 0]["torsobox"].dtype == np.float32


def test_column_map_is_the_archives() -> None:
    """Our FLIC joints come from the columns the archive documents for them, in our order."""
    assert len(FLIC_ARCHIVE_PARTS) == 29
    assert FLIC_ARCHIVE_COLUMNS == [0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16]


def test_reader_takes_each_joint_from_its_documented_column(tmp_path: Path) -> None:
    """Every one of the 29 columns holds a distinct point; each joint must come back from its
    own column (a knee, ear or mid-point column read by mistake would show)."""
    example = flic_example(filepath="film-00000001.jpg")
    example["coords"] = np.stack([np.arange(29.0) * 10 + 5, np.arange(29.0) * 7 + 3])
    root = write_flic(tmp_path / "FLIC", [example])
    (rec,) = read_flic(root, split="all")
    by_name = {part: k for k, part in enumerate(FLIC_ARCHIVE_PARTS)}
    want = {"l_shoulder": "lsho", "r_hip": "rhip", "l_eye": "leye", "nose": "nose"}
    for joint, part in want.items():
        col = by_name[part]
        np.testing.assert_allclose(rec.keypoints[FLIC.index(joint)], [col * 10 + 5, col * 7 + 3])


def test_records(flic_root: Path) -> None:
    recs = read_flic(flic_root, split="all")
    assert len(recs) == 5
    a, b, c = recs[:3]
    assert a.image_path == b.image_path == flic_root.resolve() / "images" / "film-00000010.jpg"
    assert not np.array_equal(a.torso_box, b.torso_box)
    assert a.torso_box.dtype == np.float32 and a.torso_box.shape == (4,)
    assert a.image_size == (720, 480)
    np.testing.assert_allclose(a.keypoints, FRONTAL_FLIC + np.array([150.0, 240.0]))
    assert a.keypoints.dtype == np.float32 and a.annotated.all() and a.visible.all()
    wrist = FLIC.index("l_wrist")
    assert not c.annotated[wrist] and not c.visible[wrist] and c.annotated.sum() == 10
    assert c.keypoints[wrist].tolist() == [0.0, 0.0]
    assert all(np.isfinite(r.keypoints).all() for r in recs)
    assert c.meta == {
        "dataset": "flic",
        "index": 2,
        "filepath": "film-00000020.jpg",
        "moviename": "movie",
        "currframe": 20,
        "labels": "pc",
        "oc_flipped": False,
    }


def test_split_counts(flic_root: Path) -> None:
    train = read_flic(flic_root, split="train")
    test = read_flic(flic_root, split="test")
    assert [r.meta["index"] for r in train] == [0, 1]
    assert [r.meta["index"] for r in test] == [2, 3]
    with pytest.raises(ValueError, match="val"):
        read_flic(flic_root, split="val")
    with pytest.raises(ValueError, match="xy"):
        read_flic(flic_root, labels="xy")


def test_observer_centric(flic_root: Path) -> None:
    pc = read_flic(flic_root, split="train", labels="pc")
    oc = read_flic(flic_root, split="train", labels="oc")
    np.testing.assert_array_equal(pc[1].keypoints, BACK.astype(np.float32))  # pc: as stored
    perm = FLIC.flip_permutation
    np.testing.assert_array_equal(oc[1].keypoints, pc[1].keypoints[perm])
    ls, rs = FLIC.index("l_shoulder"), FLIC.index("r_shoulder")
    assert oc[1].keypoints[ls, 0] > oc[1].keypoints[rs, 0]
    assert oc[1].meta["oc_flipped"] and oc[1].meta["labels"] == "oc"
    np.testing.assert_array_equal(oc[0].keypoints, pc[0].keypoints)  # frontal: unchanged
    assert not oc[0].meta["oc_flipped"]


def test_to_observer_centric_batched_and_lsp() -> None:
    kps = np.stack([FRONTAL_FLIC, BACK, BACK])
    ann = np.ones((3, 11), bool)
    ann[2, FLIC.index("r_wrist")] = False  # cannot tell: leave it
    out, out_ann, flipped = to_observer_centric(kps, ann, FLIC)
    assert flipped.tolist() == [False, True, False]
    np.testing.assert_array_equal(out[1], BACK[FLIC.flip_permutation])
    np.testing.assert_array_equal(out[2], BACK)
    assert out_ann.shape == (3, 11)
    lsp = np.zeros((14, 2))
    lsp[LSP.indices(("l_shoulder", "l_elbow", "l_wrist")), 0] = 1.0
    lsp[LSP.indices(("r_shoulder", "r_elbow", "r_wrist")), 0] = 2.0
    assert faces_away(lsp, np.ones(14, bool), LSP)


def test_flic_full_fields_and_odd_wrappers(tmp_path: Path) -> None:
    ex = flic_example(filepath="a.jpg", isbad=np.array([[True]]), isunchecked=np.array([[0.0]]))
    ex["filepath"] = np.array([["a.jpg"]], dtype=object)  # a 1x1 cell around the string
    ex["imgdims"] = np.array([[48, 64, 3]], dtype=np.uint16)
    ex["istrain"] = np.array([[1.0]])  # double instead of logical
    write_flic(tmp_path, [ex], write_images=False)
    write_image(tmp_path / "images" / "a.jpg", (64, 48))
    (r,) = read_flic(tmp_path)
    assert r.meta["isbad"] is True and r.meta["isunchecked"] is False
    assert r.meta["filepath"] == "a.jpg" and r.image_size == (64, 48)


def test_optional_fields_may_be_missing(tmp_path: Path) -> None:
    ex = flic_example()
    for name in ("poselet_hit_idx", "moviename", "currframe"):
        del ex[name]
    (r,) = read_flic(write_flic(tmp_path, [ex]))
    assert r.meta["moviename"] is None and r.meta["currframe"] is None


def _raises(root: Path, *fragments: str, **kwargs: Any) -> None:
    with pytest.raises(DataError) as err:
        read_flic(root, **kwargs)
    for fragment in fragments:
        assert fragment in str(err.value), f"{fragment!r} not in {err.value}"


def test_missing_root_file_variable(tmp_path: Path) -> None:
    root = tmp_path / "FLIC"
    _raises(root, str(root), "examples.mat", "FLIC.zip", "FLIC-full.zip")
    root.mkdir()
    _raises(root, str(root / "examples.mat"), "not found")
    scipy.io.savemat(root / "examples.mat", {"ex": np.zeros(3)})
    _raises(root, str(root / "examples.mat"), "'examples'", "['ex']")
    scipy.io.savemat(root / "examples.mat", {"examples": np.zeros((2, 29))})
    _raises(root, "struct array", "(2, 29)")


@pytest.mark.parametrize("field", ["coords", "filepath", "torsobox", "istrain", "imgdims"])
def test_missing_required_field(tmp_path: Path, field: str) -> None:
    ex = flic_example()
    del ex[field]
    write_flic(tmp_path, [ex])
    _raises(tmp_path, str(tmp_path / "examples.mat"), f"['{field}']", "fields found")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("coords", np.zeros((2, 5)), "examples(2).coords has shape (2, 5)"),
        ("torsobox", np.zeros((1, 3), np.float32), "examples(2).torsobox: expected 4 numbers"),
        ("torsobox", np.array([[1, 2, np.nan, 4]], np.float32), "examples(2).torsobox is"),
        ("imgdims", np.array([[0.0, 720.0, 3.0]]), "examples(2).imgdims"),
        ("filepath", "", "examples(2).filepath is empty"),
        (
            "filepath",
            "../../../../elsewhere/x.jpg",
            "examples(2).filepath is '../../../../elsewhere",
        ),
        ("filepath", "/etc/x.jpg", "leaves the dataset folder"),
        ("filepath", "sub/../../x.jpg", "leaves the dataset folder"),
        ("coords", np.array([["text"]], dtype=object), "examples(2).coords: expected numbers"),
        ("istrain", np.zeros((0, 0)), "examples(2).istrain: expected a 0/1 flag"),
    ],
)
def test_malformed_field(tmp_path: Path, field: str, value: Any, fragment: str) -> None:
    bad = flic_example(filepath="b.jpg")
    bad[field] = value
    write_flic(tmp_path, [flic_example(), bad], write_images=False)
    write_image(tmp_path / "images" / "movie-00000001.jpg", (8, 8))
    _raises(tmp_path, str(tmp_path / "examples.mat"), fragment)


def test_infinite_coordinate(tmp_path: Path) -> None:
    kps = FRONTAL_FLIC.copy()
    kps[FLIC.index("nose"), 1] = np.inf
    write_flic(tmp_path, [flic_example(keypoints=kps)])
    _raises(tmp_path, "examples(1).coords", "nose (column 16)", "infinite")


def test_missing_and_empty_images(tmp_path: Path) -> None:
    write_flic(tmp_path, _examples(), write_images=False)
    _raises(tmp_path, str(tmp_path / "images"), "is empty", split="all")
    write_flic(tmp_path, _examples())
    (tmp_path / "images" / "film-00000020.jpg").unlink()
    assert len(read_flic(tmp_path, split="train")) == 2  # only the split's images are needed
    _raises(tmp_path, "1 of 2 images are missing", "film-00000020.jpg", split="test")
