"""Bad data through the train CLI, and a keypoint far outside its image.

The reader- and image-level cases of the bad-input matrix are tested next to the readers:

=====================================  ===========================================================
case                                   test
=====================================  ===========================================================
missing root                           tests/data/test_lsp.py::test_missing_root,
                                       tests/data/test_lspet.py::test_missing_root_and_images,
                                       tests/data/test_flic.py::test_missing_root_file_variable,
                                       tests/data/test_data_cli.py::test_cli_bad_root_exits_2_with_one_line
empty images folder                    tests/data/test_lsp.py::test_empty_and_missing_images,
                                       tests/data/test_flic.py::test_missing_and_empty_images
joints.mat wrong shape / dtype         tests/data/test_lsp.py::test_wrong_shape_hints_lspet, ::test_non_numeric,
                                       tests/data/test_lspet.py::test_lsp_layout_is_rejected_with_hint
joints.mat NaN / inf coordinates       tests/data/test_lsp.py::test_nan_coordinates (both),
                                       tests/data/test_lspet.py::test_nan_at_annotated_joint,
                                       tests/data/test_flic.py::test_infinite_coordinate
examples.mat missing / bad field       tests/data/test_flic.py::test_missing_required_field, ::test_malformed_field
zero-byte / truncated image            tests/data/test_images.py::test_zero_byte, ::test_truncated_jpeg,
                                       ::test_truncated_png_and_garbage
16-bit / grayscale / RGBA image        tests/data/test_images.py::test_16bit_scaled_to_8bit, ::test_grayscale,
                                       ::test_rgba_drops_alpha; predict: tests/test_predict.py::
                                       test_predict_folder_mixed_formats
very large image                       tests/data/test_images.py::test_max_pixels,
                                       tests/data/test_transforms.py::test_large_image_prescale_keeps_alignment
training dataset names the bad file    tests/data/test_datamodule.py::test_bad_image_names_the_file; CLI: below
keypoint far outside the image         codec: tests/data/test_heatmaps.py::test_missing_and_outside_joints_get_zero_maps;
                                       dataset: below
=====================================  ===========================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from posehybrid.data.datamodule import LSPSource, PoseDataModule
from posehybrid.data.heatmaps import HeatmapCodec
from tests.data.formats import lsp_joints, write_lsp
from tests.reliability.conftest import TINY, paths, run_train_inprocess


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("train:")]


def test_train_cli_missing_root(tmp_path: Path, reliability_home: Path, monkeypatch, capsys):
    root = tmp_path / "no_such_lsp"
    args = [*TINY, *paths(reliability_home), "data=lsp", f"data.root={root}"]
    args = [a for a in args if not a.startswith("data.n_images")]
    code, err = run_train_inprocess(args, monkeypatch, capsys)
    lines = _lines(err)
    assert code == 2 and len(lines) == 1, err
    assert str(root) in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("workers", [0, 1])
def test_train_cli_names_a_corrupt_training_image(
    workers: int, tmp_path: Path, reliability_home: Path, monkeypatch, capsys
) -> None:
    """Also from inside a DataLoader worker process, where torch wraps the error."""
    root = write_lsp(tmp_path / "lsp", lsp_joints(8, (64, 64)), image_size=(64, 64))
    for k in range(1, 5):  # the whole training half
        (root / "images" / f"im{k:04d}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    args = [a for a in TINY if not a.startswith(("data.n_images", "data.num_workers"))]
    args += [*paths(reliability_home), "data=lsp", f"data.root={root}", "data.batch_size=2",
             f"data.num_workers={workers}", "data.cache_images=false"]  # fmt: skip
    code, err = run_train_inprocess(args, monkeypatch, capsys)
    lines = _lines(err)
    assert code == 2 and len(lines) == 1, err
    assert str(root / "images" / "im000") in lines[0] and ".jpg" in lines[0], lines[0]
    assert "Traceback" not in err and "worker process" not in lines[0]


def test_keypoint_far_outside_the_image(tmp_path: Path) -> None:
    """Documented behaviour (data/lsp.py): kept as given; the joint gets no training target
    (weight 0, an all-zero map), samples and priors stay finite, and evaluation still sees
    the original coordinate, as the published protocols count it."""
    joints = lsp_joints(6, (64, 64))
    joints[0, 3, :] = 1e6  # r_knee ... far to the right
    joints[1, 5, :] = -1e7  # l_ankle far above
    joints[2, [3, 5], :] = 0  # and marked visible
    root = write_lsp(tmp_path / "lsp", joints, image_size=(64, 64))
    dm = PoseDataModule(
        name="far", root=root, source=LSPSource(), codec=HeatmapCodec((64, 64), (16, 16)),
        batch_size=2, num_workers=0, val_size=0,
    )  # fmt: skip
    for split, train in (("train", True), ("test", False)):
        ds = dm.make_dataset(split, train=train)
        ds.seed = 0  # per-sample augmentation RNGs, as under the training sampler
        for i in range(len(ds)):
            s = ds[i]
            assert all(torch.isfinite(v.float()).all() for v in s.values())
            far = [j for j in range(14) if abs(float(s["keypoints_orig"][j].abs().max())) > 1e5]
            assert len(far) == 2  # both joints kept (in the sample's label order)
            assert all(s["target_weight"][j] == 0 and s["heatmaps"][j].max() == 0 for j in far)
            assert all(s["annotated"][j] for j in far)
            assert s["target_weight"].sum() > 0  # the other joints still train
    kps, valid = dm.train_keypoints()
    assert np.isfinite(kps).all() and valid.any()
