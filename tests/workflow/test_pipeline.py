"""Stage chaining (``make train stage=joint`` resolving its prerequisites like ``make``): the
session's tiny pipeline trained all three stages in order from a fresh experiment directory,
each stage started from the one before it, and a second ``stage=joint`` run reuses them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.workflow.conftest import TINY, TinyPipeline, train

STAGES = ("part_detector", "spatial", "joint")


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_fresh_experiment_trains_the_three_stages_in_order(tiny_pipeline: TinyPipeline) -> None:
    runs = {stage: tiny_pipeline.run(stage) for stage in STAGES}  # exactly one run each
    detector, spatial, joint = (_metrics(runs[s]) for s in STAGES)
    assert [m["stage"] for m in (detector, spatial, joint)] == list(STAGES)
    assert detector["init"] == {}
    # each stage starts from the best checkpoint of the stage before it
    assert spatial["init"]["part_detector"] == detector["best_checkpoint"]
    assert joint["init"]["spatial"] == spatial["best_checkpoint"]
    # ... so each upstream finished before its downstream could be built
    mtimes = [Path(m["best_checkpoint"]).stat().st_mtime for m in (detector, spatial, joint)]
    assert mtimes == sorted(mtimes)
    ablation = json.loads((tiny_pipeline.experiment_dir / "ablation.json").read_text())
    assert [row["stage"] for row in ablation["stages"]] == ["mean pose", *STAGES]
    assert ablation["stages"][3]["pck@0.2"] == joint["pck@0.2"]
    # each row's per-image counts beside it (what `posehybrid.pooled` pools over splits)
    counts = json.loads((tiny_pipeline.experiment_dir / "ablation_per_image.json").read_text())
    assert list(counts["rows"]) == ["mean pose", *STAGES]
    assert counts["rows"]["joint"] == json.loads(
        (runs["joint"] / "test_per_image.json").read_text()
    )
    assert counts["data_fingerprint"] == joint["data_fingerprint"]
    # the floor row is scored on the same test split, in seconds
    floor = ablation["stages"][0]
    assert 0.0 <= floor["pck@0.2"] <= 1.0 and floor["minutes"] < 1.0
    # each stage's per-image counts pool to its own PCK
    for stage in STAGES:
        record = json.loads((runs[stage] / "test_per_image.json").read_text())
        correct, counted = np.asarray(record["correct"]), np.asarray(record["counted"])
        for k, alpha in enumerate(record["alphas"]):
            pooled = correct[:, k].sum() / counted.sum()
            assert pooled == pytest.approx(_metrics(runs[stage])[f"pck@{alpha}"], abs=1e-12)
    # the differences between the rows, each with its paired interval over the test images
    pairs = [(d["a"], d["b"]) for d in ablation["differences"]]
    assert pairs == [("part_detector", "mean pose"), ("spatial", "part_detector"),
                     ("joint", "spatial"), ("joint", "part_detector")]  # fmt: skip
    pck = {row["stage"]: row for row in ablation["stages"]}
    for d in ablation["differences"]:
        for key in ("pck@0.1", "pck@0.2"):
            delta = pck[d["a"]][key] - pck[d["b"]][key]
            assert d[key]["delta"] == pytest.approx(delta, abs=1e-12)
            assert d[key]["low"] <= d[key]["delta"] <= d[key]["high"]
    table = (tiny_pipeline.experiment_dir / "ablation.md").read_text()
    assert "| spatial − part_detector |" in table and "paired bootstrap" in table


def test_second_joint_run_reuses_the_upstream_checkpoints(
    tiny_pipeline: TinyPipeline, tmp_path: Path
) -> None:
    # A copy of the experiment, so the session's pipeline stays one run per stage.
    import shutil

    log_dir = tmp_path / "outputs"
    shutil.copytree(tiny_pipeline.experiment_dir, log_dir / "tiny")
    spatial_ckpt = _metrics(tiny_pipeline.run("spatial"))["checkpoint"]  # the tested one
    copied = str(log_dir / "tiny" / Path(spatial_ckpt).relative_to(tiny_pipeline.experiment_dir))
    proc = train(
        ["stage=joint", "name=tiny", "logger=none", *TINY, *tiny_pipeline.paths(log_dir)],
        tiny_pipeline.env,
    )
    assert "training it first" not in proc.stdout + proc.stderr
    for stage in ("part_detector", "spatial"):
        assert len(list((log_dir / "tiny" / stage).glob("*/metrics.json"))) == 1, stage
    joints = sorted((log_dir / "tiny" / "joint").glob("*/metrics.json"))
    assert len(joints) == 2
    newest = max(joints, key=lambda p: p.stat().st_mtime)
    assert json.loads(newest.read_text())["init"]["spatial"] == copied


def test_ablation_control_row(tiny_pipeline: TinyPipeline, tmp_path: Path) -> None:
    """``make ablation``: the pipeline plus the detector trained on for as long as the spatial
    and joint stages took, as a fourth row of ablation.json; rerun at its own step time
    (``ablation.control_retime``; negative here: always), and the rerun is the row."""
    import shutil

    from posehybrid.ablation_run import equal_time_steps

    log_dir = tmp_path / "outputs"
    shutil.copytree(tiny_pipeline.experiment_dir, log_dir / "tiny")
    proc = train(
        ["stage=joint", "name=tiny", "logger=none", "ablation.control=true",
         "ablation.control_retime=-1", *TINY, *tiny_pipeline.paths(log_dir)],
        tiny_pipeline.env,
    )  # fmt: skip
    ablation = json.loads((log_dir / "tiny" / "ablation.json").read_text())
    stages = [row["stage"] for row in ablation["stages"]]
    assert stages == ["mean pose", *STAGES, "control (detector trained longer)"]
    runs = sorted((log_dir / "tiny" / "part_detector_control").glob("*/metrics.json"))
    first, rerun = (json.loads(p.read_text()) for p in runs)
    for control in (first, rerun):  # both started from stage 1
        assert Path(control["init"]["part_detector"]).parent.parent.parent.name == "part_detector"
    # the rerun's length is the later stages' fit time at the first control's own step
    newest = max(log_dir.glob("tiny/joint/*/metrics.json"), key=lambda p: p.stat().st_mtime)
    joint = json.loads(newest.read_text())
    spatial = _metrics(Path(joint["init"]["spatial"]).parent.parent)
    # (TINY caps every run at 2 batches, so the rerun's length is read from its log line)
    retimed = equal_time_steps([spatial, joint], first)
    assert f"rerun for {retimed} steps" in proc.stdout + proc.stderr
    assert ablation["stages"][-1]["pck@0.2"] == rerun["pck@0.2"]
    headline = ablation["differences"][-1]  # joint - the control, on the same images
    assert (headline["a"], headline["b"]) == ("joint", "control (detector trained longer)")
    assert headline["pck@0.2"]["delta"] == pytest.approx(joint["pck@0.2"] - rerun["pck@0.2"])
    assert "ablation.md" in {p.name for p in (log_dir / "tiny").iterdir()}
    # A joint rerun without the control keeps its row while it is still the equal-time length
    # (a loose tolerance here: the tiny stages' fit times are noise; tested exactly in
    # test_control_reuse.py).
    joint_runs = len(list(log_dir.glob("tiny/joint/*/metrics.json")))
    train(
        ["stage=joint", "name=tiny", "logger=none", "ablation.control_retime=10", *TINY,
         *tiny_pipeline.paths(log_dir)],
        tiny_pipeline.env,
    )  # fmt: skip
    again = json.loads((log_dir / "tiny" / "ablation.json").read_text())
    assert len(list(log_dir.glob("tiny/joint/*/metrics.json"))) == joint_runs + 1  # it reran
    assert again["stages"][-1] == ablation["stages"][-1]


def test_ablation_detector_alone_and_one_stage_rows(
    tiny_pipeline: TinyPipeline, tmp_path: Path
) -> None:
    """``ablation.detector_alone`` / ``ablation.one_stage``: the detector from scratch, and
    one-stage joint training from scratch, each for as long as all three stages trained, as
    rows of ablation.json with their differences; sized at the detector's and the joint
    stage's step, then rerun at their own (``ablation.control_retime``; negative: always)."""
    import shutil

    from posehybrid.ablation_run import DETECTOR_ALONE_ROW, ONE_STAGE_ROW, equal_time_steps

    log_dir = tmp_path / "outputs"
    shutil.copytree(tiny_pipeline.experiment_dir, log_dir / "tiny")
    proc = train(
        ["stage=joint", "name=tiny", "logger=none", "ablation.detector_alone=true",
         "ablation.one_stage=true", "ablation.control_retime=-1", *TINY,
         *tiny_pipeline.paths(log_dir)],
        tiny_pipeline.env,
    )  # fmt: skip
    console = proc.stdout + proc.stderr
    ablation = json.loads((log_dir / "tiny" / "ablation.json").read_text())
    stages = [row["stage"] for row in ablation["stages"]]
    assert stages == ["mean pose", *STAGES, DETECTOR_ALONE_ROW, ONE_STAGE_ROW]
    newest = max(log_dir.glob("tiny/joint/*/metrics.json"), key=lambda p: p.stat().st_mtime)
    joint = json.loads(newest.read_text())
    spatial = _metrics(Path(joint["init"]["spatial"]).parent.parent)
    detector = _metrics(Path(spatial["init"]["part_detector"]).parent.parent)
    budget = [detector, spatial, joint]  # all three stages' fit time
    pairs = {(d["a"], d["b"]): d for d in ablation["differences"]}
    for run, name, estimate in (
        ("part_detector_alone", DETECTOR_ALONE_ROW, detector),  # no control: the detector's step
        ("one_stage", ONE_STAGE_ROW, joint),
    ):
        runs = sorted((log_dir / "tiny" / run).glob("*/metrics.json"))
        first, rerun = (json.loads(p.read_text()) for p in runs)
        for one in (first, rerun):  # from scratch: no upstream checkpoint
            assert not any((one["init"] or {}).values()) and one["stage"] == run
        planned = equal_time_steps(budget, estimate)
        retimed = equal_time_steps(budget, first)
        assert f"{run}: {planned} steps, as long as 3 stages trained" in console
        assert f"{run}: its own step" in console and f"rerun for {retimed} steps" in console
        row = ablation["stages"][stages.index(name)]
        assert row["pck@0.2"] == rerun["pck@0.2"]
        diff = pairs[("joint", name)]  # on the same test images
        assert diff["pck@0.2"]["delta"] == pytest.approx(joint["pck@0.2"] - rerun["pck@0.2"])
    assert (ONE_STAGE_ROW, DETECTOR_ALONE_ROW) in pairs
    assert f"| joint − {ONE_STAGE_ROW} |" in (log_dir / "tiny" / "ablation.md").read_text()
