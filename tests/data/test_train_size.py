"""A fixed subset of the training records (``data.train_size``), for learning curves."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from posehybrid.data.records import DataError
from posehybrid.data.sources import LSPSource
from posehybrid.utils.validate import config_problems
from tests.data.formats import lsp_joints, write_lsp
from tests.data.test_datamodule import CONF, _dm


def _paths(records: list) -> list[str]:
    return [r.image_path for r in records]


def test_a_subset_of_train_with_the_same_validation_and_test(tmp_path: Path) -> None:
    root = write_lsp(tmp_path / "lsp", lsp_joints(40, (40, 30), seed=0), image_size=(40, 30))
    whole = _dm(root, LSPSource(), val_size=2).records()
    assert len(whole["train"]) == 18
    small = _dm(root, LSPSource(), val_size=2, train_size=4).records()
    larger = _dm(root, LSPSource(), val_size=2, train_size=9).records()
    assert len(small["train"]) == 4 and len(larger["train"]) == 9
    for sub in (small, larger):
        assert _paths(sub["val"]) == _paths(whole["val"])
        assert _paths(sub["test"]) == _paths(whole["test"])
        train = _paths(sub["train"])
        assert set(train) <= set(_paths(whole["train"])) and train == sorted(train)  # file order
    assert set(_paths(small["train"])) < set(_paths(larger["train"]))  # nested subsets
    again = _dm(root, LSPSource(), val_size=2, train_size=4).records()
    assert _paths(again["train"]) == _paths(small["train"])  # fixed by split_seed
    other = _dm(root, LSPSource(), val_size=2, train_size=4, split_seed=1).records()
    assert _paths(other["train"]) != _paths(small["train"])


def test_more_than_the_training_split_is_a_named_error(tmp_path: Path) -> None:
    root = write_lsp(tmp_path / "lsp", lsp_joints(10, (40, 30), seed=0), image_size=(40, 30))
    with pytest.raises(DataError, match=r"data.train_size=6, but the training split has 4"):
        _dm(root, LSPSource(), val_size=1, train_size=6).records()


def test_config_checks_train_size(tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        good = compose("train", overrides=[f"paths.root_dir={tmp_path}", "data.train_size=135"])
        bad = compose("train", overrides=[f"paths.root_dir={tmp_path}", "data.train_size=0"])
    assert not [p for p in config_problems(good) if "train_size" in p]
    assert any(p.startswith("data.train_size=0: expected null") for p in config_problems(bad))
