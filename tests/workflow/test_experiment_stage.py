"""An experiment's settings for one stage only (conf/experiment_stage/<experiment>_<stage>.yaml,
picked by the interpolated entry of conf/train.yaml's defaults list): they reach that stage and
no other, the command line still overrides them, and every such file names a real experiment
and stage (the entry is optional, so a misspelt file name would otherwise do nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import posehybrid.schema  # noqa: F401  (registers the config schemas the YAMLs name)
from tests.workflow.conftest import REPO

CONF = REPO / "conf"
STAGES = sorted(p.stem for p in (CONF / "stage").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def _compose(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=["paths.root_dir=/tmp", *overrides])


def _patience(cfg: DictConfig) -> int:
    return int(cfg.callbacks.early_stopping.patience)


def test_the_converged_detector_stops_early_and_its_later_stages_do_not() -> None:
    plain = _patience(_compose())
    converged = {s: _compose(f"stage={s}", "experiment=synthetic_converged") for s in STAGES}
    assert _patience(converged["part_detector"]) == 10 < plain
    assert _patience(converged["spatial"]) == plain
    assert _patience(converged["joint"]) == plain
    # the experiment's own keys still reach every stage
    assert {cfg.steps.part_detector for cfg in converged.values()} == {8960}


def test_the_joint_stage_setting_reaches_only_the_joint_stage() -> None:
    default_lr = _compose("stage=joint").stage.module.param_groups.detector.lr
    converged = _compose("stage=joint", "experiment=synthetic_converged")
    assert converged.stage.module.param_groups.detector.lr == pytest.approx(2e-3) != default_lr
    assert (
        "param_groups"
        not in _compose("stage=part_detector", "experiment=synthetic_converged")["stage"]["module"]
    )


def test_the_command_line_overrides_an_experiment_stage_setting() -> None:
    cfg = _compose(
        "stage=joint",
        "experiment=synthetic_converged",
        "stage.module.param_groups.detector.lr=1e-3",
    )
    assert cfg.stage.module.param_groups.detector.lr == pytest.approx(1e-3)


def test_other_experiments_are_untouched() -> None:
    for stage in STAGES:
        plain = _compose(f"stage={stage}")
        quick = _compose(f"stage={stage}", "experiment=synthetic_quick")
        assert _patience(quick) == _patience(plain)


@pytest.mark.parametrize("path", sorted((CONF / "experiment_stage").glob("*.yaml")), ids=str)
def test_every_experiment_stage_file_names_an_experiment_and_a_stage(path: Path) -> None:
    matches = [(e, s) for e in EXPERIMENTS for s in STAGES if path.stem == f"{e}_{s}"]
    assert matches, (
        f"{path.name}: expected <experiment>_<stage>.yaml, one of {EXPERIMENTS} x {STAGES}"
    )
    assert path.read_text().startswith("# @package _global_\n"), path


def test_only_the_joint_stage_trains_on_occluded_joints() -> None:
    """conf/stage/joint.yaml's own data setting: the joint stage's losses count every annotated
    joint; the detector stage (and so its equal-time control, a detector run) and the spatial
    stage keep the data's default, the visible ones; the command line still decides."""
    weights = {s: _compose(f"stage={s}").data.target_weight for s in STAGES}
    assert weights["joint"] == weights["one_stage"] == "annotated"  # one stage extends joint
    assert weights["part_detector"] == weights["spatial"] == "visible"
    assert _compose("stage=joint", "data=lspet").data.target_weight == "annotated"
    assert _compose("stage=joint", "data.target_weight=visible").data.target_weight == "visible"
