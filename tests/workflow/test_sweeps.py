"""Sweeps: the ``sweep_spatial`` grid preset, the Optuna search, and failing jobs that are
logged (``error.txt``) while the sweep goes on."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
import yaml
from omegaconf import OmegaConf

from posehybrid.utils import sweeps
from tests.workflow.conftest import TINY, TinyPipeline, train


def _jobs(sweep_root: Path) -> list[Path]:
    """Job dirs of the one multirun under ``<experiment>/multirun/``, in job order."""
    (sweep_dir,) = list(sweep_root.glob("multirun/*"))
    return sorted((sweep_dir / "spatial").iterdir(), key=lambda p: int(p.name))


def test_grid_sweep_goes_on_after_a_failed_job(tiny_pipeline: TinyPipeline, tmp_path: Path):
    """The preset's graph axis (tree, full) with a bad value in the middle: job 1 fails, the
    sweep still runs job 2, and every job that ran has its own W&B run."""
    proc = train(
        [
            "-m",
            "experiment=sweep_spatial",
            "model.spatial.kernel_size=31",  # a CLI value replaces this grid axis
            "model.spatial_graph.mode=tree,bogus,full",
            f"stage.init.part_detector={tiny_pipeline.checkpoint('part_detector')}",
            *TINY,
            *tiny_pipeline.paths(tmp_path),
        ],
        tiny_pipeline.env,
    )
    assert "job failed, the sweep goes on" in proc.stderr + proc.stdout
    ok, failed, ok2 = _jobs(tmp_path / "sweep_spatial")
    assert "unknown graph mode 'bogus'" in (failed / "error.txt").read_text()
    assert not (failed / "metrics.json").exists()
    names = []
    for job, mode in ((ok, "tree"), (ok2, "full")):
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["stage"] == "spatial" and metrics["experiment"] == "sweep_spatial"
        assert f"model.spatial_graph.mode={mode}" in (job / ".hydra" / "overrides.yaml").read_text()
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        assert cfg.model.spatial.kernel_size == 31 and cfg.model.spatial_graph.mode == mode
        (run,) = list((job / "wandb").glob("offline-run-*"))  # its own run, not merged
        names.append(run.name)
        assert (job / "priors.png").is_file()
    assert len(set(names)) == 2


def test_optuna_two_trials(tiny_pipeline: TinyPipeline, tmp_path: Path) -> None:
    train(
        [
            "hparams_search=spatial_optuna",
            "hydra.sweeper.n_trials=2",
            "logger=none",
            f"stage.init.part_detector={tiny_pipeline.checkpoint('part_detector')}",
            *TINY,
            *tiny_pipeline.paths(tmp_path),
        ],
        tiny_pipeline.env,
    )
    (sweep_dir,) = list((tmp_path / "spatial_optuna" / "multirun").iterdir())
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert isinstance(results["best_value"], float)
    assert {"stage.module.optimizer.lr", "model.spatial.kernel_size"} <= results[
        "best_params"
    ].keys()
    jobs = sorted((sweep_dir / "spatial").iterdir())
    assert len(jobs) == 2 and all((j / "metrics.json").is_file() for j in jobs)


def test_objective_reads_metrics_and_best_checkpoint(tiny_pipeline: TinyPipeline) -> None:
    metrics = {"pck@0.2": 0.5, "pck@0.1": float("nan"), "best/val_pck@0.2": 0.25}
    assert sweeps.objective(metrics, "test/pck@0.2") == 0.5
    assert sweeps.objective(metrics, "pck@0.2") == 0.5
    assert sweeps.objective(metrics, "best/val_pck@0.2") == 0.25
    assert sweeps.objective(metrics, "test/pck@0.1") is None  # NaN: a failed trial, not a score
    assert sweeps.objective({}, "test/pck@0.2") is None
    # without the key in metrics.json: the ModelCheckpoint's best score inside the checkpoint
    run = tiny_pipeline.run("spatial")
    stored = json.loads((run / "metrics.json").read_text())
    stored.pop("best/val_pck@0.2", None)
    value = sweeps.objective(stored, "best/val_pck@0.2")
    assert value is not None and 0.0 <= value <= 1.0


@pytest.fixture
def fake_wandb(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A W&B module with an open run, so the test sees ``finish`` calls without W&B."""
    fake = SimpleNamespace(run=object(), finish=MagicMock())
    monkeypatch.setitem(__import__("sys").modules, "wandb", fake)
    return fake


def _boom(cfg) -> float:
    raise RuntimeError("diverged")


def test_single_run_failure_still_raises(fake_wandb: SimpleNamespace) -> None:
    cfg = OmegaConf.create({"paths": {"output_dir": "/nonexistent"}})
    with pytest.raises(RuntimeError, match="diverged"):
        sweeps.run_guarded(cfg, _boom)
    fake_wandb.finish.assert_called_once_with(exit_code=1)


def test_multirun_failure_is_recorded(
    fake_wandb: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sweeps, "in_multirun", lambda: True)
    cfg = OmegaConf.create({"paths": {"output_dir": str(tmp_path)}})
    assert sweeps.run_guarded(cfg, _boom) is None
    text = (tmp_path / sweeps.ERROR_FILE).read_text()
    assert "RuntimeError: diverged" in text and "Traceback" in text
    fake_wandb.finish.assert_called_once_with(exit_code=1)
    # a job that works returns its value and finishes its run cleanly
    fake_wandb.finish.reset_mock()
    assert sweeps.run_guarded(cfg, lambda c: 0.75) == 0.75
    fake_wandb.finish.assert_called_once_with(exit_code=0)


@pytest.mark.parametrize("overrides", [[], ["hparams_search=spatial_optuna"]])
def test_sweepers_optimise_a_validation_score_by_default(overrides: list[str]):
    """A sweeper must never select on the test split unless a user asks for it."""
    from hydra import compose, initialize_config_dir

    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    assert cfg.optimized_metric.startswith("best/val_")
