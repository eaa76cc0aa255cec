"""A Lightning Trainer for the module tests: CPU, nothing written or printed beyond the fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl


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
