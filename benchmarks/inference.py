"""``infer_ms_small`` and ``infer_img_s_small``: detector + spatial model + decode at the
``small`` defaults (128x128 input, 32x32 maps, 63x63 kernels, tree graph).

The module is a ``SpatialModule`` in eval mode under ``torch.inference_mode``; one call is
``module.decode(module.heatmaps(x))``: detector, spatial model, argmax of the spatial map
refined by the 3x3 centroid of the detector map (``codec.decode(..., refine_with=...)``).
Latency is batch 1, one timing per call; throughput is batch 32.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.common import Settings, figure, load_avg, model_cfg, num_threads, repeat
from posehybrid.modules.spatial import SpatialModule


def build(settings: Settings, device: str = "cpu") -> SpatialModule:
    torch.manual_seed(0)
    module = SpatialModule(joint_set="lsp", model_cfg=model_cfg("small", settings))
    return module.to(device).eval()


def predict(module: SpatialModule, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return module.decode(module.heatmaps(x))


def figures(settings: Settings, device: str = "cpu") -> dict[str, dict[str, Any]]:
    """Both inference figures on ``device`` (the GPU section reuses this)."""
    quick = settings.quick
    runs, warmup, batch, batch_runs = (5, 2, 4, 2) if quick else (100, 20, 32, 7)
    module = build(settings, device)
    w, h = module.codec.input_size
    x1 = torch.rand(1, 3, h, w, device=device)
    xb = torch.rand(batch, 3, h, w, device=device)
    config = {
        "model": "small",
        "input_size_wh": [w, h],
        "edges": len(module.edges),
        "decode": module.decode_cfg,
        "mode": "eval + torch.inference_mode",
        "device": device,
        "threads": torch.get_num_threads(),
    }
    with torch.inference_mode():
        load_start = load_avg()
        repeat(lambda: predict(module, x1), warmup, device)
        lat = [1e3 * t for t in repeat(lambda: predict(module, x1), runs, device)]
        latency = figure(lat, "ms", {**config, "batch": 1}, target=("<=", 10.0), device=device,
                         load_start=load_start)  # fmt: skip
        load_start = load_avg()
        repeat(lambda: predict(module, xb), 1, device)
        thr = [batch / t for t in repeat(lambda: predict(module, xb), batch_runs, device)]
        throughput = figure(thr, "img/s", {**config, "batch": batch}, device=device,
                            load_start=load_start)  # fmt: skip
    return {"infer_ms_small": latency, "infer_img_s_small": throughput}


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    with num_threads(settings.threads):
        return figures(settings)
