"""The ``gpu`` section: the same measurements on an accelerator, where one is present.

``run.py`` adds it only when ``torch.cuda.is_available()``. Entries:

* ``detector_mfu_fp32`` / ``detector_mfu_bf16``: tompson2014 training (channels_last, batch
  16) against an fp32 / bf16 matmul on the same device; bf16 = autocast, Lightning's
  ``bf16-mixed``. (cuDNN convolutions may use TF32 under fp32, while the fp32 matmul reference
  does not: torch's default matmul precision is "highest".)
* ``detector_small_img_s_bf16``: training images/s of ``model=small`` at batch 32, bf16.
* ``spatial_ms_per_image``: the FFT spatial model at the paper's size (always fp32: the model
  disables autocast inside).
* ``infer_ms_small`` / ``infer_img_s_small``: the CPU figures' protocol on the device.
* ``peak_mem_gib_spatial_paper``: ``torch.cuda.max_memory_allocated`` of one spatial-stage step
  at the paper's size, batch 16, tree graph.

Everything takes ``device`` so the smoke test can run the code path on the CPU.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmarks import detector, inference, memory, spatial
from benchmarks.common import Settings, figure, load_avg, summarize, timed


def peak_memory(settings: Settings, device: str) -> dict[str, Any]:
    cfg = memory.paper_cfg(settings, "tree", (64, 48) if settings.quick else None)
    batch = 2 if settings.quick else 16
    load_start = load_avg()
    step, edges = memory.spatial_stage(cfg, batch, device)
    is_cuda = torch.device(device).type == "cuda"
    if is_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    step_s = timed(step, device)
    peak = torch.cuda.max_memory_allocated(device) if is_cuda else 0
    config = {"model": "tompson2014", "batch": batch, "graph": "tree", "edges": edges,
              "input_size_wh": cfg["input_size"], "device": device,
              "measure": "torch.cuda.max_memory_allocated over one step (0 off CUDA)"}  # fmt: skip
    return figure([peak / 1024**3], "GiB", config, details={"step_s": step_s}, device=device,
                  load_start=load_start)  # fmt: skip


def small_throughput(settings: Settings, device: str, autocast: torch.dtype) -> dict[str, Any]:
    cfg = detector.sized_cfg("small", settings, (64, 64) if settings.quick else None)
    batch = 4 if settings.quick else 32
    load_start = load_avg()
    step = detector.TrainStep(cfg, batch, device, autocast)
    for _ in range(3):
        step()
    samples = [batch / timed(step, device) for _ in range(3 if settings.quick else 20)]
    config = {"model": "small", "batch": batch, "autocast": str(autocast), "device": device,
              "channels_last": bool(cfg["part_detector"].get("channels_last", False))}  # fmt: skip
    return figure(samples, "img/s", config, device=device, load_start=load_start)


def run(settings: Settings, device: str = "cuda") -> dict[str, Any]:
    """All GPU entries (a dict of figures plus the device description)."""
    section: dict[str, Any] = {}
    section["detector_mfu_fp32"] = detector.mfu_figure("tompson2014", settings, device, batch=16)
    section["detector_mfu_bf16"] = detector.mfu_figure(
        "tompson2014", settings, device, autocast=torch.bfloat16, batch=16
    )
    section["detector_small_img_s_bf16"] = small_throughput(settings, device, torch.bfloat16)
    section["spatial_ms_per_image"] = spatial.fft_ms_per_image(settings, device)
    section.update(inference.figures(settings, device))
    section["peak_mem_gib_spatial_paper"] = peak_memory(settings, device)
    return section


__all__ = ["run", "summarize"]
