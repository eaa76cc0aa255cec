"""``loader_vs_train``: the training DataLoader's images/s (augmentation on, 1 worker) over the
part detector's training images/s with 1 thread, at the defaults (``data=synthetic``,
``model=small``, batch 32, ``cache_images=true``).

The loader is the DataModule's own ``train_dataloader()`` (persistent worker). Its first epoch
decodes every JPEG and is reported separately as ``cold``; the figure uses later epochs (what
29 of the default 30 epochs see: images cached in the worker, augmentation and target rendering
on every sample). Each repeat times one whole loader epoch (after its first batch, so worker
wake-up is excluded) and then a few 1-thread training steps on batches from that loader.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from benchmarks.common import Settings, compose_cfg, figure, load_avg, num_threads, ratios, timed
from posehybrid.modules.load import build_module
from posehybrid.modules.part_detector import PartDetectorModule


def epoch_images_per_s(loader: torch.utils.data.DataLoader) -> float:
    """Images/s over one epoch, timed from the arrival of the first batch."""
    it = iter(loader)
    first = next(it)
    start = time.perf_counter()
    n = 0
    for batch in it:
        n += len(batch["image"])
    elapsed = time.perf_counter() - start
    del first
    return n / elapsed


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    quick = settings.quick
    overrides = ["data=synthetic", "model=small"]
    if quick:
        overrides += ["data.n_images=48", "data.batch_size=4"]
    cfg = compose_cfg(overrides, settings)
    load_start = load_avg()
    dm = instantiate(cfg.data, codec=instantiate(cfg.model.codec))
    dm.prepare_data()  # generates the synthetic set once (cached under data_dir)
    dm.setup("fit")
    loader = dm.train_dataloader()
    reps, steps = (2, 1) if quick else (3, 4)
    cold = epoch_images_per_s(loader)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    torch.manual_seed(0)
    module = build_module(PartDetectorModule, model_cfg, joint_set=cfg.data.joint_set)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    batches = [b for _, b in zip(range(steps + 1), loader, strict=False)]
    module.train()

    def train_step(batch: dict[str, torch.Tensor]) -> None:
        opt.zero_grad(set_to_none=True)
        module.loss(module.heatmaps(batch["image"]), batch).backward()
        opt.step()

    load_img: list[float] = []
    train_img: list[float] = []
    with num_threads(1):
        train_step(batches[0])  # warm-up: Adam state, oneDNN primitives
        for _ in range(reps):
            load_img.append(epoch_images_per_s(loader))
            times = [timed(lambda b=b: train_step(b)) for b in batches[1:]]
            train_img.append(dm.batch_size * len(times) / sum(times))
    config = {
        "data": cfg.data.name,
        "n_images": int(cfg.data.n_images),
        "train_images": len(dm.datasets["train"]),
        "batch": dm.batch_size,
        "num_workers": dm.num_workers,
        "augment": bool(cfg.data.augment.enabled),
        "cache_images": bool(cfg.data.cache_images),
        "input_size_wh": list(dm.input_size),
        "model": "small",
        "train_threads": 1,
        "train_step": "zero_grad + forward + MSE + backward + Adam",
        "loader_epochs": "warm (images cached in the persistent worker)",
    }
    details = {
        "loader_img_s": load_img,
        "train_img_s_1thread": train_img,
        "loader_img_s_cold_first_epoch": cold,
        "cold_vs_train": cold / (sum(train_img) / len(train_img)),
    }
    del batches, loader  # shuts the persistent worker down
    fig = figure(ratios(load_img, train_img), "x", config, target=(">=", 5.0), details=details,
                 load_start=load_start, threads=1)  # fmt: skip
    return {"loader_vs_train": fig}
