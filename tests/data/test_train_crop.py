"""Training crops of datasets without a person box (LSP, LSPet): centre and scale from the
annotated joints' box, then the augmentation; the test geometry never reads the keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posehybrid.data.dataset import PoseDataset
from posehybrid.data.geometry import apply_affine, joints_box_affine
from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.records import PoseRecord
from posehybrid.data.skeleton import LSP
from tests.data.formats import write_image

CODEC = HeatmapCodec((128, 128), (32, 32), 1.0)
NO_GEOMETRY = {"scale": 0.0, "rotate": 0.0, "translate": 0.0, "flip": 0.0, "color_jitter": 0.0}
BOX = np.array([[300.0, 100.0], [380.0, 260.0]])  # the joints' box in a 640x480 image


def _record(path: Path, kps: np.ndarray | None = None) -> PoseRecord:
    if kps is None:
        rng = np.random.default_rng(0)
        kps = rng.uniform(BOX[0], BOX[1], (14, 2))
        kps[:2] = BOX  # the box's corners are joints
    ann = np.ones(14, bool)
    ann[5] = False  # an unannotated joint far away must not stretch the box
    kps = kps.copy()
    kps[5] = (5.0, 470.0)
    return PoseRecord(path, kps.astype(np.float32), ann.copy(), ann, None, (640, 480))


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_image(tmp_path / "im00001.jpg", (640, 480))


def test_joints_box_affine_centres_and_scales_the_box() -> None:
    m = joints_box_affine(BOX, np.ones(2, bool), (128, 128), padding=2.0)
    corners = apply_affine(m, BOX)
    # the box's longer side (160 px) fills half of the input, centred
    assert np.isclose(corners[1, 1] - corners[0, 1], 64.0)
    np.testing.assert_allclose(corners.mean(0), [63.5, 63.5])
    assert joints_box_affine(BOX[:1], np.ones(1, bool), (128, 128), 2.0) is None  # one joint


def test_training_sample_keypoints_land_inside_and_map_back_exactly(image: Path) -> None:
    rec = _record(image)
    plain = PoseDataset([rec], LSP, CODEC, train=True, augment=NO_GEOMETRY, train_crop_padding=1.25)
    sample = plain[0]
    kps = sample["keypoints"].numpy()[sample["annotated"].numpy()]
    assert (kps >= 0).all() and (kps <= 127).all()
    # 1.25 x the box: the annotated joints span 1/1.25 of the input's side
    assert np.isclose(np.ptp(kps, axis=0).max(), 128 / 1.25, atol=0.01)

    augmented = PoseDataset([rec], LSP, CODEC, train=True, train_crop_padding=2.4)
    augmented.seed = 7  # per-sample RNGs keyed on (seed, epoch, index)
    for epoch in range(10):
        augmented.set_epoch(epoch)
        s = augmented[0]
        back = apply_affine(s["inv_affine"].numpy().astype(np.float64), s["keypoints"].numpy())
        ann = s["annotated"].numpy()
        np.testing.assert_allclose(back[ann], s["keypoints_orig"].numpy()[ann], atol=2e-3)


def test_test_geometry_does_not_depend_on_the_keypoints(image: Path) -> None:
    rec = _record(image)
    moved = rec.keypoints.copy()
    moved[3] += (150.0, -80.0)
    other = _record(image, moved)
    a = PoseDataset([rec], LSP, CODEC, train=False, train_crop_padding=1.25)[0]
    b = PoseDataset([other], LSP, CODEC, train=False, train_crop_padding=1.25)[0]
    assert np.array_equal(a["image"].numpy(), b["image"].numpy())
    assert np.array_equal(a["inv_affine"].numpy(), b["inv_affine"].numpy())
    # ... while the training crop follows them
    ta = PoseDataset([rec], LSP, CODEC, train=True, augment=NO_GEOMETRY, train_crop_padding=1.25)
    tb = PoseDataset([other], LSP, CODEC, train=True, augment=NO_GEOMETRY, train_crop_padding=1.25)
    assert not np.array_equal(ta[0]["inv_affine"].numpy(), tb[0]["inv_affine"].numpy())
