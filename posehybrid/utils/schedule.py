"""How many optimiser steps a stage will take, and the warning when that is too few: the
recipes are measured in steps (``steps:`` in ``conf/train.yaml``), not epochs, so a small
dataset must not silently shrink a schedule to a few hundred steps."""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger("posehybrid.training")


def world_size(cfg: DictConfig) -> int:
    """Processes training together: ``trainer.devices`` (a count or a list) x ``num_nodes``
    (``auto`` counts as one: the default trainer config asks for one device)."""
    devices = cfg.trainer.devices
    if isinstance(devices, int):
        n = max(1, devices)
    elif OmegaConf.is_list(devices) or isinstance(devices, list):
        n = max(1, len(devices))
    else:
        n = 1
    return n * max(1, int(cfg.trainer.num_nodes))


def batches_per_epoch(cfg: DictConfig, n_train: int) -> int:
    """Training batches of one epoch on each process (the loader drops the last partial batch
    unless the split is smaller than a batch; under DDP each rank gets 1/world of the split),
    after ``trainer.limit_train_batches``."""
    n = max(1, n_train // world_size(cfg) // int(cfg.data.batch_size))
    limit = cfg.trainer.get("limit_train_batches")
    if isinstance(limit, int):
        n = min(n, limit)
    elif isinstance(limit, float):
        n = max(1, int(n * limit))
    return n


def planned_steps(cfg: DictConfig, n_train: int) -> int:
    """Optimiser steps this stage will take: ``trainer.max_steps``, capped by
    ``trainer.max_epochs`` when that is set (-1: no limit)."""
    per_epoch = batches_per_epoch(cfg, n_train)
    steps = int(cfg.trainer.max_steps)
    epochs = int(cfg.trainer.max_epochs)
    if epochs > 0:
        steps = epochs * per_epoch if steps < 0 else min(steps, epochs * per_epoch)
    return steps


def plan_schedule(cfg: DictConfig, n_train: int) -> None:
    """Warn when the run takes fewer optimiser steps than ``warn_below_steps`` (the recipes were
    measured in steps; a short schedule on a small dataset trains little), and let a run that
    is shorter than one ``trainer.val_check_interval`` validate once an epoch instead of never.
    """
    steps = planned_steps(cfg, n_train)
    interval = cfg.trainer.val_check_interval
    if isinstance(interval, int) and 0 <= steps < interval:
        with open_dict(cfg):
            cfg.trainer.val_check_interval = min(batches_per_epoch(cfg, n_train), max(steps, 1))
    if 0 <= steps < int(cfg.warn_below_steps):
        log.warning(
            "stage %s: only %d optimiser steps planned (%d training images, batch %d); the "
            "recipes were measured with >= %d: raise trainer.max_steps",
            cfg.stage.name,
            steps,
            n_train,
            int(cfg.data.batch_size),
            int(cfg.warn_below_steps),
        )
