"""K-fold cross-validation inside the training split (``data.cv_folds`` / ``data.cv_fold``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from posehybrid.data.folds import kfold_split
from posehybrid.data.sources import LSPSource
from posehybrid.utils.validate import config_problems
from tests.data.formats import lsp_joints, write_lsp
from tests.data.test_datamodule import CONF, _dm


def test_folds_partition_the_records_and_train_on_the_rest() -> None:
    records = list(range(11))
    tests: list[int] = []
    for fold in range(3):
        train, test = kfold_split(records, 3, fold, seed=0)
        assert sorted(train + test) == records and not set(train) & set(test)
        assert train == sorted(train) and test == sorted(test)  # file order kept
        assert len(test) in (3, 4)
        tests += test
    assert sorted(tests) == records  # every record tests exactly once
    assert kfold_split(records, 3, 1, seed=0) == kfold_split(records, 3, 1, seed=0)
    assert kfold_split(records, 3, 1, seed=0) != kfold_split(records, 3, 1, seed=1)


@pytest.mark.parametrize("folds, fold", [(3, 3), (3, -1), (1, 0)])
def test_bad_fold_is_named(folds: int, fold: int) -> None:
    with pytest.raises(ValueError, match=r"cv_fold"):
        kfold_split(list(range(10)), folds, fold, seed=0)


def test_datamodule_cross_validates_inside_train_and_never_reads_test(tmp_path: Path) -> None:
    root = write_lsp(tmp_path / "lsp", lsp_joints(20, (40, 30), seed=0), image_size=(40, 30))
    plain = _dm(root, LSPSource(), val_size=1).records()
    source_train = sorted(r.image_path for r in plain["train"] + plain["val"])
    source_test = {r.image_path for r in plain["test"]}
    seen_test = []
    for fold in range(2):
        recs = _dm(root, LSPSource(), val_size=1, cv_folds=2, cv_fold=fold).records()
        assert {k: len(v) for k, v in recs.items()} == {"train": 4, "val": 1, "test": 5}
        paths = [r.image_path for split in recs.values() for r in split]
        assert sorted(paths) == source_train and not source_test & set(paths)
        seen_test += [r.image_path for r in recs["test"]]
    assert sorted(seen_test) == source_train


def test_config_checks_the_fold_range(tmp_path: Path) -> None:
    overrides = [f"paths.root_dir={tmp_path}", "data.cv_folds=3"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        good = compose("train", overrides=[*overrides, "data.cv_fold=2"])
        bad = compose("train", overrides=[*overrides, "data.cv_fold=3"])
        off = compose("train", overrides=[f"paths.root_dir={tmp_path}", "data.cv_folds=1"])
    assert not [p for p in config_problems(good) if "cv_" in p]
    assert any(
        p.startswith("data.cv_fold=3: expected an integer in [0, 2]") for p in config_problems(bad)
    )
    assert any(p.startswith("data.cv_folds=1: expected null") for p in config_problems(off))
