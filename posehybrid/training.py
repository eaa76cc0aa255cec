"""Run one stage: build data, module, trainer from the config; fit; test the best checkpoint;
write ``metrics.json``. The Hydra entry point (:mod:`posehybrid.train`) stays thin."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from posehybrid.pipeline import resolve_upstream
from posehybrid.utils.io import atomic_write_json
from posehybrid.utils.loggers import finalize_loggers, log_run_config
from posehybrid.utils.runs import unfinished_runs

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 200 * 1024**2


def check_output_dir(path: Path) -> None:
    """Fail at start-up, not after an hour of training, when outputs cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise RuntimeError(f"output directory {path} is not writable: {err.strerror}") from None
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        raise RuntimeError(
            f"output directory {path}: only {free / 1024**2:.0f} MiB free, "
            f"need at least {MIN_FREE_BYTES / 1024**2:.0f} MiB for checkpoints"
        )


def set_threads(threads: int | None) -> None:
    n = int(threads) if threads else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config group (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def build_module(cfg: DictConfig, datamodule: pl.LightningDataModule) -> pl.LightningModule:
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    # Partial first: the model config carries its own _target_s, which the module instantiates
    # itself; Hydra must not instantiate them recursively as module kwargs.
    factory = instantiate(cfg.stage.module, _partial_=True)
    module = factory(joint_set=cfg.data.joint_set, model_cfg=model_cfg)
    if cfg.stage.name == "spatial":
        # Priors come from the training keypoints after the inputs' geometric normalisation.
        module.init_priors(*datamodule.train_keypoints())
    return module


def resume_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint to resume from: ``ckpt_path=PATH``, or ``resume=auto`` / ``ckpt_path=last``
    (this stage's newest run in the experiment that saved ``last.ckpt`` but never finished)."""
    wanted = cfg.get("ckpt_path") or cfg.get("resume")
    if not wanted:
        return None
    if str(wanted) in ("auto", "last"):
        for run in reversed(unfinished_runs(cfg.paths.experiment_dir, cfg.stage.name)):
            if run.resolve() != output_dir.resolve():
                last = run / "checkpoints" / "last.ckpt"
                log.info("resuming stage %s from %s", cfg.stage.name, last)
                return str(last)
        log.info(
            "resume=%s: no unfinished %s run to resume; starting fresh", wanted, cfg.stage.name
        )
        return None
    if not Path(wanted).is_file():
        raise FileNotFoundError(f"ckpt_path/resume={wanted}: no such checkpoint file")
    return str(wanted)


def run_stage(cfg: DictConfig) -> dict[str, Any]:
    """Train and test one stage; returns the metrics written to ``metrics.json``."""
    output_dir = Path(cfg.paths.output_dir)
    check_output_dir(output_dir)
    set_threads(cfg.get("threads"))
    pl.seed_everything(cfg.seed, workers=True)
    resolve_upstream(cfg)
    started = time.time()  # after upstream: a stage's minutes are its own

    if cfg.stage.get("cache_heatmaps"):
        # Cached detector maps are only valid for un-augmented images (design §4, paper).
        with open_dict(cfg):
            cfg.data.augment.enabled = False
        log.info("stage.cache_heatmaps=true: training augmentation turned off")
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = build_module(cfg, datamodule)

    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    log_run_config(loggers, cfg)

    resume = resume_path(cfg, output_dir)
    fit_started = time.time()
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    fit_seconds = time.time() - fit_started
    if trainer.interrupted:
        raise RuntimeError(
            f"stage {cfg.stage.name}: training was interrupted; rerun with resume=auto"
        )

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    trainer.test(module, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
    epochs = max(1, trainer.current_epoch)
    metrics: dict[str, Any] = {
        "stage": cfg.stage.name,
        "dataset": cfg.data.name,
        "experiment": cfg.name,
        **module.test_summary,
        "minutes": (time.time() - started) / 60.0,
        "fit_minutes": fit_seconds / 60.0,
        "epochs": epochs,
        "epoch_seconds": fit_seconds / epochs,
        "best_checkpoint": best,
        "init": OmegaConf.to_container(cfg.stage.init, resolve=True),
        "resumed_from": resume,
        "curve": module.test_curve,
    }
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
