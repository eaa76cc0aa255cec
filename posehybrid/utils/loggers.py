"""Logger glue for the training run: run names, config logging at start, summary + finish at the end.

Kept light to import (Lightning and W&B are imported inside the functions) because
:mod:`posehybrid.utils.resolvers`, which every entry point imports before Hydra composes the
config, registers the run-name functions below as ``${ph.run_suffix:}`` and ``${ph.not:...}``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from posehybrid.utils.overrides import BOOKKEEPING_PREFIXES

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

log = logging.getLogger(__name__)

# Task overrides that never go into a run name: bookkeeping, and the groups that name the run
# already (name, stage, experiment, hparams_search).
_NAME_SKIP_PREFIXES = (*BOOKKEEPING_PREFIXES, "hparams_search", "experiment")
_NAME_SKIP_KEYS = {"name", "stage"}
MAX_SUFFIX = 60


def short_overrides(overrides: Iterable[str], max_len: int = MAX_SUFFIX) -> str:
    """``["model.spatial_graph.mode=full", "data.n_images=64", "paths.log_dir=/x"]`` ->
    ``"mode=full,n_images=64"``: last key component, path values reduced to their file name.

    Too long a result is cut and ends in a hash of the whole, so distinct runs keep distinct
    names.
    """
    parts = []
    for raw in overrides:
        item = raw.lstrip("+~")
        key, sep, value = item.partition("=")
        if not sep or key in _NAME_SKIP_KEYS or key.startswith(_NAME_SKIP_PREFIXES):
            continue
        value = value.strip("'\"")
        if "/" in value:  # a path: its last component is the readable part
            value = value.rstrip("/").rsplit("/", 1)[-1]
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    text = ",".join(parts)
    if len(text) > max_len:
        digest = hashlib.sha1(text.encode()).hexdigest()[:6]
        text = f"{text[: max_len - 7]}~{digest}"
    return text


def task_overrides() -> list[str]:
    """The command-line overrides of this Hydra job (sweep parameters included); [] outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under Hydra (configs composed in tests/notebooks)
        return []


def run_suffix() -> str:
    """``"-mode=full,lr=0.01"`` from the task overrides, or ``""``: resolver ``${ph.run_suffix:}``."""
    text = short_overrides(task_overrides())
    return f"-{text}" if text else ""


def negate(value: Any) -> bool:
    """``${ph.not:${.offline}}``: upload checkpoints only when W&B is online."""
    if isinstance(value, str):
        return value.strip().lower() in ("false", "0", "no", "")
    return not bool(value)


def flatten(tree: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts -> one level with dotted keys (W&B's runs table gets one column per key)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def _hydra_info() -> dict[str, Any]:
    """Overrides and config-group choices: what distinguishes runs at a glance."""
    from hydra.core.hydra_config import HydraConfig

    try:
        hc = HydraConfig.get()
    except ValueError:
        return {}
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/")}
    return {"overrides": " ".join(hc.overrides.task), "choices": dict(choices)}


def _is_wandb(lg: Logger) -> bool:
    from lightning.pytorch.loggers import WandbLogger

    return isinstance(lg, WandbLogger)


def log_run_config(loggers: Sequence[Logger], cfg: DictConfig) -> None:
    """Log the full resolved config to every logger; W&B gets it flattened (dotted keys)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers:
        if _is_wandb(lg):
            from lightning.pytorch.utilities import rank_zero_only

            if rank_zero_only.rank == 0:
                flat = flatten({**config, "hydra": _hydra_info()})
                lg.experiment.config.update(flat, allow_val_change=True)
        else:
            lg.log_hyperparams(config)


def summary_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``metrics.json`` -> flat scalar summary: ``test/pck@0.2``, ``test/parts@0.2/wrist``, ...

    Keys that already carry a namespace (``best/val_pck@0.2``) are kept as they are.
    """
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = key if "/" in key else f"test/{key}"
        if key in ("minutes", "fit_minutes", "epochs", "epoch_seconds"):
            name = f"run/{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[name] = float(value)
        elif isinstance(value, Mapping) and key.startswith(("parts@", "joints@", "pcp")):
            out.update(
                {f"{name}/{k}": float(v) for k, v in value.items() if isinstance(v, (int, float))}
            )
    return out


def _log_curve(run: Any, curve: Mapping[str, Any] | None) -> None:
    """The test PCK curve as a W&B table and a line plot (pooled + one line per part)."""
    if not curve or not curve.get("thresholds"):
        return
    import wandb

    thresholds = list(curve["thresholds"])
    series = {"total": curve["total"], **dict(curve.get("parts") or {})}
    columns = ["threshold", *series]
    rows = [[t, *(series[k][i] for k in series)] for i, t in enumerate(thresholds)]
    table = wandb.Table(columns=columns, data=rows)
    ys = [[float("nan") if v is None else float(v) for v in vals] for vals in series.values()]
    plot = wandb.plot.line_series(
        xs=thresholds, ys=ys, keys=list(series), title="PCK curve (test)", xname="alpha"
    )
    run.log({"test/pck_curve_table": table, "test/pck_curve": plot})


def finalize_loggers(loggers: Sequence[Logger], metrics: dict[str, Any]) -> None:
    """Put the test metrics and PCK curve into the W&B run and finish it, so multirun jobs never
    merge. Other loggers need nothing: Lightning already logged the test metrics to them."""
    for lg in loggers:
        if not _is_wandb(lg):
            continue
        from lightning.pytorch.utilities import rank_zero_only

        if rank_zero_only.rank != 0:
            continue
        run = lg.experiment
        run.summary.update(summary_values(metrics))
        try:
            _log_curve(run, metrics.get("curve"))
        except Exception as err:  # a plotting problem must not lose the finished run
            log.warning("could not log the PCK curve to W&B: %s", err)
        run.finish()


def finish_wandb(exit_code: int = 0) -> None:
    """Finish a W&B run left open (a job that raised): the next job must not reuse it."""
    import sys

    wandb = sys.modules.get("wandb")  # never import W&B just to find out nothing is running
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)
