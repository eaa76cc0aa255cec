"""What every benchmark shares: settings, timing, statistics and the figure record.

A *figure* is one entry of ``bench.json``::

    {"median", "min", "max", "repeats", "unit", "samples",
     "target": {"op": ">=", "value": 20} | None, "meets_target": bool | None,
     "spread": {"below", "above", "limit", "noisy"} | None, "verdict": str,
     "config": {...}, "details": {...}, "machine": {cores, torch_threads, device, torch,
     cpu: {model, flags, clock, peak, onednn, mkl, ...}, load_avg_start, load_avg_end}}

``verdict`` is "pass", "fail", "noisy" (the samples spread wider than the figure's limit
around the median, so neither pass nor fail is meaningful; ``meets_target`` is then None) or
"report" (no target). A measurement that cannot be true (an MFU above 1) is not a figure: it
is written as an *error entry* ``{"error": message, "unit", "config", "details", "machine"}``
without ``median``.

Ratios are computed per repeat from A/B measurements taken alternately in the same process, so
that a change of machine load hits both sides of a ratio alike; the statistics are over those
per-repeat ratios.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.machine import cpu as cpu_info

REPO = Path(__file__).resolve().parents[1]
Target = tuple[str, float]


@dataclass(frozen=True)
class Settings:
    """Run-wide knobs.

    Attributes:
        quick: tiny sizes and repeats (the smoke test); the figures then mean nothing.
        threads: intra-op threads for the multi-threaded figures (default: all cores).
        data_dir: where the synthetic dataset is generated/cached (``paths.data_dir``).
        device: ``"cpu"`` or ``"cuda"``; the CPU figures always run on the CPU.
    """

    quick: bool = False
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    data_dir: Path = REPO / "data"
    device: str = "cpu"


# ------------------------------------------------------------------------------- timing
def sync(device: str | torch.device) -> None:
    """Wait for queued device work, so wall-clock times cover it (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str | torch.device = "cpu") -> float:
    """Seconds one call of ``fn`` takes, device work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def repeat(fn: Callable[[], Any], n: int, device: str | torch.device = "cpu") -> list[float]:
    """``n`` timings of ``fn``."""
    return [timed(fn, device) for _ in range(n)]


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Temporarily run torch's intra-op pool with ``n`` threads."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ---------------------------------------------------------------------------- figures
def load_avg() -> list[float]:
    """1/5/15-minute load averages (the figures are only comparable at similar load)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not available on this platform
        return []


def device_name(device: str | torch.device = "cpu") -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(dev)}"
    return f"cpu: {cpu_info()['model']}"


def machine(
    device: str | torch.device = "cpu", load_start: Sequence[float] | None = None
) -> dict[str, Any]:
    """The machine a figure was measured on, with the load before and after it."""
    return {
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device_name(device),
        "torch": torch.__version__,
        "cpu": cpu_info(),  # also for GPU figures: the host runs the loader and Python
        "load_avg_start": list(load_start) if load_start is not None else None,
        "load_avg_end": load_avg(),
    }


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """Median, min, max and count of repeated measurements."""
    if not samples:
        raise ValueError("no samples to summarise")
    return {
        "median": float(statistics.median(samples)),
        "min": float(min(samples)),
        "max": float(max(samples)),
        "repeats": len(samples),
    }


def meets(value: float, target: Target | None) -> bool | None:
    if target is None:
        return None
    op, bound = target
    return value >= bound if op == ">=" else value <= bound


def spread(samples: Sequence[float], limit: float) -> dict[str, float | bool]:
    """How far min and max lie from the median, relative to it; ``noisy`` past ``limit``.

    ``limit`` 0.05 means "within ±5 % of the median": a figure whose samples straddle its
    target by more than that cannot be called a pass or a fail.
    """
    med = statistics.median(samples)
    below, above = 1 - min(samples) / med, max(samples) / med - 1
    return {"below": below, "above": above, "limit": limit, "noisy": max(below, above) > limit}


def verdict(meets_target: bool | None, noisy: bool) -> str:
    if noisy:
        return "noisy"
    return {True: "pass", False: "fail", None: "report"}[meets_target]


def figure(
    samples: Sequence[float],
    unit: str,
    config: dict[str, Any],
    *,
    target: Target | None = None,
    details: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    load_start: Sequence[float] | None = None,
    threads: int | None = None,
    max_spread: float | None = None,
) -> dict[str, Any]:
    """Build one ``bench.json`` entry; the target is judged on the median.

    ``threads``: the intra-op threads the figure ran with, when it differs from the current
    setting (a figure measured inside ``num_threads(1)`` is recorded after it returns).
    ``max_spread``: relative limit of min/max around the median (see :func:`spread`); past it
    the figure is "noisy" and ``meets_target`` is None.
    """
    stats = summarize(samples)
    info = machine(device, load_start)
    if threads is not None:
        info["torch_threads"] = int(threads)
    sp = None if max_spread is None else spread(samples, max_spread)
    noisy = bool(sp and sp["noisy"])
    ok = None if noisy else meets(float(stats["median"]), target)
    return {
        **stats,
        "unit": unit,
        "samples": [float(s) for s in samples],
        "target": None if target is None else {"op": target[0], "value": target[1]},
        "meets_target": ok,
        "spread": sp,
        "verdict": verdict(ok, noisy),
        "config": config,
        "details": details or {},
        "machine": info,
    }


def error_entry(
    message: str,
    unit: str,
    config: dict[str, Any],
    *,
    details: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    load_start: Sequence[float] | None = None,
) -> dict[str, Any]:
    """A ``bench.json`` entry for a measurement that cannot be right: no median, no verdict
    on the target, the raw numbers in ``details`` for whoever debugs it."""
    return {
        "error": message,
        "unit": unit,
        "meets_target": None,
        "verdict": "error",
        "config": config,
        "details": details or {},
        "machine": machine(device, load_start),
    }


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-repeat ratios a_i / b_i of paired (alternated) measurements."""
    if len(numerators) != len(denominators):
        raise ValueError("paired measurements need equal counts")
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


# ------------------------------------------------------------------------------ configs
def compose_cfg(overrides: Sequence[str], settings: Settings) -> Any:
    """The training config (``conf/train.yaml``) composed with ``overrides``, no Hydra run."""
    from hydra import compose, initialize_config_dir

    paths = [f"paths.root_dir={REPO}", f"paths.data_dir={settings.data_dir}"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=[*paths, *overrides])


def model_cfg(name: str, settings: Settings, *overrides: str) -> dict[str, Any]:
    """``conf/model/<name>.yaml`` with ``overrides`` (``model.input_size=[64,64]``, ...),
    resolved to plain containers (what ``modules.load.build_module`` builds the models from)."""
    from omegaconf import OmegaConf

    cfg = compose_cfg([f"model={name}", "data=synthetic", *overrides], settings)
    return OmegaConf.to_container(cfg.model, resolve=True)  # type: ignore[return-value]
