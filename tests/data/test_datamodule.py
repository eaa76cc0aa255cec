"""PoseDataModule on fixture LSP / LSPet / FLIC folders, and every conf/data config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from posehybrid.data.datamodule import PoseDataModule
from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.records import DataError
from posehybrid.data.skeleton import FLIC
from posehybrid.data.sources import FLICSource, LSPetSource, LSPSource
from tests.data.formats import flic_example, lsp_joints, write_flic, write_lsp, write_lspet

CONF = Path(__file__).resolve().parents[2] / "conf"
KEYS = {
    "image": ((3, 64, 64), torch.float32),
    "heatmaps": ((14, 16, 16), torch.float32),
    "target_weight": ((14,), torch.float32),
    "keypoints": ((14, 2), torch.float32),
    "keypoints_orig": ((14, 2), torch.float32),
    "visible": ((14,), torch.bool),
    "annotated": ((14,), torch.bool),
    "inv_affine": ((2, 3), torch.float32),
    "index": ((), torch.int64),
}


def _dm(root: Path, source, **kw) -> PoseDataModule:
    args = dict(
        name="fixture",
        root=root,
        source=source,
        joint_set="lsp",
        codec=HeatmapCodec((64, 64), (16, 16)),
        batch_size=4,
        num_workers=0,
    )
    args.update(kw)
    return PoseDataModule(**args)


def _check_batch(batch: dict, b: int, j: int = 14) -> None:
    for key, (shape, dtype) in KEYS.items():
        shape = tuple(j if s == 14 else s for s in shape)
        assert batch[key].shape == (b, *shape), key
        assert batch[key].dtype == dtype, key
        if batch[key].is_floating_point():
            assert torch.isfinite(batch[key]).all(), key
    assert batch["image"].min() >= 0 and batch["image"].max() <= 1


@pytest.fixture(scope="module")
def lsp_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lsp")
    return write_lsp(root, lsp_joints(20, (80, 60), seed=0), image_size=(80, 60))


def test_lsp_batches(lsp_root: Path) -> None:
    dm = _dm(lsp_root, LSPSource(), val_size=2, cache_images=True)
    dm.setup("fit")
    assert {k: len(v) for k, v in dm.records().items()} == {"train": 8, "val": 2, "test": 10}
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 4)
    assert len(dm.train_dataloader()) == 2  # drop_last: 8 // 4
    _check_batch(next(iter(dm.val_dataloader())), 2)
    test = next(iter(dm.test_dataloader()))
    _check_batch(test, 4)
    # Evaluation geometry maps predictions back exactly.
    back = test["keypoints"] @ test["inv_affine"][:, :, :2].transpose(1, 2)
    back = back + test["inv_affine"][:, None, :, 2]
    assert (back - test["keypoints_orig"]).abs().max() < 0.01
    # Target weight follows visibility (flag 1 = occluded in LSP).
    assert torch.equal(test["target_weight"] > 0, test["visible"])


def test_split_is_deterministic_and_summary(lsp_root: Path) -> None:
    a = _dm(lsp_root, LSPSource(), val_fraction=0.3, split_seed=5).records()
    b = _dm(lsp_root, LSPSource(), val_fraction=0.3, split_seed=5).records()
    assert [r.image_path for r in a["val"]] == [r.image_path for r in b["val"]]
    c = _dm(lsp_root, LSPSource(), val_fraction=0.3, split_seed=6).records()
    assert [r.image_path for r in a["val"]] != [r.image_path for r in c["val"]]
    s = _dm(lsp_root, LSPSource(), val_fraction=0.3).summary()
    assert s["splits"] == {"train": 7, "val": 3, "test": 10}
    assert s["joints"][0] == "r_ankle" and 0 < s["visible_fraction"] < 1


def test_train_keypoints_are_eval_geometry(lsp_root: Path) -> None:
    dm = _dm(lsp_root, LSPSource(), val_size=2)
    kps, valid = dm.train_keypoints()
    assert kps.shape == (8, 14, 2) and kps.dtype == np.float32 and valid.dtype == bool
    eval_ds = dm.make_dataset("train", train=False)
    np.testing.assert_allclose(kps[3], eval_ds[3]["keypoints"].numpy(), atol=1e-4)


def test_lspet_missing_joints_never_nan(tmp_path: Path) -> None:
    joints = lsp_joints(12, (64, 64), seed=1).transpose(1, 0, 2).copy()  # (14, 3, N)
    joints[:, 2] = 1.0  # LSPet: 1 = visible
    joints[[0, 5, 11], 0, :4] = 0.0  # placeholders: x = 0, y <= 0, flag 0
    joints[[0, 5, 11], 1, :4] = -1.0
    joints[[0, 5, 11], 2, :4] = 0.0
    root = write_lspet(tmp_path / "lspet", joints)
    dm = _dm(root, LSPetSource(test_size=4), target_weight="annotated", val_size=0)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))  # test = last 4: fully annotated
    assert (batch["target_weight"] > 0).all()
    train = dm.make_dataset("train", train=True)
    for i in range(4):  # the first 4 have 3 unannotated joints each
        s = train[i]
        for key, value in s.items():
            if value.is_floating_point():
                assert torch.isfinite(value).all(), key
        assert not s["annotated"].all()
        assert (s["target_weight"][~s["annotated"]] == 0).all()
        assert (s["heatmaps"][~s["annotated"]] == 0).all()


def test_flic_torso_box_crops(tmp_path: Path) -> None:
    examples = [
        flic_example(filepath="m-1.jpg", center=(200.0, 240.0), istrain=True),
        flic_example(filepath="m-1.jpg", center=(520.0, 240.0), istrain=True),  # same frame
        flic_example(filepath="m-2.jpg", center=(360.0, 220.0), istrain=True),
        flic_example(filepath="m-3.jpg", center=(360.0, 260.0), istrain=False),
    ]
    root = write_flic(tmp_path / "flic", examples)
    dm = _dm(root, FLICSource("pc"), joint_set="flic", val_size=0, batch_size=2)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 2, j=len(FLIC))
    ds = dm.make_dataset("train", train=False)
    for i in range(2):  # two people in one frame: each crop is centred on its own torso
        kps = ds[i]["keypoints"].numpy()
        torso = kps[FLIC.indices(("l_shoulder", "r_shoulder", "l_hip", "r_hip"))]
        centre = (torso.min(axis=0) + torso.max(axis=0)) / 2
        np.testing.assert_allclose(centre, [31.5, 31.5], atol=0.01)


def test_empty_split_raises(lsp_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'train' split is empty"):
        _dm(lsp_root, LSPSource(), val_size=10).records()
    joints = np.ones((14, 3, 3))
    root = write_lspet(tmp_path / "et", joints)
    with pytest.raises(DataError, match=r"'test' split is empty.*et"):
        _dm(root, LSPetSource(test_size=0)).setup("fit")


def test_bad_image_names_the_file(lsp_root: Path, tmp_path: Path) -> None:
    root = write_lsp(tmp_path / "bad", lsp_joints(4, (32, 32)), image_size=(32, 32))
    (root / "images" / "im0003.jpg").write_bytes(b"not a jpeg")
    ds = _dm(root, LSPSource(), val_size=0).make_dataset("test")
    with pytest.raises(DataError, match=r"im0003\.jpg"):
        ds[0]


@pytest.mark.parametrize(
    "name", ["synthetic", "synthetic_flic", "lsp", "lspet", "lsp_full", "flic"]
)
def test_data_configs_instantiate(name: str, tmp_path: Path) -> None:
    overrides = [f"data={name}", f"paths.root_dir={tmp_path}", f"paths.data_dir={tmp_path}/d"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("data_cli", overrides=overrides)
    dm = instantiate(cfg.data, codec=instantiate(cfg.model.codec))  # lazy: reads nothing yet
    assert isinstance(dm, PoseDataModule) and dm.name == name
    assert dm.num_joints == cfg.data.num_joints == len(dm.joint_set)
    assert dm.codec.input_size == tuple(cfg.model.input_size)
    assert dm.codec.heatmap_size == tuple(cfg.model.heatmap_size)
    assert str(tmp_path) in dm.source.describe(dm.root)
