"""Start-up checks of a training run: every out-of-range config value at once, by its config
path, and a writable output directory with room for checkpoints, before any data is generated,
a model is built, or heavy libraries are imported (:func:`preflight`, called first by the train
entry point).

Unknown keys and wrong types never get this far: the structured-config schema
(:mod:`posehybrid.schema`) makes Hydra reject them while composing. What is checked here is
what a type cannot say: ranges, sizes that must agree, a writable disk with room.

Without them a ``data.batch_size=0`` fails inside the DataLoader after the data was prepared, a
``model.spatial.kernel_size=0`` only when the spatial module is built, an augmentation
probability of 2 silently behaves like 1, and a full disk shows up when the first checkpoint
is written, an epoch into training.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

_MISSING = object()


class ConfigError(ValueError):
    """One or more config values are out of range; the message lists each by its path."""


class OutputDirError(OSError):
    """The run directory cannot be written, or its disk is (nearly) full."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def positive_int(v: Any) -> bool:
    return _is_int(v) and v > 0


def non_negative_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def positive(v: Any) -> bool:
    return _is_num(v) and v > 0


def non_negative(v: Any) -> bool:
    return _is_num(v) and v >= 0


def unit_interval(v: Any) -> bool:
    return _is_num(v) and 0 <= v <= 1


def fraction_below_one(v: Any) -> bool:
    return _is_num(v) and 0 <= v < 1


