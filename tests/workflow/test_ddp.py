"""Scale-out: Lightning DDP with 2 CPU processes (gloo) under Hydra, the submitit local launcher,
and the SLURM launcher config.

The PCK metric's states are sums, so DDP must reproduce the single-process numbers exactly: the
DDP run's test metrics (of its best checkpoint) are compared with the same checkpoint evaluated
by single-process jobs, launched as a 2-job multirun through ``hydra/launcher=submitit_local``
(batch sizes 4 and 8: evaluation must not depend on them either). 16 test images = 8 per rank
in full batches of 4, so the DistributedSampler adds no padding duplicates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.workflow.conftest import REPO, TINY, TinyPipeline, train

COMPARED = ("pck@0.1", "pck@0.2", "parts@0.2", "joints@0.2", "curve")


@pytest.fixture(scope="module")
def ddp_run(tiny_pipeline: TinyPipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One part-detector epoch under DDP (2 processes), started from the tiny detector."""
    log_dir = tmp_path_factory.mktemp("ddp")
    train(
        [
            "stage=part_detector",
            "name=ddp",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            f"+stage.init.part_detector={tiny_pipeline.checkpoint('part_detector')}",
            *TINY,
            "trainer.limit_train_batches=1",
            # 14 train images = 7 per rank: batch 4 (per device) leaves one full batch each
            "data.batch_size=4",
            *tiny_pipeline.paths(log_dir),
        ],
        tiny_pipeline.env,
    )
    (run,) = list((log_dir / "ddp" / "part_detector").iterdir())
    return run


def test_ddp_children_write_into_the_parents_run_dir(ddp_run: Path) -> None:
    # Lightning relaunches the script with hydra.run.dir=<the parent's run dir>
    assert (ddp_run / "train_ddp_process_1.log").is_file()
    assert (ddp_run / "checkpoints" / "best.ckpt").is_file()
    cfg = OmegaConf.load(ddp_run / ".hydra" / "config.yaml")
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2
    assert len(list((ddp_run / "wandb").glob("offline-run-*"))) == 1  # rank 0 only


def test_ddp_pck_equals_single_process(
    ddp_run: Path, tiny_pipeline: TinyPipeline, tmp_path: Path
) -> None:
    ddp = json.loads((ddp_run / "metrics.json").read_text())
    checkpoint = ddp["best_checkpoint"]
    train(
        [
            "-m",
            "hydra/launcher=submitit_local",
            "stage=part_detector",
            "name=single",
            "logger=none",
            f"+stage.init.part_detector={checkpoint}",
            *TINY,
            "data.batch_size=4,8",
            "trainer.limit_train_batches=0",  # evaluation only: test the given weights
            "trainer.limit_val_batches=0",
            *tiny_pipeline.paths(tmp_path),
        ],
        tiny_pipeline.env,
    )
    (sweep,) = list((tmp_path / "single" / "multirun").iterdir())
    assert list((sweep / ".submitit").iterdir()), "submitit did not launch the jobs"
    jobs = sorted((sweep / "part_detector").iterdir())
    assert len(jobs) == 2
    for job in jobs:
        single = json.loads((job / "metrics.json").read_text())
        for key in COMPARED:
            assert single[key] == ddp[key], f"{key}: single {single[key]} != DDP {ddp[key]}"


def test_slurm_launcher_config_composes() -> None:
    """``hydra=submitit_slurm`` (documented in the README) selects the SLURM launcher and asks
    for one task per device, as Lightning's SLURM environment expects."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "hydra=submitit_slurm",
                "trainer=ddp",
                "trainer.devices=4",
                "paths.root_dir=/x",
            ],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.tasks_per_node == 4 and launcher.gpus_per_node == 4 and launcher.nodes == 1
    assert cfg.hydra.sweep.dir.startswith("/x/outputs/default/multirun/")  # our layout is kept
    assert launcher.submitit_folder.endswith(".submitit/%j")
