"""``make bench``: run every benchmark, write ``bench.json`` and print a table.

    python -m benchmarks.run                      # all CPU figures (+ a ``gpu`` key with CUDA)
    python -m benchmarks.run --only spatial,loader --out /tmp/bench.json
    python -m benchmarks.run --quick              # tiny sizes: checks the code paths only

Each figure is measured in this process except the memory one (a child process, so that
nothing this process holds is counted). Every figure records the machine (CPU model, kernel
flags, clock, theoretical peak, torch/oneDNN/MKL versions); a measurement that cannot be true
(an MFU above 1) is written as an ``{"error": ...}`` entry and shown as **error**. Figures run
one after another, never concurrently: on 2 cores a parallel figure would slow the other down.

The process runs with the allocator setting of the entry points (``posehybrid.utils.runtime.
tune_allocator``, as ``train``, ``eval`` and ``predict`` apply it; ``allocator_tuned`` in
bench.json): glibc's default returns freed large tensors to the kernel and page-faults them in
again, at a cost that depends on each loop's allocation pattern. Untuned, the plain loop of
``lightning_overhead`` paid it and Lightning's did not (plain forward/backward 113/161 ms
against 105/154 ms per step, same ops), which made the ratio 1.10.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks import detector, gpu, inference, lightning_overhead, loader, memory, spatial
from benchmarks.common import REPO, Settings, machine
from posehybrid.utils.io import atomic_write_json

# name -> runner; the order is the order of bench.json and of the table
SUITES: dict[str, Callable[[Settings], dict[str, dict[str, Any]]]] = {
    "spatial": spatial.run,
    "lightning_overhead": lightning_overhead.run,
    "detector": detector.run,
    "loader": loader.run,
    "inference": inference.run,
    "memory": memory.run,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--out", default=str(REPO / "bench.json"), help="JSON output path")
    parser.add_argument("--only", default="", help=f"comma list of {', '.join(SUITES)}, gpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    parser.add_argument("--data-dir", default=str(REPO / "data"), help="synthetic data cache")
    parser.add_argument("--no-gpu", action="store_true", help="skip the gpu section")
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()] or [*SUITES, "gpu"]
    unknown = sorted(set(names) - {*SUITES, "gpu"})
    if unknown:
        raise SystemExit(
            f"benchmarks.run: unknown --only {unknown}; choose from {[*SUITES, 'gpu']}"
        )
    return names


def fmt(value: float, unit: str) -> str:
    return f"{value:.3g} {unit}" if abs(value) < 1000 else f"{value:,.0f} {unit}"


VERDICTS = {"pass": "yes", "fail": "**no**", "noisy": "noisy", "report": ""}


def table(figures: dict[str, dict[str, Any]], prefix: str = "") -> list[str]:
    """Markdown rows: key, median (min–max), target, verdict; error entries say why."""
    rows = []
    for key, fig in figures.items():
        if not isinstance(fig, dict) or not ("median" in fig or "error" in fig):
            continue
        target = fig.get("target")
        goal = f"{target['op']} {target['value']:g}" if target else "report"
        if "error" in fig:
            rows.append(f"| {prefix}{key} | **error** | | {goal} | {fig['error']} |")
            continue
        fallback = {True: "pass", False: "fail", None: "report"}[fig.get("meets_target")]
        verdict = VERDICTS[fig.get("verdict", fallback)]
        spread = f"{fmt(fig['min'], '')}–{fmt(fig['max'], '')}".replace(" ", "")
        rows.append(
            f"| {prefix}{key} | {fmt(fig['median'], fig['unit'])} | {spread} | {goal} | {verdict} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(
        quick=args.quick,
        threads=args.threads or Settings().threads,
        data_dir=Path(args.data_dir).resolve(),
    )
    out_path = Path(args.out).resolve()
    names = selected(args.only)
    results: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": settings.quick,
        "machine": machine(),
        "seconds": {},
    }
    from posehybrid.utils.runtime import tune_allocator

    results["allocator_tuned"] = tune_allocator()
    started = time.perf_counter()
    for name in names:
        if name == "gpu":
            continue
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        results.update(SUITES[name](settings))
        results["seconds"][name] = round(time.perf_counter() - t0, 1)
        atomic_write_json(out_path, results)  # a killed run keeps the figures it finished
    if "gpu" in names and not args.no_gpu and torch.cuda.is_available():
        t0 = time.perf_counter()
        print("[bench] gpu ...", file=sys.stderr, flush=True)
        results["gpu"] = {"machine": machine("cuda"), **gpu.run(settings, "cuda")}
        results["seconds"]["gpu"] = round(time.perf_counter() - t0, 1)
    results["seconds"]["total"] = round(time.perf_counter() - started, 1)
    atomic_write_json(out_path, results)

    lines = ["| figure | median | min–max | target | meets |", "|---|---|---|---|---|"]
    lines += table(results)
    if "gpu" in results:
        lines += table(results["gpu"], prefix="gpu/")
    print("\n".join(lines))
    print(
        f"\n{results['machine']['cpu']['summary']}; {settings.threads} threads; "
        f"{results['seconds']['total']:.0f} s; wrote {out_path}",
        file=sys.stderr,
    )
    for verdict, label in (("fail", "targets missed"), ("noisy", "too noisy to judge"),
                           ("error", "errors (not figures)")):  # fmt: skip
        keys = [
            k for k, f in results.items() if isinstance(f, dict) and f.get("verdict") == verdict
        ]
        if keys and not settings.quick:
            print(f"[bench] {label}: {', '.join(keys)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
