"""Bad config values: Hydra's own error for unknown group options, keys and types (the schema,
posehybrid/schema.py), one clear line for out-of-range values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from posehybrid.utils.validate import ConfigError, config_problems, validate_config
from tests.reliability.conftest import REPO, TINY, run_train_inprocess


@pytest.mark.parametrize(
    ("override", "group", "valid"),
    [
        ("stage=detector", "stage", ["joint", "part_detector", "spatial"]),
        ("data=mpii", "data", ["flic", "lsp", "synthetic"]),
        ("model=huge", "model", ["small", "small_mixture", "tompson2014"]),
    ],
)
def test_unknown_group_option_lists_the_choices(
    override: str, group: str, valid: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:
    code, err = run_train_inprocess([override, f"paths.log_dir={tmp_path}"], monkeypatch, capsys)
    assert code == 1
    assert f"Could not find '{group}/{override.split('=')[1]}'" in err
    assert f"Available options in '{group}'" in err and all(v in err for v in valid)
    assert "Traceback" not in err


BAD_VALUES = [
    ("data.batch_size=0", "data.batch_size=0: expected a positive integer"),
    ("data.batch_size=-4", "data.batch_size=-4"),
    ("model.input_size=[0,128]", "model.input_size=[0, 128]"),
    ("model.heatmap_size=[32,-1]", "model.heatmap_size=[32, -1]"),
    ("model.spatial.kernel_size=0", "model.spatial.kernel_size=0: expected null or an odd"),
    ("model.spatial.kernel_size=-3", "model.spatial.kernel_size=-3"),
    ("+stage.module.pck_thresholds=[0.1,1.5]", "pck_thresholds=[0.1, 1.5]: expected"),
    ("+stage.module.pck_thresholds=[-0.1]", "pck_thresholds=[-0.1]"),
    ("data.augment.flip=2", "data.augment.flip=2.0: expected a probability"),
    ("stage.module.optimizer.lr=0", "stage.module.optimizer.lr=0"),
    ("callbacks.finite_loss.divergence_factor=0.5", "divergence_factor=0.5: expected null (off)"),
    ("callbacks.finite_loss.reference_steps=0", "reference_steps=0: expected a positive"),
    ("ablation.intervals.resamples=0", "ablation.intervals.resamples=0: expected a positive"),
    ("ablation.intervals.confidence=95", "ablation.intervals.confidence=95.0: expected a level"),
]


def _compose(*overrides: str, tiny: bool = True):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        base = TINY if tiny else []
        return compose("train", overrides=[*base, "paths.root_dir=/tmp", *overrides])


def test_defaults_and_tiny_config_are_valid() -> None:
    assert config_problems(_compose()) == []
    for stage in ("part_detector", "spatial", "joint"):
        for extra in ([], ["model=tompson2014", "data=flic"]):
            assert config_problems(_compose(f"stage={stage}", *extra, tiny=False)) == []


@pytest.mark.parametrize(("override", "fragment"), BAD_VALUES)
def test_bad_value_is_named(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(_compose(override))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_all_problems_at_once() -> None:
    problems = config_problems(_compose("data.batch_size=0", "model.spatial.kernel_size=4"))
    assert len(problems) == 2


@pytest.mark.parametrize(
    "override",
    ["data.batch_size=0", "model.input_size=[128,0]", "model.spatial.kernel_size=0",
     "+stage.module.pck_thresholds=[2.0]"],
)  # fmt: skip
def test_train_cli_exits_2_with_one_line(override: str, tmp_path: Path, monkeypatch, capsys):
    args = [*TINY, override, f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path}/d"]
    code, err = run_train_inprocess(args, monkeypatch, capsys)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("train:")]
    assert len(lines) == 1 and lines[0].startswith("train: error: invalid configuration:")
    assert override.lstrip("+").split("=")[0] in lines[0] and "Traceback" not in err
    assert not (tmp_path / "d").exists()  # failed before any data was generated
