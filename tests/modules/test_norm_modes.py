"""Which batch-norm layers update their statistics when Lightning itself runs the fit.

Lightning (2.2+) never calls ``train()`` at fit start; it keeps the modes a module arrives
with and restores them after each validation. So only a real ``trainer.fit`` shows whether a
frozen detector's statistics stay frozen: calling ``module.train()`` by hand does not. The
intended eval-mode parts do not raise Lightning's "modules in eval mode" warning.
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from posehybrid.modules.joint import JointModule
from posehybrid.modules.load import build_module
from posehybrid.modules.spatial import SpatialModule
from tests.modules.fitting import quiet_trainer, toy_samples
from tests.test_export import tiny_model_cfg

STEPS = 4


def _tracked(module: SpatialModule) -> list[int]:
    return [
        int(m.num_batches_tracked)
        for m in module.detector.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    ]


@pytest.mark.parametrize(
    ("cls", "settings", "frozen"),
    [
        (SpatialModule, {}, True),
        (JointModule, {"detector_norm_eval": True}, True),
        (JointModule, {"detector_norm_eval": False}, False),
    ],
)
def test_fit_freezes_exactly_the_norm_layers_it_should(
    tmp_path: Path, cls: type[SpatialModule], settings: dict, frozen: bool
) -> None:
    cfg = tiny_model_cfg()
    cfg["part_detector"]["norm"] = {"_target_": "torch.nn.BatchNorm2d", "_partial_": True}
    groups = {"detector": {"lr": 1e-3}, "spatial": {"lr": 1e-3}}
    extra = {"param_groups": groups} if cls is JointModule else {}
    module = build_module(
        cls,
        cfg,
        joint_set="lsp",
        optimizer=partial(torch.optim.Adam, lr=1e-3),
        **settings,
        **extra,
    )
    before = _tracked(module)
    assert before and module.detector.training  # as built: nn.Module's default, train mode
    trainer = quiet_trainer(
        tmp_path,
        max_steps=STEPS,
        val_check_interval=2,  # a validation mid-fit: its mode restore must keep the freeze
        limit_val_batches=1,
        num_sanity_val_steps=1,
    )
    data = toy_samples(2 * STEPS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, DataLoader(data, batch_size=2), DataLoader(data[:2], batch_size=2))
    # the frozen parts are intended: Lightning's "modules in eval mode" warning is not shown
    assert not [w for w in caught if "in eval mode at the start of training" in str(w.message)]
    after = _tracked(module)
    assert trainer.global_step == STEPS
    expected = before if frozen else [b + STEPS for b in before]
    assert after == expected
    assert module.spatial.training
