"""``python -m posehybrid.train stage=part_detector|spatial|joint [overrides]``.

Thin Hydra entry point; the work is in :mod:`posehybrid.training` and :mod:`posehybrid.pipeline`.
Returns the optimised metric so Optuna sweeps can use it.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*} resolvers)

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    from posehybrid.pipeline import finish_pipeline
    from posehybrid.training import run_stage

    metrics = run_stage(cfg)
    finish_pipeline(cfg, metrics)
    key = str(cfg.get("optimized_metric") or "test/pck@0.2").removeprefix("test/")
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) else None


if __name__ == "__main__":
    main()
