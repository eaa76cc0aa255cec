"""Scale-out: Lightning DDP with 2 CPU processes (gloo) under Hydra, the submitit local launcher,
and the SLURM launcher config.

Training: 2 processes with batch 2 each train on exactly the samples, in the same global
batches, of 1 process with batch 4 (``EpochSampler`` splits one global order between the
ranks, augmentation is keyed on the sample), so the weights end equal to float tolerance, for
the detector and the spatial stage; a DDP run stopped by SIGTERM mid-epoch and resumed under DDP
ends there too, with every rank restored (each rank's final weights are compared).

The PCK metric's states are sums (and each image's counts, gathered), so DDP must reproduce the
single-process numbers exactly: the DDP run's test metrics (of its best checkpoint) are
compared with the same checkpoint evaluated by single-process jobs, launched as a 2-job
multirun through ``hydra/launcher=submitit_local`` (batch sizes 4 and 8: evaluation must not
depend on them either). 16 test images = 8 per rank in full batches of 4, so the
DistributedSampler adds no padding duplicates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from posehybrid.utils.checkpoint import load_checkpoint
from tests.reliability.conftest import interrupt, run_train_inprocess
from tests.workflow.conftest import REPO, TINY, TinyPipeline, train, workflow_env

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
    # each image's counts, gathered from both ranks (the paired intervals read them)
    ddp_images = json.loads((ddp_run / "test_per_image.json").read_text())
    assert ddp_images["index"] == list(range(16))
    for job in jobs:
        single = json.loads((job / "metrics.json").read_text())
        for key in COMPARED:
            assert single[key] == ddp[key], f"{key}: single {single[key]} != DDP {ddp[key]}"
        assert json.loads((job / "test_per_image.json").read_text()) == ddp_images


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


# ----------------------------------------------------------------------------- DDP training
# 32 images: 16 train - 4 val = 12, so 3 global batches of 4 an epoch, 2 epochs = 6 steps
# (validation after steps 3 and 6). Every joint weighted and no augmentation: each rank
# normalises its loss by its own weighted joints, so only with equal counts per rank is the
# average of the ranks' gradients the one-process gradient. No batch norm: its statistics
# are per rank (SyncBatchNorm needs GPUs). fp32 pinned: bf16 rounding (the default on CPUs
# with native bf16) differs between a batch of 4 and two of 2 beyond any fp32 tolerance.
DDP_TRAIN = [
    "data.n_images=32", "data.val_size=4", "data.num_workers=0", "trainer.max_epochs=2",
    "trainer.precision=32-true",
    "data.augment.enabled=false", "data.target_weight=annotated",
    "model.part_detector.norm=null", "model.spatial.kernel_size=15",
    "model.spatial_graph.mode=tree", "trainer.deterministic=true", "threads=1", "seed=7",
    "logger=csv", "~callbacks.visualise", "~callbacks.rich_progress_bar",
    "+trainer.enable_progress_bar=false",
]  # fmt: skip
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "data.batch_size=2"]
DUMP = "+callbacks.dump._target_=tests.reliability.interrupt.DumpWeights"


def _run_dir(log_dir: Path, name: str, stage: str, index: int = -1) -> Path:
    return sorted((log_dir / name / stage).iterdir())[index]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], exact: bool) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if exact:
            torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=key)
        else:
            # float32 sums in another order (the all-reduce), which Adam's normalised step can
            # turn into a difference of ~1e-5 of the tensor's scale for a near-zero gradient
            # (measured: 1 of 9450 spatial kernel weights, 1.1e-4 at a scale of 18)
            scale = float(a[key].abs().max()) if a[key].numel() else 0.0
            atol = max(1e-6, 1e-5 * scale)
            torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=atol, msg=key)


@pytest.fixture(scope="module")
def ddp_training(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One process (in this process) and DDP (2 gloo processes) train the detector, then the
    spatial stage from the one-process detector; a DDP detector run is stopped mid-epoch by
    SIGTERM and resumed under DDP."""
    home = tmp_path_factory.mktemp("ddp_train")
    log_dir, env = home / "outputs", workflow_env(home)
    env.pop("HYDRA_FULL_ERROR")
    common = [*DDP_TRAIN, f"paths.log_dir={log_dir}", f"paths.data_dir={home / 'data'}"]
    mp = pytest.MonkeyPatch()

    class Capture:  # run_train_inprocess wants capsys; a module fixture cannot have it
        def readouterr(self):
            return type("Out", (), {"err": ""})()

    out: dict[str, Path] = {}
    try:
        for stage in ("part_detector", "spatial"):
            init = []
            if stage == "spatial":
                init = [f"stage.init.part_detector={out['single_part_detector'] / 'checkpoints' / 'best.ckpt'}"]  # fmt: skip
            args = [f"stage={stage}", *common, *init, "data.batch_size=4", "name=single"]
            code, err = run_train_inprocess(args, mp, Capture())
            assert code == 0, err
            out[f"single_{stage}"] = _run_dir(log_dir, "single", stage)
            dump = [DUMP, f"+callbacks.dump.dirpath={home / f'dump_{stage}'}"]
            train([f"stage={stage}", *common, *init, *DDP, *dump, "name=ddp"], env)
            out[f"ddp_{stage}"] = _run_dir(log_dir, "ddp", stage)
            out[f"dump_{stage}"] = home / f"dump_{stage}"
        stopped = [*common, *DDP, "name=ddp_resume", "stage=part_detector"]
        proc = train([*stopped, *interrupt("train", "SIGTERM", 1)], env, check=False)
        assert proc.returncode == 143, proc.stderr[-3000:]
        out["stopped"] = _run_dir(log_dir, "ddp_resume", "part_detector")
        dump = [DUMP, f"+callbacks.dump.dirpath={home / 'dump_resumed'}"]
        train([*stopped, *dump, "resume=auto"], env)
        out["resumed"] = _run_dir(log_dir, "ddp_resume", "part_detector")
        out["dump_resumed"] = home / "dump_resumed"
    finally:
        mp.undo()
        for key in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
            os.environ.pop(key, None)
    return out


