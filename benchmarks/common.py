"""What every benchmark shares: settings, timing, statistics and the figure record.

A *figure* is one entry of ``bench.json``::

    {"median", "min", "max", "repeats", "unit", "samples",
     "target": {"op": ">=", "value": 20} | None, "meets_target": bool | None,
     "config": {...}, "details": {...}, "machine": {cores, torch_threads, device, torch,
     load_avg_start, load_avg_end}}

Ratios are computed per repeat from A/B measurements taken alternately in the same process, so
that a change of machine load hits both sides of a ratio alike; the statistics are over those
per-repeat ratios.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

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
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {name}"


def machine(
    device: str | torch.device = "cpu", load_start: Sequence[float] | None = None
) -> dict[str, Any]:
    """The machine a figure was measured on, with the load before and after it."""
    return {
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device_name(device),
        "torch": torch.__version__,
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
) -> dict[str, Any]:
    """Build one ``bench.json`` entry; the target is judged on the median.

    ``threads``: the intra-op threads the figure ran with, when it differs from the current
    setting (a figure measured inside ``num_threads(1)`` is recorded after it returns).
    """
    stats = summarize(samples)
    info = machine(device, load_start)
    if threads is not None:
        info["torch_threads"] = int(threads)
    return {
        **stats,
        "unit": unit,
        "samples": [float(s) for s in samples],
        "target": None if target is None else {"op": target[0], "value": target[1]},
        "meets_target": meets(float(stats["median"]), target),
        "config": config,
        "details": details or {},
        "machine": info,
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


def model_cfg(name: str, settings: Settings) -> dict[str, Any]:
    """``conf/model/<name>.yaml`` resolved to plain containers (what the modules take)."""
    from omegaconf import OmegaConf

    cfg = compose_cfg([f"model={name}", "data=synthetic"], settings)
    return OmegaConf.to_container(cfg.model, resolve=True)  # type: ignore[return-value]
