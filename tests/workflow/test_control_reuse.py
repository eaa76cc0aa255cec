"""A joint stage rerun without ``ablation.control`` keeps the experiment's control row only while
that control is still the equal-time one: same detector checkpoint, and a budget equal to what
``make ablation`` would give it for these spatial and joint stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from posehybrid.ablation_run import earlier_control

DETECTOR_CKPT = "/runs/exp/part_detector/t0/checkpoints/last.ckpt"
DETECTOR = {"step_seconds": 0.25}
# 5 fit minutes of spatial + joint training = 1200 steps at the detector's 0.25 s
LATER = [{"fit_minutes": 2.0}, {"fit_minutes": 3.0}]


def _control(experiment_dir: Path, name: str, **metrics: Any) -> None:
    run = experiment_dir / "part_detector_control" / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.ckpt").write_bytes(b"")
    base = {"step_seconds": 0.25, "init": {"part_detector": DETECTOR_CKPT}, "pck@0.2": 0.5}
    (run / "metrics.json").write_text(json.dumps({**base, **metrics}))


@pytest.mark.parametrize(
    ("max_steps", "kept"),
    [(1200, True), (1215, True), (1180, True), (1230, False), (600, False), (2400, False)],
)
def test_control_is_kept_only_at_the_equal_time_length(
    tmp_path: Path, max_steps: int, kept: bool
) -> None:
    _control(tmp_path, "t1", max_steps=max_steps)
    found = earlier_control(tmp_path, DETECTOR_CKPT, DETECTOR, LATER, 0.02)
    assert (found is not None) == kept  # within 2 % (24 steps) of 1200, either way


def test_control_at_its_own_faster_step_is_judged_by_its_retimed_length(tmp_path: Path) -> None:
    # its own 0.2 s per step buys 1500 steps: make ablation would have rerun it for 1500
    _control(tmp_path, "t1", max_steps=1500, step_seconds=0.2)
    assert earlier_control(tmp_path, DETECTOR_CKPT, DETECTOR, LATER, 0.02) is not None
    _control(tmp_path, "t2", max_steps=1200, step_seconds=0.2)  # the newest run decides
    assert earlier_control(tmp_path, DETECTOR_CKPT, DETECTOR, LATER, 0.02) is None


def test_an_early_stopped_control_is_judged_by_its_planned_length(tmp_path: Path) -> None:
    # its own 0.2 s step would ask for 1500, but early stopping ended it: make ablation keeps
    # the 1200-step run (no rerun), so a joint rerun keeps its row too
    _control(tmp_path, "t1", max_steps=1200, step_seconds=0.2, early_stopped=True)
    assert earlier_control(tmp_path, DETECTOR_CKPT, DETECTOR, LATER, 0.02) is not None
    _control(tmp_path, "t2", max_steps=1500, step_seconds=0.2, early_stopped=True)
    assert earlier_control(tmp_path, DETECTOR_CKPT, DETECTOR, LATER, 0.02) is None


def test_control_of_another_detector_or_without_a_budget_is_not_kept(tmp_path: Path) -> None:
    other = "/runs/exp/part_detector/t9/checkpoints/last.ckpt"
    _control(tmp_path, "t1", max_steps=1200, init={"part_detector": other})
    assert earlier_control(tmp_path, DETECTOR_CKPT, DETECTOR, LATER, 0.02) is None
    _control(tmp_path, "t2")  # written before metrics.json recorded max_steps
    assert earlier_control(tmp_path, DETECTOR_CKPT, DETECTOR, LATER, 0.02) is None
    assert earlier_control(tmp_path / "none", DETECTOR_CKPT, DETECTOR, LATER, 0.02) is None
