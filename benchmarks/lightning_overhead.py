"""``lightning_overhead``: training throughput of ``PartDetectorModule`` under the Lightning
``Trainer`` divided by a plain PyTorch loop over the same module, data and optimizer.

Both sides: ``model=small``, batch 32, the same module instance, Adam(lr=1e-3) created afresh
per run, and the same in-memory batches (a few distinct ones, cycled) served by one
``DataLoader(batch_size=None)``. The plain loop calls ``module.heatmaps`` + ``module.loss``
(no ``self.log``: it needs a Trainer); Lightning runs the module's real ``training_step``, which
logs ``train/loss`` with ``on_step=True, on_epoch=True``. On the CPU that log is a detached
tensor kept for the epoch mean, not a host sync, so it is part of the overhead measured here.

Timing: every timed step on both sides, from the start of one step to the start of the next
(Lightning: a callback's ``on_train_batch_start``, then ``on_train_batch_end`` of the last
one; the plain loop: the same points of its own loop), for steps ``warmup`` to
``warmup + steps - 1``, so Trainer set-up, the first steps (Adam state, oneDNN primitives) and
teardown are excluded. A run's time is the median of its step times: on a shared VM a stolen
time slice lands on single steps, and one such step moved a 12-step total by up to 10 %, more
than the overhead measured. Lightning's per-step work (hooks, ``self.log``) is in every step,
so the median keeps it; nothing periodic runs in these steps (no logger, no progress bar,
no validation). The totals' ratios are kept in ``details.total_ratios``.

Runs are an interleaved A/B: one untimed pair first (imports, thread pool, allocator), then
Lightning, plain, Lightning, plain, ... for ``pairs`` >= 7 pairs. Each pair gives one ratio
(plain step / Lightning step = Lightning throughput / plain throughput); the figure is the
median of those ratios. A ratio spread wider than ±5 % around the median is reported as
"noisy" (``meets_target`` None): on a loaded machine a 0.95 target cannot be judged from it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import statistics
import time
import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from benchmarks.common import Settings, figure, load_avg, num_threads, ratios
from benchmarks.detector import sized_cfg
from posehybrid.modules.load import build_module
from posehybrid.modules.part_detector import PartDetectorModule


class _StepTimer(pl.Callback):
    """The start time of batches ``first`` .. ``last`` and the end time of ``last``."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.marks: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[override]
        if self.first <= batch_idx <= self.last:
            self.marks.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        if batch_idx == self.last:
            self.marks.append(time.perf_counter())


def step_seconds(marks: list[float]) -> list[float]:
    """Consecutive differences of ``steps + 1`` time marks: one duration per step."""
    return [b - a for a, b in itertools.pairwise(marks)]


def make_batches(cfg: dict[str, Any], batch: int, n: int, distinct: int = 4) -> list[dict]:
    """``n`` batches (``distinct`` different ones, cycled) with the training keys."""
    gen = torch.Generator().manual_seed(0)
    (w, h), (mw, mh) = cfg["input_size"], cfg["heatmap_size"]
    j = int(cfg["part_detector"]["num_joints"])
    pool = [
        {
            "image": torch.rand(batch, 3, h, w, generator=gen),
            "heatmaps": torch.rand(batch, j, mh, mw, generator=gen),
            "target_weight": torch.ones(batch, j),
        }
        for _ in range(distinct)
    ]
    return [pool[i % distinct] for i in range(n)]


def plain_run(
    module: PartDetectorModule, loader: DataLoader, warmup: int, steps: int
) -> list[float]:
    """Seconds of each of ``steps`` plain steps after ``warmup`` untimed ones."""
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    module.train()
    marks: list[float] = []
    for i, batch in enumerate(loader):
        if i >= warmup:
            marks.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        module.loss(module.heatmaps(batch["image"]), batch).backward()
        opt.step()
    marks.append(time.perf_counter())
    return step_seconds(marks)


def lightning_run(
    module: PartDetectorModule, loader: DataLoader, warmup: int, steps: int
) -> list[float]:
    """Seconds of each of the same steps under ``Trainer.fit`` (one epoch of
    ``warmup + steps``)."""
    timer = _StepTimer(warmup, warmup + steps - 1)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        max_steps=warmup + steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=loader)
    return step_seconds(timer.marks)


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    quick = settings.quick
    batch, warmup, steps, pairs = (4, 1, 2, 2) if quick else (32, 3, 16, 8)
    cfg = sized_cfg("small", settings, (64, 64) if quick else None)
    for name in ("lightning.pytorch", "lightning.fabric"):  # "GPU available: ..." banners
        logging.getLogger(name).setLevel(logging.WARNING)
    with num_threads(settings.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # num_workers / max_epochs advice
        load_start = load_avg()
        torch.manual_seed(0)
        optimizer = functools.partial(torch.optim.Adam, lr=1e-3)
        module = build_module(PartDetectorModule, cfg, joint_set="lsp", optimizer=optimizer)
        loader = DataLoader(make_batches(cfg, batch, warmup + steps), batch_size=None)
        lightning_run(module, loader, warmup, steps)  # untimed: first-call costs of each side
        plain_run(module, loader, warmup, steps)
        plain: list[list[float]] = []
        light: list[list[float]] = []
        for _ in range(pairs):  # A/B interleaved: load drift hits neighbouring runs alike
            light.append(lightning_run(module, loader, warmup, steps))
            plain.append(plain_run(module, loader, warmup, steps))
        plain_step = [statistics.median(run) for run in plain]
        light_step = [statistics.median(run) for run in light]
        config = {
            "model": "small",
            "batch": batch,
            "input_size_wh": cfg["input_size"],
            "optimizer": "Adam(lr=1e-3)",
            "data": "in memory, 4 distinct batches cycled, DataLoader(batch_size=None)",
            "warmup_steps": warmup,
            "timed_steps": steps,
            "pairs": pairs,
            "order": "1 untimed pair, then (Lightning, plain) x pairs",
            "ratio": "per pair: plain / Lightning median step time; figure: median over pairs",
            "max_spread": "±5 % of the median, else noisy",
            "trainer": "cpu, logger=False, no checkpointing/progress bar/model summary, "
                       "num_sanity_val_steps=0, limit_val_batches=0",
            "training_step_logs": "train/loss on_step=True on_epoch=True prog_bar=True",
            "threads": settings.threads,
        }  # fmt: skip
        details = {
            "plain_img_s": [batch / t for t in plain_step],
            "lightning_img_s": [batch / t for t in light_step],
            "overhead_ms_per_step": [1e3 * (b - a) for a, b in zip(plain_step, light_step, strict=True)],
            "total_ratios": ratios([sum(r) for r in plain], [sum(r) for r in light]),
            "plain_step_ms": [[1e3 * t for t in run] for run in plain],
            "lightning_step_ms": [[1e3 * t for t in run] for run in light],
        }  # fmt: skip
        fig = figure(ratios(plain_step, light_step), "fraction", config, target=(">=", 0.95),
                     details=details, load_start=load_start, max_spread=0.05)  # fmt: skip
    return {"lightning_overhead": fig}
