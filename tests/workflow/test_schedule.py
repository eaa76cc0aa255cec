"""Training length is a number of optimiser steps, whatever the dataset size: an epoch-sized
recipe silently collapsed to a few hundred steps on a small real dataset."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.demos.boring_classes import BoringModel
from omegaconf import OmegaConf

import posehybrid.ablation_run as ablation_run
from posehybrid.ablation_run import equal_time_steps, retimed_steps, stopped_early
from posehybrid.training import checkpoint_to_test, early_stopped
from posehybrid.utils.runs import run_checkpoint
from posehybrid.utils.schedule import planned_steps
from posehybrid.utils.validate import config_problems
from tests.workflow.conftest import TinyPipeline, train


@pytest.mark.parametrize("n_images", [24, 56])
def test_stage_trains_the_configured_steps_whatever_the_dataset_size(
    tiny_pipeline: TinyPipeline, tmp_path: Path, n_images: int
) -> None:
    args = [
        "stage=part_detector", f"name=steps{n_images}", "logger=none", f"data.n_images={n_images}",
        "data.batch_size=4", "data.num_workers=0", "trainer.max_steps=7",
        "trainer.val_check_interval=7", *tiny_pipeline.paths(tmp_path / "outputs"),
    ]  # fmt: skip
    proc = train(args, tiny_pipeline.env)
    (metrics,) = (tmp_path / "outputs" / f"steps{n_images}" / "part_detector").glob(
        "*/metrics.json"
    )
    m = json.loads(metrics.read_text())
    assert m["steps"] == m["max_steps"] == 7  # the budget is recorded (control reuse reads it)
    # 24 images: 12 train - 1 val = 2 batches an epoch; 56: 25 train = 6 batches
    assert m["epochs"] == {24: 4, 56: 2}[n_images]
    assert "only 7 optimiser steps planned" in proc.stdout + proc.stderr  # < warn_below_steps


def test_planned_steps_counts_epoch_caps_and_batch_limits() -> None:
    def cfg(**trainer):
        base = {"max_steps": 100, "max_epochs": -1, "limit_train_batches": None,
                "devices": 1, "num_nodes": 1}  # fmt: skip
        return OmegaConf.create({"data": {"batch_size": 8}, "trainer": {**base, **trainer}})

    assert planned_steps(cfg(), 20) == 100  # steps, not epochs
    assert planned_steps(cfg(max_epochs=3), 20) == 6  # 3 epochs of 2 batches cap it
    assert planned_steps(cfg(max_epochs=3, limit_train_batches=1), 200) == 3
    assert planned_steps(cfg(max_steps=-1, max_epochs=2), 5) == 2  # one partial batch an epoch
    assert planned_steps(cfg(max_epochs=3, devices=2), 40) == 6  # DDP: 20 images per rank


def test_control_budget_is_the_spatial_and_joint_time_in_detector_steps() -> None:
    # fit minutes, not the runs' whole minutes (start-up and test-set scoring are not training)
    later = [
        {"stage": "spatial", "minutes": 2.5, "fit_minutes": 2.0},
        {"stage": "joint", "minutes": 3.5, "fit_minutes": 3.0},
    ]
    # 5 fit minutes = 300 s at 0.25 s per detector step
    assert equal_time_steps(later, {"step_seconds": 0.25}) == 1200
    assert equal_time_steps(later, {"step_seconds": 0.7}) == 429  # rounded up


def test_control_is_rerun_only_when_its_own_steps_give_it_longer() -> None:
    later = [{"fit_minutes": 2.0}, {"fit_minutes": 3.0}]  # 300 s
    # sized at a 0.25 s detector step (1200 steps); its own steps took 0.2 s: 1500 steps
    assert retimed_steps(later, {"step_seconds": 0.2}, 1200, 0.02) == 1500
    # within the tolerance (1224 steps, not more than 1200 * 1.02): kept
    assert retimed_steps(later, {"step_seconds": 300 / 1224}, 1200, 0.02) is None
    # its own steps slower: never shortened
    assert retimed_steps(later, {"step_seconds": 0.3}, 1200, 0.02) is None
    # a negative tolerance reruns it whenever its own time gives any steps
    assert retimed_steps(later, {"step_seconds": 0.3}, 1200, -1.0) == 1000


def test_an_equal_time_row_that_stopped_early_is_not_rerun(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Early stopping (the converged experiment's detector recipe) ends a row before its
    budget; a rerun with more steps would stop again and only cost its minutes."""
    later = [{"fit_minutes": 5.0}]  # 300 s: 1200 steps at the estimate's 0.25 s
    trained: list[int] = []

    def fake_train_row(
        cfg: object, stage: str, run: str, extra: list[str], steps: int
    ) -> dict[str, float]:
        trained.append(steps)
        stopped = stop_at is not None
        return {
            "step_seconds": 0.2, "steps": stop_at or steps, "max_steps": steps,
            "early_stopped": stopped,
        }  # fmt: skip

    monkeypatch.setattr(ablation_run, "_train_row", fake_train_row)
    cfg = OmegaConf.create({"ablation": {"control_retime": 0.02}})
    estimate = {"step_seconds": 0.25}
    stop_at = 700  # early-stopped: its own faster step would ask for 1500, not rerun
    ablation_run._run_equal_time(cfg, "row", "part_detector", [], later, estimate)
    assert trained == [1200]
    trained.clear()
    stop_at = None  # ran its whole budget: rerun at its own step time
    ablation_run._run_equal_time(cfg, "row", "part_detector", [], later, estimate)
    assert trained == [1200, 1500]
    assert not stopped_early({"steps": 1200})  # written before early_stopped was recorded


