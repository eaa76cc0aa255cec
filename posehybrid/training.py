"""Run one stage: build data, module, trainer from the config; fit; test the best checkpoint;
write ``metrics.json``. The Hydra entry point (:mod:`posehybrid.train`) stays thin."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from omegaconf import DictConfig, OmegaConf, open_dict

from posehybrid.callbacks.checkpointing import StageClock
from posehybrid.callbacks.data_record import DataFingerprint
from posehybrid.callbacks.model_record import ModelRecord
from posehybrid.metrics.per_image import per_image_to_json
from posehybrid.pipeline import resolve_upstream
from posehybrid.provenance import data_identity, fingerprint
from posehybrid.utils.checkpoint import (
    CheckpointError,
    best_checkpoints,
    expect_checkpoint,
    expect_model_config,
)
from posehybrid.utils.io import atomic_write_json
from posehybrid.utils.loggers import finalize_loggers, log_run_config
from posehybrid.utils.resume import (
    mark_resumed,
    prepare_wandb_resume,
    resumed_by,
    save_wandb_id,
    was_resumed,
)
from posehybrid.utils.runs import PER_IMAGE, RunBusyError, hold_run, run_holder, unfinished_runs
from posehybrid.utils.schedule import plan_schedule
from posehybrid.utils.validate import check_output_dir, preflight

__all__ = ["check_output_dir", "resume_path", "run_stage"]

log = logging.getLogger(__name__)


def set_threads(threads: int | None) -> None:
    n = int(threads) if threads else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config group (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def build_module(cfg: DictConfig) -> pl.LightningModule:
    """The stage's module, with the models Hydra builds from ``conf/model`` passed in
    (``stage.module``'s ``codec``, ``detector`` and ``spatial`` interpolate them)."""
    return instantiate(cfg.stage.module)


def _busy(run: Path, output_dir: Path) -> str | None:
    """Why ``run`` must not be continued now: it, or the run continuing it, is alive."""
    holder = run_holder(run)
    if holder:
        return f"{run} is still running (pid {holder['pid']} on {holder['host']})"
    by = resumed_by(run)
    if by is not None and by.resolve() != output_dir.resolve():  # a DDP rank > 0: our own
        holder = run_holder(by)
        if holder:
            return f"{run} is being continued by {by} (pid {holder['pid']} on {holder['host']})"
    return None


def resume_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint to resume from: ``ckpt_path=PATH``, or ``resume=auto`` / ``ckpt_path=last``
    (this stage's newest run in the experiment that saved ``last.ckpt``, never finished, and
    was not continued by another run already). A run that is still alive, or is being
    continued by a live run, is refused (RunBusyError), never continued a second time."""
    wanted = cfg.ckpt_path or cfg.resume
    if not wanted:
        return None
    if str(wanted) in ("auto", "last"):
        for run in reversed(unfinished_runs(cfg.paths.experiment_dir, cfg.stage.name)):
            if run.resolve() == output_dir.resolve() or was_resumed(run):
                continue
            busy = _busy(run, output_dir)
            if busy:
                raise RunBusyError(
                    f"resume={wanted}: the newest unfinished {cfg.stage.name} run {busy}; let "
                    f"it finish or stop it (SIGTERM saves a checkpoint), then resume"
                )
            last = run / "checkpoints" / "last.ckpt"
            log.info("resuming stage %s from %s", cfg.stage.name, last)
            return str(last)
        log.info(
            "resume=%s: no unfinished %s run to resume; starting fresh", wanted, cfg.stage.name
        )
        return None
    path = Path(str(wanted)).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path/resume={wanted}: no such checkpoint file ({path})")
    log.info("resuming stage %s from %s (given: %s)", cfg.stage.name, path, wanted)
    return str(path)


def _model_cfg(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg.model, resolve=True)  # type: ignore[return-value]


def check_resume(cfg: DictConfig, path: str | None) -> None:
    """Refuse a resume checkpoint that is unsafe, corrupt, of another stage, joint set or model
    config, or whose best checkpoint (copied, then tested at the end) is missing or corrupt,
    before any data or model is built (CheckpointError names the file and what is wrong)."""
    if path is None:
        return
    stage = get_class(cfg.stage.module._target_).stage_name  # part_detector_control: detector
    joint_set = str(cfg.data.joint_set)
    ckpt, info = expect_checkpoint(path, (stage,), joint_set)
    expect_model_config(path, info, _model_cfg(cfg))
    for best in best_checkpoints(ckpt):
        if Path(best).resolve() == Path(path).resolve():
            continue
        why = f"it is the best checkpoint of {path}, which the resumed run tests at the end"
        if not Path(best).is_file():
            raise CheckpointError(
                f"checkpoint {best}: missing; {why}. Resume another run or start fresh"
            )
        try:
            expect_checkpoint(best, (stage,), joint_set)
        except CheckpointError as err:
            raise CheckpointError(f"{err}; {why}") from None


# stage.init.<key>: which stages' checkpoints it takes, which model config keys must match
INIT_CHECKS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "part_detector": (("part_detector",), ("part_detector",)),  # the detector's weights only
    "spatial": (("spatial", "joint"), None),  # every model key (the whole state is loaded)
}


def check_inits(cfg: DictConfig) -> None:
    """The upstream checkpoints (``stage.init.*``): safe, of the right stage, joint set and
    model config, checked before the data is prepared (a mismatch would only show up as
    ``size mismatch`` when the module is built)."""
    requested = _model_cfg(cfg)
    for key, path in cfg.stage.init.items():
        if path:
            stages, model_keys = INIT_CHECKS[key]
            _, info = expect_checkpoint(path, stages, str(cfg.data.joint_set))
            expect_model_config(path, info, requested, model_keys)


def run_stage(cfg: DictConfig) -> dict[str, Any]:
    """Train and test one stage; returns the metrics written to ``metrics.json``.

    The run directory is locked (``run.lock``) while this process works in it, so
    ``resume=auto`` elsewhere never continues it; under DDP rank 0 holds the lock."""
    from lightning.pytorch.utilities import rank_zero_only

    output_dir = Path(cfg.paths.output_dir)
    preflight(cfg)  # bad config values, unwritable or full output dir: fail now
    lock = hold_run(output_dir) if rank_zero_only.rank == 0 else None
    try:
        return _run_stage(cfg, output_dir)
    finally:
        if lock is not None:
            lock.release()


def early_stopped(trainer: pl.Trainer) -> bool:
    """Whether an ``EarlyStopping`` callback ended the fit (not ``max_steps`` or an epoch cap):
    an equal-time ablation row that it ended is not rerun longer (``ablation_run``). Ask right
    after ``fit``: ``trainer.test(ckpt_path=...)`` restores the callbacks' state from the tested
    checkpoint, which for the best one of an early-stopped run says "not stopped"."""
    return any(
        callback.stopping_reason is not EarlyStoppingReason.NOT_STOPPED
        for callback in trainer.early_stopping_callbacks
    )


def checkpoint_to_test(choice: str, trainer: pl.Trainer, best: str, output_dir: Path) -> str:
    """The checkpoint a stage tests (``train.yaml: test_checkpoint``): ``last`` (written at the
    end of the fit), ``best`` (on validation), or ``auto``: the last when the run trained all
    ``trainer.max_steps`` (its schedule annealed), else the best (early stopping or an epoch
    cap ended it first). "" when there is none (the in-memory weights are tested). The value
    was checked at start-up (``utils/validate.py``)."""
    last = output_dir / "checkpoints" / "last.ckpt"
    completed = 0 < trainer.max_steps <= trainer.global_step
    if choice == "last" or (choice == "auto" and completed):
        return str(last) if last.is_file() else best
    return best


def _run_stage(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    resume = resume_path(cfg, output_dir)
    check_resume(cfg, resume)
    prepare_wandb_resume(cfg, resume)  # the W&B logger continues the resumed run's id
    set_threads(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True)
    resolve_upstream(cfg)
    check_inits(cfg)  # before the data is prepared
    started = time.time()  # after upstream: a stage's minutes are its own

    if cfg.stage.get("cache_heatmaps"):
        # Cached detector maps are only valid for un-augmented images (design §4, paper).
        with open_dict(cfg):
            cfg.data.augment.enabled = False
        log.info("stage.cache_heatmaps=true: training augmentation turned off")
    module = build_module(cfg)
    datamodule = instantiate(cfg.data, codec=module.codec)  # one codec: the model's
    datamodule.prepare_data()
    datamodule.setup("fit")
    plan_schedule(cfg, len(datamodule.datasets["train"]))

    clock = StageClock(started)  # the earlier parts' time rides along in the checkpoints
    identity = data_identity(cfg.data)
    data_print = DataFingerprint(fingerprint(identity), identity)
    record = ModelRecord(_model_cfg(cfg))  # what load_module rebuilds the models from
    callbacks = [*instantiate_group(cfg.get("callbacks")), clock, data_print, record]
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    log_run_config(loggers, cfg)
    save_wandb_id(loggers, output_dir)
    mark_resumed(resume, output_dir)  # resume=auto then continues this run, not the old one

    fit_started = time.time()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    fit_seconds = sum(clock.earlier_fit) + time.time() - fit_started  # all parts
    if trainer.interrupted:
        raise RuntimeError(
            f"stage {cfg.stage.name}: training was interrupted; rerun with resume=auto"
        )

    # Read before trainer.test: testing a checkpoint restores the callbacks' state saved in it,
    # and the best checkpoint of an early-stopped run predates the stop.
    stopped = early_stopped(trainer)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    tested = checkpoint_to_test(cfg.test_checkpoint, trainer, best, output_dir)
    trainer.test(module, datamodule=datamodule, ckpt_path=tested or None, weights_only=True)
    epochs = max(1, trainer.current_epoch)
    steps = max(1, trainer.global_step)
    parts = [*clock.earlier, time.time() - started]  # seconds of each run of this stage
    metrics: dict[str, Any] = {
        "stage": cfg.stage.name,
        "dataset": cfg.data.name,
        "experiment": cfg.name,
        # upstream lookups and the ablation table match runs by it (pipeline.py, ablation_run.py)
        "data_fingerprint": data_print.fingerprint,
        "data_identity": identity,
        **module.test_summary,
        "minutes": sum(parts) / 60.0,  # every part, start-up and test scoring included
        "minutes_parts": [p / 60.0 for p in parts],  # interrupted runs first, this one last
        "fit_minutes": fit_seconds / 60.0,  # every part: the control row's budget reads it
        "epochs": epochs,
        "epoch_seconds": fit_seconds / epochs,
        "steps": steps,
        # the budget it was given (the control's length: a later joint rerun reuses a control
        # only when this is still the equal-time length, ablation_run.earlier_control)
        "max_steps": int(trainer.max_steps),
        "early_stopped": stopped,
        "step_seconds": fit_seconds / steps,  # the control row's budget is read in steps
        "checkpoint": tested,  # what was tested: the next stage starts from it (run_checkpoint)
        "best_checkpoint": best,
        "init": OmegaConf.to_container(cfg.stage.init, resolve=True),
        "resumed_from": resume,
        "curve": module.test_curve,
    }
    if module.test_per_image is not None:  # before metrics.json: a finished run has both
        atomic_write_json(output_dir / PER_IMAGE, per_image_to_json(module.test_per_image))
    atomic_write_json(output_dir / "metrics.json", metrics)
    log.info(
        "stage %s: test pck@0.1=%.3f pck@0.2=%.3f (%s)",
        cfg.stage.name,
        metrics["pck@0.1"],
        metrics["pck@0.2"],
        output_dir / "metrics.json",
    )
    finalize_loggers(loggers, metrics)
    return metrics
