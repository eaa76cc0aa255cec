"""Where the batch-1 inference time of ``model=small`` goes (``torch.profiler``).

    python -m benchmarks.profile_inference [--threads N] [--runs 50] [--no-fold]
        [--precision auto|32-true|bf16-mixed] [--json FILE]

Same module and call as the ``infer_ms_small`` figure (``benchmarks.inference``): detector,
spatial model, decode, batch 1, eval + ``torch.inference_mode``, batch norm folded, at the
figure's precision (``auto``). Prints the
share of each stage (``record_function`` ranges) and the top operators by self CPU time. Not
part of ``make bench``: the profiler's own overhead (~10 µs per op) inflates the many small
ops of the decode, so read the shares, not the absolute times, and time with the bench.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from benchmarks.common import Settings
from benchmarks.inference import build
from posehybrid.inference import PRECISIONS, autocast, resolve_precision

STAGES = ("detector", "spatial", "decode")


def staged_predict(module: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``module.decode(module.heatmaps(x))`` with each stage in its own profiler range."""
    with record_function("detector"):
        e = module.detector(x)
    with record_function("spatial"):
        s = module.spatial(e)
    with record_function("decode"):
        return module.decode({"detector": e, "spatial": s})


def profile_inference(
    runs: int = 50, warmup: int = 20, fold: bool = True, top: int = 15, precision: str = "auto"
) -> dict[str, Any]:
    """Stage totals (ms per call) and the ``top`` operators by self CPU time."""
    module = build(Settings(), fold=fold)
    w, h = module.codec.input_size
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    precision = resolve_precision(precision, x.device)
    with torch.inference_mode(), autocast(precision, x.device):
        for _ in range(warmup):
            staged_predict(module, x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                staged_predict(module, x)
    events = prof.key_averages()
    stages = {e.key: e.cpu_time_total / 1e3 / runs for e in events if e.key in STAGES}
    ops = sorted(
        (e for e in events if e.key not in STAGES),
        key=lambda e: e.self_cpu_time_total,
        reverse=True,
    )
    total = sum(stages.values())
    top_ops = [
        {"op": e.key, "self_ms_per_call": e.self_cpu_time_total / 1e3 / runs,
         "calls_per_run": e.count / runs}
        for e in ops[:top]
    ]  # fmt: skip
    return {
        "runs": runs,
        "threads": torch.get_num_threads(),
        "batch_norm_folded": fold,
        "precision": precision,
        "edges": len(module.edges),
        "stage_ms": stages,
        "stage_share": {k: v / total for k, v in stages.items()} if total else {},
        "top_ops": top_ops,
        "table": events.table(sort_by="self_cpu_time_total", row_limit=top),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_inference")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--no-fold", action="store_true", help="keep the batch-norm layers")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = profile_inference(args.runs, fold=not args.no_fold, precision=args.precision)
    print(result["table"])
    for stage, ms in result["stage_ms"].items():
        print(f"{stage:>9}: {ms:7.2f} ms/call ({100 * result['stage_share'][stage]:.0f} %)")
    if args.json:
        Path(args.json).write_text(json.dumps({k: v for k, v in result.items() if k != "table"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
