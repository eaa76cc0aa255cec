"""``infer_ms_small`` and ``infer_img_s_small``: detector + spatial model + decode at the
``small`` defaults (128x128 input, 32x32 maps, 63x63 kernels, the config's graph: full).

The module is a ``SpatialModule`` in eval mode under ``torch.inference_mode`` with the
detector's batch norm folded into its convolutions, as ``modules.load.load_module`` loads it
for inference, at the precision ``posehybrid.load`` / eval / predict use by default
(``precision=auto``: bf16 autocast for the detector on a CPU with native bf16, the spatial
model in fp32; else fp32); one call is ``module.decode(module.heatmaps(x))``: detector,
spatial model, decode (the module's ``decode_cfg``). Latency is batch 1, one timing per call;
throughput is batch 32.

The latency figure alternates three calls (A/B/C, same process): the figure's, the same
folded module in fp32 (``details.fp32_ms``) and the unfolded one at the figure's precision
(``details.unfolded_ms``), so each shows what it saves at the same machine load.
``python -m benchmarks.profile_inference`` shows where the rest of the time goes.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from benchmarks.common import Settings, figure, load_avg, model_cfg, num_threads, repeat, timed
from posehybrid.inference import autocast, resolve_precision
from posehybrid.modules.load import build_module, fold_for_inference
from posehybrid.modules.spatial import SpatialModule


def build(settings: Settings, device: str = "cpu", fold: bool = True) -> SpatialModule:
    """The ``small`` spatial module (random weights) as inference uses it."""
    torch.manual_seed(0)
    module = build_module(SpatialModule, model_cfg("small", settings), joint_set="lsp")
    module = module.to(device).eval()
    return fold_for_inference(module) if fold else module


def predict(
    module: SpatialModule, x: torch.Tensor, precision: str = "32-true"
) -> tuple[torch.Tensor, torch.Tensor]:
    with autocast(precision, x.device):
        return module.decode(module.heatmaps(x))


def figures(settings: Settings, device: str = "cpu") -> dict[str, dict[str, Any]]:
    """Both inference figures on ``device`` (the GPU section reuses this)."""
    quick = settings.quick
    runs, warmup, batch, batch_runs = (5, 2, 4, 2) if quick else (100, 20, 32, 7)
    module = build(settings, device)
    unfolded = build(settings, device, fold=False)
    w, h = module.codec.input_size
    x1 = torch.rand(1, 3, h, w, device=device)
    xb = torch.rand(batch, 3, h, w, device=device)
    precision = resolve_precision("auto", torch.device(device))
    config = {
        "model": "small",
        "input_size_wh": [w, h],
        "edges": len(module.edges),
        "graph": model_cfg("small", settings)["spatial_graph"]["mode"],
        "decode": module.decode_cfg,
        "batch_norm": f"folded ({module.detector.folded_batch_norms} layers)",
        "mode": "eval + torch.inference_mode",
        "precision": f"{precision} (precision=auto, as posehybrid.load / eval / predict)",
        "device": device,
        "threads": torch.get_num_threads(),
    }
    with torch.inference_mode():
        load_start = load_avg()
        calls = {
            "figure": lambda: predict(module, x1, precision),
            "fp32": lambda: predict(module, x1),
            "unfolded": lambda: predict(unfolded, x1, precision),
        }
        for call in calls.values():
            repeat(call, warmup, device)
        lat: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(runs):  # A/B/C: the three calls in turn
            for name, call in calls.items():
                lat[name].append(1e3 * timed(call, device))
        details = {
            "fp32_ms": lat["fp32"],
            "fp32_ms_median": statistics.median(lat["fp32"]),
            "unfolded_ms": lat["unfolded"],
            "unfolded_ms_median": statistics.median(lat["unfolded"]),
            "order": "the figure's call, the fp32 one and the unfolded one in turn",
        }
        latency = figure(lat["figure"], "ms", {**config, "batch": 1}, target=("<=", 8.0), device=device,
                         details=details, load_start=load_start)  # fmt: skip
        load_start = load_avg()
        repeat(lambda: predict(module, xb, precision), 1, device)
        thr = [
            batch / t for t in repeat(lambda: predict(module, xb, precision), batch_runs, device)
        ]
        throughput = figure(thr, "img/s", {**config, "batch": batch}, device=device,
                            load_start=load_start)  # fmt: skip
    return {"infer_ms_small": latency, "infer_img_s_small": throughput}


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    with num_threads(settings.threads):
        return figures(settings)
