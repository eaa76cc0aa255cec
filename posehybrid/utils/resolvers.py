"""OmegaConf resolvers used by the configs (registered once, on import)."""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def wandb_offline() -> bool:
    """Offline unless the user's W&B environment asks for online (WANDB_MODE=online)."""
    return os.environ.get("WANDB_MODE", "offline").lower() != "online"


def register() -> None:
    if not OmegaConf.has_resolver("ph.wandb_offline"):
        OmegaConf.register_new_resolver("ph.wandb_offline", wandb_offline)


register()