def test_early_stopped_tells_early_stopping_from_the_step_budget() -> None:
    """metrics.json's ``early_stopped``: True only when an EarlyStopping callback ended the
    fit, not when it ran its ``max_steps``."""

    class FlatValidation(BoringModel):
        def validation_step(self, batch: object, batch_idx: int) -> None:
            self.log("flat", 1.0)  # never improves: patience 1 stops at the second check

    def fit(callbacks: list[pl.Callback]) -> pl.Trainer:
        trainer = pl.Trainer(
            max_steps=20, val_check_interval=2, limit_val_batches=1, callbacks=callbacks,
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, accelerator="cpu",
        )  # fmt: skip
        trainer.fit(FlatValidation())
        return trainer

    stopped = fit([EarlyStopping(monitor="flat", patience=1)])
    assert early_stopped(stopped) and stopped.global_step < 20
    budget = fit([])
    assert not early_stopped(budget) and budget.global_step == 20


def test_an_early_stopped_stage_records_it_after_testing_its_best_checkpoint(
    tiny_pipeline: TinyPipeline, tmp_path: Path
) -> None:
    """A stage that early stopping ended tests its best checkpoint, whose saved EarlyStopping
    state predates the stop (trainer.test restores it): metrics.json must still say it stopped
    early, or the ablation reruns an early-stopped equal-time row for nothing."""
    args = [
        "stage=part_detector", "name=stopped", "logger=none", "data.n_images=24",
        "data.batch_size=4", "data.num_workers=0", "trainer.max_steps=12",
        "trainer.val_check_interval=2",
        # frozen weights (lr 1e-30, below fp32 resolution; no batch-norm statistics): the
        # second validation repeats the first, so patience 1 stops the fit there, and the best
        # checkpoint is the first's
        "stage.module.optimizer.lr=1e-30", "stage.module.scheduler.eta_min=0.0",
        "model.part_detector.norm=null", "callbacks.early_stopping.patience=1",
        *tiny_pipeline.paths(tmp_path / "outputs"),
    ]  # fmt: skip
    train(args, tiny_pipeline.env)
    (metrics,) = (tmp_path / "outputs" / "stopped" / "part_detector").glob("*/metrics.json")
    m = json.loads(metrics.read_text())
    assert m["steps"] == 4 < m["max_steps"] == 12
    assert Path(m["checkpoint"]).name == "best.ckpt"  # saved at step 2, before the stop
    assert m["early_stopped"] is True and stopped_early(m)


def test_tested_checkpoint_is_the_schedules_end_unless_the_run_stopped_early(
    tmp_path: Path,
) -> None:
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    (ckpts / "last.ckpt").write_bytes(b"")
    best = str(ckpts / "best.ckpt")
    done = SimpleNamespace(max_steps=100, global_step=100)
    stopped = SimpleNamespace(max_steps=100, global_step=40)  # early stopping / an epoch cap
    assert checkpoint_to_test("auto", done, best, tmp_path) == str(ckpts / "last.ckpt")
    assert checkpoint_to_test("auto", stopped, best, tmp_path) == best
    assert checkpoint_to_test("best", done, best, tmp_path) == best
    assert checkpoint_to_test("last", stopped, best, tmp_path) == str(ckpts / "last.ckpt")
    cfg = OmegaConf.create({"test_checkpoint": "final"})
    assert config_problems(cfg) == ["test_checkpoint='final': expected auto, best or last"]


def test_downstream_starts_from_the_tested_checkpoint(tmp_path: Path) -> None:
    assert run_checkpoint(tmp_path) == tmp_path / "checkpoints" / "best.ckpt"  # older runs
    # written where the run was trained; found in the run's own directory after a move
    (tmp_path / "metrics.json").write_text(json.dumps({"checkpoint": "/r/checkpoints/last.ckpt"}))
    assert run_checkpoint(tmp_path) == tmp_path / "checkpoints" / "last.ckpt"
