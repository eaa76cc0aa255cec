"""The structured-config schema (posehybrid/schema.py): Hydra rejects a key that no schema has
and a value of the wrong type, naming the full key, for every dataset and model YAML."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from posehybrid.schema import DataSchema, FLICDataSchema, ModelSchema, SyntheticDataSchema
from tests.reliability.conftest import REPO, run_train_inprocess

DATASETS = sorted(p.stem for p in (REPO / "conf" / "data").glob("*.yaml") if p.stem != "base")


def _compose(*overrides: str, config_dir: Path = REPO / "conf"):
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose("train", overrides=["paths.root_dir=/tmp", *overrides])


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("model", ["small", "small_mixture", "tompson2014"])
def test_every_dataset_and_model_yaml_is_typed_by_its_schema(dataset: str, model: str) -> None:
    cfg = _compose(f"data={dataset}", f"model={model}")
    assert issubclass(OmegaConf.get_type(cfg.data), DataSchema)
    assert OmegaConf.get_type(cfg.model) is ModelSchema
    # every field is set by the YAML (no schema default stands in for one)
    assert not OmegaConf.missing_keys(cfg.data) and not OmegaConf.missing_keys(cfg.model)


def test_dataset_specific_keys_live_only_in_their_datasets() -> None:
    base = {f.name for f in dataclasses.fields(DataSchema)}
    assert {"labels", "box_scale"} <= {f.name for f in dataclasses.fields(FLICDataSchema)} - base
    assert "n_images" not in base and "n_images" in _compose("data=synthetic").data
    for dataset in ("lsp", "lspet"):
        keys = set(_compose(f"data={dataset}").data)
        assert keys == base, keys ^ base  # no FLIC or synthetic key in a real LSP dataset
    assert OmegaConf.get_type(_compose().data) is SyntheticDataSchema


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("data.batch_size=abc", "data.batch_size", "Integer"),
        ("seed=x", "seed", "Integer"),
        ("model.sigma=wide", "model.sigma", "Float"),
        ("data.augment.flip=yes", "data.augment.flip", "Float"),
        ("model.spatial_graph.self_edges=maybe", "model.spatial_graph.self_edges", "valid bool"),
        ("steps.joint=many", "steps.joint", "Integer"),
    ],
)
def test_a_wrong_type_is_refused_naming_the_key(override: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigCompositionException) as err:
        _compose(override)
    text = f"{err.value} {err.value.__cause__}"
    assert f"full_key: {key}" in text and expected in text, text


def test_a_typo_in_an_experiment_file_is_refused(tmp_path: Path) -> None:
    """An experiment YAML (a copy of the shipped configs plus one file) that misspells a data
    key fails at composition, naming the key; before the schema it was silently ignored."""
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    (conf / "experiment" / "typo.yaml").write_text("# @package _global_\ndata:\n  batch_szie: 4\n")
    with pytest.raises(ConfigCompositionException) as err:
        _compose("experiment=typo", config_dir=conf)
    text = f"{err.value} {err.value.__cause__}"
    assert "batch_szie" in text and "data.batch_szie" in text, text


def test_the_train_cli_reports_a_wrong_type_without_a_traceback(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    code, err = run_train_inprocess(
        ["data.batch_size=abc", f"paths.log_dir={tmp_path}"], monkeypatch, capsys
    )
    assert code == 1 and "full_key: data.batch_size" in err and "Traceback" not in err, err
