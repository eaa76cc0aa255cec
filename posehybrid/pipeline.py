"""The three-stage pipeline: upstream resolution (like ``make`` prerequisites) and the ablation
table that ``make train stage=joint`` prints at the end.

Upstream stages run as their own ``python -m posehybrid.train`` processes, so each one gets its
own Hydra run directory and its own W&B run in the experiment's group.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from posehybrid.utils.io import atomic_write_json, atomic_write_text
from posehybrid.utils.runs import latest_run, read_metrics, run_dir_of

log = logging.getLogger(__name__)


class UpstreamError(RuntimeError):
    """An upstream stage's training process failed (its own error is on stderr above)."""


# Overrides that belong to the downstream run only and must not leak into upstream runs.
_LOCAL_OVERRIDES = ("stage", "hydra.", "resume", "ckpt_path", "ablation", "hparams_search")
ABLATION_PARTS = ("wrist", "elbow", "knee", "ankle")


def _inherited_overrides() -> list[str]:
    try:
        task = list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under Hydra (tests composing configs)
        return []
    return [o for o in task if not o.lstrip("+~").startswith(_LOCAL_OVERRIDES)]


def train_upstream(cfg: DictConfig, stage: str, extra: list[str] | None = None) -> None:
    """Train ``stage`` for this experiment in a child process with the same overrides."""
    cmd = [
        sys.executable,
        "-m",
        "posehybrid.train",
        f"stage={stage}",
        f"name={cfg.name}",
        f"paths.log_dir={cfg.paths.log_dir}",
        f"paths.data_dir={cfg.paths.data_dir}",
        *_inherited_overrides(),
        *(extra or []),
    ]
    log.info("upstream stage %s missing for experiment %r: training it first", stage, cfg.name)
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        raise UpstreamError(
            f"upstream stage {stage!r} of experiment {cfg.name!r} failed "
            f"(exit {result.returncode}); command: {' '.join(cmd)}"
        )


def resolve_upstream(cfg: DictConfig) -> None:
    """Fill ``cfg.stage.init.<stage>`` with the upstream checkpoints, training them if needed.

    The joint stage takes the detector from the spatial checkpoint (which holds both models);
    an explicit ``stage.init.part_detector`` replaces it.
    """
    experiment_dir = Path(cfg.paths.experiment_dir)
    init = cfg.stage.init
    for up in cfg.stage.get("upstream", []):
        if init.get(up):
            given = Path(str(init[up])).expanduser().resolve()  # report what is really read
            if not given.is_file():
                raise FileNotFoundError(
                    f"stage.init.{up}={init[up]}: no such checkpoint file ({given})"
                )
            log.info("stage %s: using %s checkpoint %s (given: %s)", cfg.stage.name, up, given,
                     init[up])  # fmt: skip
            init[up] = str(given)
            continue
        if cfg.stage.name == "joint" and up == "part_detector":
            continue
        run = latest_run(experiment_dir, up)
        if run is None:
            if not cfg.get("auto_upstream", True):
                raise FileNotFoundError(
                    f"no finished {up!r} run in {experiment_dir}; train it first "
                    f"(make train stage={up} ARGS='name={cfg.name}') or pass stage.init.{up}=PATH"
                )
            extra = []
            if up == "spatial" and init.get("part_detector"):
                extra.append(f"stage.init.part_detector={init.part_detector}")
            train_upstream(cfg, up, extra)
            run = latest_run(experiment_dir, up)
            if run is None:
                raise RuntimeError(
                    f"upstream stage {up!r} finished but left no checkpoint in {experiment_dir}"
                )
        init[up] = str(run / "checkpoints" / "best.ckpt")
        log.info("stage %s: using %s checkpoint %s", cfg.stage.name, up, init[up])


def _row(name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    parts = metrics.get("parts@0.2", {})
    return {
        "stage": name,
        "pck@0.1": metrics["pck@0.1"],
        "pck@0.2": metrics["pck@0.2"],
        "parts": {p: parts[p] for p in ABLATION_PARTS if p in parts},
        "minutes": metrics.get("minutes"),
    }


def ablation_markdown(table: dict[str, Any]) -> str:
    parts = [p for p in ABLATION_PARTS if any(p in r["parts"] for r in table["stages"])]
    head = ["stage", "PCK@0.1", "PCK@0.2", *[f"{p}@0.2" for p in parts], "minutes"]
    lines = [f"# Ablation: {table['experiment']}", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for r in table["stages"]:
        cells = [r["stage"], f"{r['pck@0.1']:.3f}", f"{r['pck@0.2']:.3f}"]
        cells += [f"{r['parts'].get(p, float('nan')):.3f}" for p in parts]
        cells.append(f"{r['minutes']:.1f}" if r.get("minutes") is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _run_control(cfg: DictConfig, detector_ckpt: str, rows: list[dict[str, Any]], pd: dict) -> None:
    """Train the detector on for as long as the spatial and joint stages took together."""
    extra_seconds = sum(60.0 * r["minutes"] for r in rows[1:])
    epochs = max(1, math.ceil(extra_seconds / max(pd.get("epoch_seconds", 1.0), 1e-3)))
    train_upstream(
        cfg,
        "part_detector",
        [
            "stage.name=part_detector_control",
            f"+stage.init.part_detector={detector_ckpt}",  # the detector stage has no init keys
            f"trainer.max_epochs={epochs}",
            f"stage.module.optimizer.lr={cfg.stage.get('detector_lr', 2e-4)}",
        ],
    )
    run = latest_run(Path(cfg.paths.experiment_dir), "part_detector_control")
    if run is not None:
        rows.append(_row("control (detector trained longer)", read_metrics(run)))


def finish_pipeline(cfg: DictConfig, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """After the joint stage: write ``ablation.json``/``ablation.md`` and print the table."""
    if cfg.stage.name != "joint":
        return None
    spatial_run = run_dir_of(cfg.stage.init.spatial)
    spatial = read_metrics(spatial_run)
    if spatial is None:
        log.warning(
            "no metrics.json beside %s: skipping the ablation table", cfg.stage.init.spatial
        )
        return None
    detector_ckpt = (spatial.get("init") or {}).get("part_detector")
    detector = read_metrics(run_dir_of(detector_ckpt)) if detector_ckpt else None
    rows = []
    if detector is not None:
        rows.append(_row("part_detector", detector))
    rows += [_row("spatial", spatial), _row("joint", metrics)]
    if cfg.get("ablation", {}).get("control") and detector is not None:
        _run_control(cfg, detector_ckpt, rows, detector)
    table = {"experiment": cfg.name, "stages": rows}
    experiment_dir = Path(cfg.paths.experiment_dir)
    atomic_write_json(experiment_dir / "ablation.json", table)
    text = ablation_markdown(table)
    atomic_write_text(experiment_dir / "ablation.md", text)
    print(text, flush=True)
    return table
