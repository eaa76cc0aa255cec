"""What the module tests fit with: a quiet CPU Lightning Trainer and toy sample dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch


def quiet_trainer(root: Path, **settings: Any) -> pl.Trainer:
    """``pl.Trainer`` on CPU without logger, checkpoints, progress bar, model summary or sanity
    validation, rooted at ``root``; ``settings`` add to or override those."""
    defaults: dict[str, Any] = {
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    return pl.Trainer(**{**defaults, **settings, "default_root_dir": root})


def toy_samples(n: int) -> list[dict[str, torch.Tensor]]:
    """``n`` random LSP samples as the DataModule yields them (64x64 image, 14 16x16 heat-maps,
    identity inverse affine), ``index`` 0..n-1; the same for a given ``n`` (seed 0)."""
    gen = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.rand(3, 64, 64, generator=gen),
            "heatmaps": torch.rand(14, 16, 16, generator=gen),
            "target_weight": torch.ones(14),
            "index": torch.tensor(i),
            "keypoints_orig": 64 * torch.rand(14, 2, generator=gen),
            "inv_affine": torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
            "annotated": torch.ones(14, dtype=torch.bool),
        }
        for i in range(n)
    ]