def size_pair(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(positive_int(x) for x in v)


def odd_kernel(v: Any) -> bool:
    return v is None or (positive_int(v) and v % 2 == 1)


def epochs(v: Any) -> bool:
    return _is_int(v) and (v >= 1 or v == -1)


def thresholds(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(unit_interval(x) for x in v)


# (config path, check, what is expected). Paths absent from the config are skipped, so one
# table serves every stage, dataset and model.
CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("data.batch_size", positive_int, "a positive integer (per device)"),
    ("data.num_workers", non_negative_int, "an integer >= 0"),
    ("data.n_images", lambda v: _is_int(v) and v >= 2, "an integer >= 2 (train + test)"),
    ("data.val_fraction", fraction_below_one, "a number in [0, 1)"),
    ("data.val_size", lambda v: v is None or non_negative_int(v), "null or an integer >= 0"),
    ("data.box_scale", positive, "a positive number"),
    ("data.cv_folds", lambda v: v is None or (non_negative_int(v) and v >= 2),
     "null (off) or an integer >= 2"),
    ("data.train_size", lambda v: v is None or positive_int(v),
     "null (every training record) or a positive integer"),
    ("data.augment.scale", fraction_below_one, "a number in [0, 1) (zoom 1 +- scale)"),
    ("data.augment.rotate", non_negative, "degrees >= 0"),
    ("data.augment.translate", unit_interval, "a fraction of the input size in [0, 1]"),
    ("data.augment.flip", unit_interval, "a probability in [0, 1]"),
    ("data.augment.color_jitter", unit_interval, "a probability in [0, 1]"),
    ("model.input_size", size_pair, "[W, H], two positive integers"),
    ("model.heatmap_size", size_pair, "[w, h], two positive integers"),
    ("model.sigma", positive, "a positive number (heat-map px)"),
    ("model.spatial.kernel_size", odd_kernel, "null or an odd integer >= 1"),
    ("stage.module.optimizer.lr", positive, "a positive finite learning rate"),
    ("stage.module.param_groups.detector.lr", positive, "a positive finite learning rate"),
    ("stage.module.param_groups.spatial.lr", positive, "a positive finite learning rate"),
    ("stage.module.pck_thresholds", thresholds, "a non-empty list of alphas in [0, 1]"),
    ("trainer.max_epochs", epochs, "an integer >= 1 (or -1: no limit)"),
    ("trainer.max_steps", epochs, "an integer >= 1 (or -1: no limit)"),
    ("warn_below_steps", non_negative_int, "an integer >= 0"),
    ("test_checkpoint", lambda v: v in ("auto", "best", "last"), "auto, best or last"),
    ("min_free_mb", non_negative, "MiB >= 0"),
    ("ablation.intervals.resamples", positive_int, "a positive integer (bootstrap resamples)"),
    ("ablation.intervals.confidence", lambda v: _is_num(v) and 0 < v < 1,
     "a level in (0, 1), e.g. 0.95"),
    ("callbacks.finite_loss.divergence_factor", lambda v: v is None or (_is_num(v) and v > 1),
     "null (off) or a factor > 1"),
    ("callbacks.finite_loss.reference_steps", positive_int, "a positive integer"),
)  # fmt: skip


def _select(cfg: DictConfig, path: str) -> Any:
    value = OmegaConf.select(cfg, path, default=_MISSING, throw_on_missing=False)
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    return value


def config_problems(cfg: DictConfig) -> list[str]:
    """Every out-of-range value as ``"path=value: expected ..."`` (empty when all is well)."""
    problems = []
    for path, check, expected in CHECKS:
        value = _select(cfg, path)
        if value is _MISSING:
            continue
        if not check(value):
            problems.append(f"{path}={value!r}: expected {expected}")
    folds, fold = _select(cfg, "data.cv_folds"), _select(cfg, "data.cv_fold")
    if isinstance(folds, int) and folds >= 2 and not (isinstance(fold, int) and 0 <= fold < folds):
        problems.append(f"data.cv_fold={fold!r}: expected an integer in [0, {folds - 1}]")
    inp, heat = _select(cfg, "model.input_size"), _select(cfg, "model.heatmap_size")
    if size_pair(inp) and size_pair(heat) and any(h > i for h, i in zip(heat, inp, strict=True)):
        problems.append(
            f"model.heatmap_size={heat!r}: expected at most model.input_size={inp!r} "
            f"(the detector downsamples)"
        )
    return problems


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` listing every bad value of ``cfg``; return None if all is well."""
    problems = config_problems(cfg)
    if problems:  # one line: the CLI prints it as its error message
        raise ConfigError(f"invalid configuration: {'; '.join(problems)}")


def check_output_dir(path: str | Path, min_free_mb: float) -> None:
    """Fail at start-up, not after an hour of training, when outputs cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise OutputDirError(
            f"output directory {path} is not writable: {err.strerror or err}"
        ) from None
    free = shutil.disk_usage(path).free
    if free < min_free_mb * 1024**2:
        raise OutputDirError(
            f"output directory {path}: only {free / 1024**2:.0f} MiB free, need at least "
            f"{min_free_mb:.0f} MiB for checkpoints (min_free_mb)"
        )


def preflight(cfg: DictConfig) -> None:
    """Everything that can be checked before training starts, cheaply: the config values and
    the output directory (``cfg.paths.output_dir``)."""
    validate_config(cfg)
    check_output_dir(cfg.paths.output_dir, float(cfg.min_free_mb))


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def run_dir_problem(run_dir: str | Path, min_free_mb: float) -> str | None:
    """Why Hydra could not create or fill ``run_dir`` (None when it can): the nearest existing
    ancestor must be a writable directory with ``min_free_mb`` free."""
    run_dir = Path(run_dir).expanduser().absolute()
    base = _existing_ancestor(run_dir)
    if not base.is_dir():
        return f"cannot create the run directory {run_dir}: {base} is not a directory"
    if not os.access(base, os.W_OK | os.X_OK):
        return f"cannot create the run directory {run_dir}: {base} is not writable"
    free = shutil.disk_usage(base).free
    if free < min_free_mb * 1024**2:
        return (
            f"run directory {run_dir}: only {free / 1024**2:.0f} MiB free on its disk, need "
            f"at least {min_free_mb:.0f} MiB for checkpoints (min_free_mb)"
        )
    return None


class RunDirCheck(Callback):
    """Hydra callback: fail in one line before Hydra creates the run directory (Hydra itself
    would print a traceback of its ``mkdir``)."""

    def _check(self, config: DictConfig, key: str, name: str | None) -> None:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().set_config(config)  # ${hydra:...} in paths resolve already
        try:
            run_dir = OmegaConf.select(config, key)
        except Exception:
            return
        # train.yaml's min_free_mb is the one home of the disk requirement (checkpoints); the
        # entry points that write only small files (eval, predict, export, score) declare none
        # and are checked for a writable directory alone.
        min_free_mb = OmegaConf.select(config, "min_free_mb", default=0.0)
        problem = run_dir_problem(str(run_dir), float(min_free_mb))
        if problem:
            print(f"{name or 'posehybrid'}: error: {problem}", file=sys.stderr, flush=True)
            sys.exit(2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir", kwargs.get("config_name"))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir", kwargs.get("config_name"))