@pytest.mark.parametrize("stage", ["part_detector", "spatial"])
def test_ddp_training_equals_one_process_on_the_same_global_batch(ddp_training, stage) -> None:
    single = ddp_training[f"single_{stage}"] / "checkpoints" / "last.ckpt"
    ddp = ddp_training[f"ddp_{stage}"] / "checkpoints" / "last.ckpt"
    assert load_checkpoint(single)["global_step"] == load_checkpoint(ddp)["global_step"] == 6
    after = _weights(ddp)
    _assert_close(_weights(single), after, exact=False)
    if stage == "spatial":  # the frozen detector is exactly the one given
        given = _weights(ddp_training["single_part_detector"] / "checkpoints" / "best.ckpt")
        _assert_close(given, {k: after[k] for k in given}, exact=True)
    dumps = ddp_training[f"dump_{stage}"]
    rank0, rank1 = (_weights(dumps / f"weights_rank{r}.pt") for r in (0, 1))
    _assert_close(rank0, rank1, exact=True)  # the ranks never drift apart
    _assert_close(rank0, after, exact=True)


def test_ddp_resume_restores_every_rank(ddp_training) -> None:
    stopped = load_checkpoint(ddp_training["stopped"] / "checkpoints" / "last.ckpt")
    assert stopped["global_step"] == 2  # mid-epoch: batch 2 of 3 of epoch 0
    assert not (ddp_training["stopped"] / "metrics.json").exists()
    resumed = ddp_training["resumed"]
    assert json.loads((resumed / "metrics.json").read_text())["resumed_from"] == str(
        ddp_training["stopped"] / "checkpoints" / "last.ckpt"
    )
    dumps = ddp_training["dump_resumed"]
    rank0, rank1 = (_weights(dumps / f"weights_rank{r}.pt") for r in (0, 1))
    _assert_close(rank0, rank1, exact=True)  # rank 1 restored weights and optimiser state too
    reference = _weights(ddp_training["ddp_part_detector"] / "checkpoints" / "last.ckpt")
    _assert_close(reference, rank0, exact=True)  # same as the uninterrupted DDP run
