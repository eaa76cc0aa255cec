"""W&B: offline by default, one run per stage (group = experiment, job_type = stage), readable
names, the flattened config, summary values, and the switch to online mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*})
from posehybrid.utils.loggers import flatten, short_overrides, summary_values
from tests.workflow.conftest import EXPERIMENT, REPO, TinyPipeline

STAGES = ("part_detector", "spatial", "joint")
WANDB = str(Path(sys.executable).with_name("wandb"))


def leet(args: list[str], run_dir: Path, env: dict[str, str]) -> str:
    """``wandb leet inspect ARGS <offline run>``: reads the offline ``.wandb`` log locally."""
    offline = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1, f"expected one offline W&B run in {run_dir}, found {offline}"
    proc = subprocess.run(
        [WANDB, "leet", "inspect", *args, str(offline[0])],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return proc.stdout


@pytest.mark.parametrize("stage", STAGES)
def test_offline_run_holds_config_group_job_type_and_summary(
    tiny_pipeline: TinyPipeline, stage: str
) -> None:
    run_dir = tiny_pipeline.run(stage)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    state = json.loads(leet(["--summary", "--json"], run_dir, tiny_pipeline.env))
    assert state["state"] == "finished" and state["exit_code"] == 0
    assert state["project"] == "posehybrid"
    # readable name: <experiment>-<stage>-<short overrides>
    assert state["name"].startswith(f"{EXPERIMENT}-{stage}-")
    assert "n_images=32" in state["name"] and "log_dir" not in state["name"]
    # the full resolved config, flattened
    config = state["config"]
    assert config["stage.name"] == stage
    assert config["name"] == EXPERIMENT
    assert config["data.n_images"] == 32
    assert config["logger.wandb.offline"] is True and config["logger.wandb.log_model"] is False
    assert "stage=" + stage in config["hydra.overrides"]
    # summary: the runs table compares experiments on these
    summary = state["summary"]
    assert summary["test/pck@0.2"] == pytest.approx(metrics["pck@0.2"])
    assert summary["test/pck@0.1"] == pytest.approx(metrics["pck@0.1"])
    assert "best/val_pck@0.2" in summary
    assert {"test/parts@0.2/wrist", "run/minutes", "test/pck_curve_table"} <= summary.keys()
    assert "val/predictions" in summary  # the image grid of the visualise callback
    if stage != "part_detector":
        assert "spatial/priors" in summary

    # the run record: group = experiment, job_type = stage
    records = [
        json.loads(line) for line in leet(["--json"], run_dir, tiny_pipeline.env).splitlines()
    ]
    run = next(r["run"] for r in records if r.get("type") == "run")
    assert run["run_group"] == EXPERIMENT
    assert run["job_type"] == stage


def test_one_run_per_stage(tiny_pipeline: TinyPipeline) -> None:
    ids = set()
    for stage in STAGES:
        runs = list((tiny_pipeline.run(stage) / "wandb").glob("offline-run-*"))
        assert len(runs) == 1
        ids.add(runs[0].name.rsplit("-", 1)[-1])
    assert len(ids) == len(STAGES)


def test_short_overrides() -> None:
    overrides = [
        "stage=spatial",
        "name=abc",
        "paths.log_dir=/very/long/path",
        "stage.init.part_detector=/x/best.ckpt",
        "model.spatial_graph.mode=full",
        "+trainer.max_epochs=3",
        "data=lsp",
        "hydra.verbose=true",
    ]
    assert short_overrides(overrides) == "mode=full,max_epochs=3,data=lsp"
    long = short_overrides([f"model.k{i}={i * 1000}" for i in range(20)], max_len=40)
    assert len(long) == 40 and "~" in long
    assert short_overrides([]) == ""


def test_flatten_and_summary_values() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": {},
    }
    values = summary_values(
        {
            "stage": "joint",
            "pck@0.2": 0.5,
            "parts@0.2": {"wrist": 0.25, "knee": None},
            "best/val_pck@0.2": 0.4,
            "minutes": 1.5,
            "curve": {"thresholds": [0.1]},
        }
    )
    assert values == {
        "test/pck@0.2": 0.5,
        "test/parts@0.2/wrist": 0.25,
        "best/val_pck@0.2": 0.4,
        "run/minutes": 1.5,
    }


def _wandb_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    return cfg.logger.wandb


def test_offline_by_default_and_one_switch_goes_online(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    default = _wandb_cfg(["stage=spatial", "name=exp"])
    assert default.offline is True and default.log_model is False
    assert default.group == "exp" and default.job_type == "spatial"
    assert default.name == "exp-spatial"  # outside a Hydra job: no override suffix

    online = _wandb_cfg(
        ["logger.wandb.offline=false", f"logger.wandb.save_dir={tmp_path}",
         f"logger.wandb.run_dir={tmp_path / 'run'}"]
    )  # fmt: skip
    assert online.offline is False and online.log_model is True  # best checkpoint uploaded

    monkeypatch.setenv("WANDB_MODE", "online")
    assert _wandb_cfg([]).offline is False

    # the online config builds a logger (the W&B run itself starts lazily, never here)
    from hydra.utils import instantiate

    logger = instantiate(OmegaConf.to_container(online, resolve=True))
    assert logger._offline is False and logger._log_model is True
