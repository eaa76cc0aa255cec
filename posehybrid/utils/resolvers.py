"""Every ``${ph.*}`` OmegaConf resolver the configs use, registered in one place, on import.

Every entry point imports this module (``posehybrid/__init__.py`` does too, so any
``python -m posehybrid.<x>`` has them) before Hydra composes a config: a resolver that is
registered only by a module some entry point happens not to import breaks
``--cfg job --resolve`` with ``UnsupportedInterpolationType``.

Kept light to import (omegaconf and the standard library only): it runs before every command.

| resolver | used by | value |
|---|---|---|
| ``ph.wandb_offline`` | conf/logger/wandb.yaml | True unless ``WANDB_MODE=online`` |
| ``ph.not`` | conf/logger/wandb.yaml | logical not (``log_model``: only online) |
| ``ph.run_suffix`` | conf/logger/wandb.yaml | ``-mode=full,lr=0.01``: the short task overrides |
| ``ph.ckpt_experiment`` | eval/predict/export.yaml | the experiment name of a checkpoint's run |
| ``ph.first_set`` | predict/export.yaml | the first argument that is neither null nor empty |
| ``ph.config_groups`` | eval/predict/export.yaml (``--help``) | the options of some config groups |
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from posehybrid.utils.loggers import negate, run_suffix

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def wandb_offline() -> bool:
    """Offline unless the user's W&B environment asks for online (WANDB_MODE=online)."""
    return os.environ.get("WANDB_MODE", "offline").lower() != "online"


def experiment_of(ckpt: object) -> str:
    """The experiment name of a checkpoint's training run (its ``.hydra/config.yaml``), so
    ``eval``/``predict``/``export`` outputs land next to the run's stages; ``default`` when
    unknown."""
    if not ckpt:
        return "default"
    # <run>/checkpoints/best.ckpt -> <run>
    config = Path(str(ckpt)).expanduser().resolve().parent.parent / ".hydra" / "config.yaml"
    try:
        name = OmegaConf.load(config).get("name")
    except Exception:  # missing/odd file: the name only picks an output folder
        return "default"
    return str(name) if isinstance(name, str) and name else "default"


def first_set(*values: object) -> object:
    """The first argument that is neither None nor empty (``output`` before the default dir)."""
    return next((v for v in values if v not in (None, "")), None)


def config_groups(*groups: str) -> str:
    """``--help`` text: one line per config group that applies, with its options, e.g.
    ``data: flic, lsp, lsp_full, lspet, synthetic, synthetic_flic``."""
    lines = []
    for group in groups:
        folder = CONFIG_DIR / str(group)
        options = sorted(p.stem for p in folder.glob("*.yaml") if p.stem != "base")
        lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)


RESOLVERS = {
    "ph.wandb_offline": wandb_offline,
    "ph.not": negate,
    "ph.run_suffix": run_suffix,
    "ph.ckpt_experiment": experiment_of,
    "ph.first_set": first_set,
    "ph.config_groups": config_groups,
}


def register() -> None:
    """Register every resolver of :data:`RESOLVERS` (idempotent)."""
    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register()
