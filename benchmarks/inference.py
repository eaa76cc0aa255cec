"""``infer_ms_small`` and ``infer_img_s_small``: detector + spatial model + decode at the
``small`` defaults (128x128 input, 32x32 maps, 63x63 kernels, the config's graph: full).

The module is a ``SpatialModule`` in eval mode under ``torch.inference_mode`` with the
detector's batch norm folded into its convolutions, as ``modules.load.load_module`` loads it
for inference; one call is ``module.decode(module.heatmaps(x))``: detector, spatial model,
decode (the module's ``decode_cfg``). Latency is batch 1, one timing per call; throughput is
batch 32.

The latency figure alternates folded and unfolded calls (A/B, same process), so
``details.unfolded_ms`` is what folding saves at the same machine load.
``python -m benchmarks.profile_inference`` shows where the rest of the time goes.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from benchmarks.common import Settings, figure, load_avg, model_cfg, num_threads, repeat, timed
from posehybrid.modules.load import build_module, fold_for_inference
from posehybrid.modules.spatial import SpatialModule


def build(settings: Settings, device: str = "cpu", fold: bool = True) -> SpatialModule:
    """The ``small`` spatial module (random weights) as inference uses it."""
    torch.manual_seed(0)
    module = build_module(SpatialModule, model_cfg("small", settings), joint_set="lsp")
    module = module.to(device).eval()
    return fold_for_inference(module) if fold else module


def predict(module: SpatialModule, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
    config = {
        "model": "small",
        "input_size_wh": [w, h],
        "edges": len(module.edges),
        "graph": model_cfg("small", settings)["spatial_graph"]["mode"],
        "decode": module.decode_cfg,
        "batch_norm": f"folded ({module.detector.folded_batch_norms} layers)",
        "mode": "eval + torch.inference_mode",
        "device": device,
        "threads": torch.get_num_threads(),
    }
    with torch.inference_mode():
        load_start = load_avg()
        repeat(lambda: predict(module, x1), warmup, device)
        repeat(lambda: predict(unfolded, x1), warmup, device)
        lat: list[float] = []
        lat_unfolded: list[float] = []
        for _ in range(runs):  # A/B: folded, unfolded, folded, ...
            lat.append(1e3 * timed(lambda: predict(module, x1), device))
            lat_unfolded.append(1e3 * timed(lambda: predict(unfolded, x1), device))
        details = {
            "unfolded_ms": lat_unfolded,
            "unfolded_ms_median": statistics.median(lat_unfolded),
            "order": "folded and unfolded calls alternated",
        }
        latency = figure(lat, "ms", {**config, "batch": 1}, target=("<=", 8.0), device=device,
                         details=details, load_start=load_start)  # fmt: skip
        load_start = load_avg()
        repeat(lambda: predict(module, xb), 1, device)
        thr = [batch / t for t in repeat(lambda: predict(module, xb), batch_runs, device)]
        throughput = figure(thr, "img/s", {**config, "batch": batch}, device=device,
                            load_start=load_start)  # fmt: skip
    return {"infer_ms_small": latency, "infer_img_s_small": throughput}


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    with num_threads(settings.threads):
        return figures(settings)
