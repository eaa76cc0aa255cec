"""``python -m posehybrid.train stage=part_detector|spatial|joint [overrides]``.

Thin Hydra entry point; the work is in :mod:`posehybrid.training` and :mod:`posehybrid.pipeline`.
Returns the optimised metric so Optuna sweeps can use it; in a multirun a failing job is logged
to its ``error.txt`` and the sweep goes on (:mod:`posehybrid.utils.sweeps`).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*} resolvers)

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def train(cfg: DictConfig) -> float | None:
    """One stage (training its missing upstream stages first); returns the optimised metric."""
    from posehybrid.pipeline import finish_pipeline
    from posehybrid.training import run_stage
    from posehybrid.utils.runtime import tune_allocator

    tune_allocator()
    from posehybrid.utils.sweeps import objective

    metrics = run_stage(cfg)
    finish_pipeline(cfg, metrics)
    return objective(metrics, cfg.get("optimized_metric"))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    from posehybrid.utils.sweeps import run_guarded

    return run_guarded(cfg, train)


if __name__ == "__main__":
    main()
