"""The spatial stage's heat-map cache (``stage.cache_heatmaps``): the frozen detector runs on
each training and validation sample once, in the first epoch; later epochs train the spatial
model on exactly the maps it gave, and the test split is never served from the cache."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from posehybrid.modules.load import build_module
from posehybrid.modules.spatial import SpatialModule
from tests.modules.fitting import quiet_trainer, toy_samples
from tests.test_export import tiny_model_cfg

N_TRAIN, N_VAL, BATCH = 6, 4, 2


def _cached_module() -> tuple[SpatialModule, list[int]]:
    module = build_module(
        SpatialModule,
        tiny_model_cfg(),
        joint_set="lsp",
        optimizer=partial(torch.optim.Adam, lr=1e-3),
        cache_heatmaps=True,
    )
    calls: list[int] = []  # the batch size of every detector forward
    module.detector.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))
    return module, calls


def _fit(module: SpatialModule, tmp_path: Path, epochs: int) -> None:
    trainer = quiet_trainer(tmp_path, max_epochs=epochs)
    train = DataLoader(toy_samples(N_TRAIN), batch_size=BATCH, shuffle=True)
    val = DataLoader(toy_samples(N_VAL), batch_size=BATCH)
    trainer.fit(module, train, val)


def test_the_detector_runs_once_per_sample_and_later_epochs_read_its_maps(tmp_path: Path) -> None:
    module, calls = _cached_module()
    _fit(module, tmp_path, epochs=3)
    # epoch 1: every training and validation sample once; epochs 2 and 3: none
    assert sum(calls) == N_TRAIN + N_VAL
    assert sorted(module._cache["train"]) == list(range(N_TRAIN))
    assert sorted(module._cache["val"]) == list(range(N_VAL))
    # the cached maps are the frozen detector's own (eval mode, no augmentation)
    images = torch.stack([b["image"] for b in toy_samples(N_TRAIN)])
    module.detector.eval()
    with torch.no_grad():
        expected = module.detector(images)
    cached = torch.stack([module._cache["train"][i] for i in range(N_TRAIN)])
    torch.testing.assert_close(cached, expected)


def test_the_test_split_always_runs_the_detector(tmp_path: Path) -> None:
    module, calls = _cached_module()
    batch = {k: v.unsqueeze(0) for k, v in toy_samples(1)[0].items()}
    module.batch_heatmaps(batch, "test")
    module.batch_heatmaps(batch, "test")
    assert calls == [1, 1] and "test" not in module._cache


def test_without_the_cache_every_epoch_runs_the_detector(tmp_path: Path) -> None:
    module, calls = _cached_module()
    module.cache_heatmaps = False
    _fit(module, tmp_path, epochs=2)
    assert sum(calls) == 2 * (N_TRAIN + N_VAL)
