"""Start-up validation of a training config: every bad value is reported at once, by its
config path, before any data is generated or a model is built.

Without it a ``data.batch_size=0`` fails inside the DataLoader after the data was prepared, a
``model.spatial.kernel_size=0`` only when the spatial module is built, and an augmentation
probability of 2 silently behaves like 1. Call :func:`validate_config` first in ``run_stage``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

_MISSING = object()


class ConfigError(ValueError):
    """One or more config values are out of range; the message lists each by its path."""


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
    ("seed", _is_int, "an integer"),
    ("data.batch_size", positive_int, "a positive integer (per device)"),
    ("data.num_workers", non_negative_int, "an integer >= 0"),
    ("data.n_images", lambda v: _is_int(v) and v >= 2, "an integer >= 2 (train + test)"),
    ("data.val_fraction", fraction_below_one, "a number in [0, 1)"),
    ("data.val_size", lambda v: v is None or non_negative_int(v), "null or an integer >= 0"),
    ("data.box_scale", positive, "a positive number"),
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
    ("stage.detector_lr", positive, "a positive finite learning rate"),
    ("stage.spatial_lr", positive, "a positive finite learning rate"),
    ("stage.module.pck_thresholds", thresholds, "a non-empty list of alphas in [0, 1]"),
    ("trainer.max_epochs", epochs, "an integer >= 1 (or -1: no limit)"),
)


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
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")
