"""``detector_mfu`` (tompson2014) and ``detector_mfu_small``: part-detector training FLOP/s over
this machine's fp32 matmul FLOP/s, measured alternately in the same process.

Model FLOPs are the convolutions' (``models.flops.count_conv_flops``, 2 × multiply-adds of a
real forward, internal padding included) × 3 for a training step (forward, input gradient,
weight gradient). The step is a plain PyTorch one: zero_grad, forward, visibility-weighted MSE,
backward, Adam. The reference is ``torch.mm`` of two n×n fp32 matrices into a preallocated
output with the same thread count: the best this machine does on dense fp32 work, so "MFU" here
is relative to achieved matmul throughput, not to a datasheet peak.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any

import torch
from hydra.utils import instantiate

from benchmarks.common import Settings, figure, load_avg, model_cfg, num_threads, repeat, timed
from posehybrid.models.flops import count_conv_flops
from posehybrid.modules.losses import heatmap_mse


@dataclass(frozen=True)
class DetectorCase:
    model: str
    batch: int
    repeats: int
    warmup: int = 1
    matmul_n: int = 4096
    input_size: tuple[int, int] | None = None  # (W, H); None: the model config's

    @classmethod
    def for_settings(cls, model: str, settings: Settings) -> DetectorCase:
        if settings.quick:
            return cls(model, batch=2, repeats=2, matmul_n=256, input_size=(64, 64))
        if model == "tompson2014":  # ≈ 0.86 TFLOP per image and step: few, small steps
            return cls(model, batch=1, repeats=3)
        return cls(model, batch=32, repeats=5, warmup=2)


def matmul_flops(n: int, device: str | torch.device = "cpu", runs: int = 3) -> float:
    """Median FLOP/s of an n×n by n×n fp32 matmul (2n³ FLOPs) into a preallocated output."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    out = torch.empty(n, n, device=device)
    torch.mm(a, b, out=out)  # warm-up: thread pool and packing buffers
    return 2 * n**3 / statistics.median(repeat(lambda: torch.mm(a, b, out=out), runs, device))


class TrainStep:
    """One plain training step of a part detector on fixed random data (speed only)."""

    def __init__(
        self,
        cfg: dict[str, Any],
        batch: int,
        device: str | torch.device = "cpu",
        autocast: torch.dtype | None = None,
    ) -> None:
        torch.manual_seed(0)
        self.device = torch.device(device)
        self.model = instantiate(cfg["part_detector"]).to(self.device).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        (w, h), (mw, mh) = cfg["input_size"], cfg["heatmap_size"]
        j = self.model.num_joints
        self.image = torch.rand(batch, 3, h, w, device=self.device)
        self.target = torch.rand(batch, j, mh, mw, device=self.device)
        self.weight = torch.ones(batch, j, device=self.device)
        self.autocast = autocast
        self.batch = batch

    def __call__(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, self.autocast or torch.float32,
                            enabled=self.autocast is not None):  # fmt: skip
            pred = self.model(self.image)
        heatmap_mse(pred.float(), self.target, self.weight).backward()
        self.opt.step()

    def flops(self) -> int:
        """Conv FLOPs of one training step (3 × forward)."""
        shape = (1, *self.image.shape[1:])
        return 3 * count_conv_flops(self.model, shape, self.device) * self.batch


def sized_cfg(model: str, settings: Settings, input_size: tuple[int, int] | None) -> dict:
    cfg = model_cfg(model, settings)
    if input_size is not None:
        cfg["input_size"] = list(input_size)
        cfg["heatmap_size"] = [input_size[0] // 4, input_size[1] // 4]
    return cfg


def mfu_figure(
    model: str,
    settings: Settings,
    device: str = "cpu",
    autocast: torch.dtype | None = None,
    target: tuple[str, float] | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """MFU of one detector config: per repeat, a matmul block then one training step."""
    case = DetectorCase.for_settings(model, settings)
    if batch is not None and not settings.quick:
        case = replace(case, batch=batch)
    cfg = sized_cfg(model, settings, case.input_size)
    load_start = load_avg()
    step = TrainStep(cfg, case.batch, device, autocast)
    flops = step.flops()
    mm_dtype = autocast or torch.float32
    repeat(step, case.warmup, device)
    mfu, peak, achieved, step_s = [], [], [], []
    for _ in range(case.repeats):
        mm = matmul_flops_dtype(case.matmul_n, device, mm_dtype)
        t = timed(step, device)
        mfu.append(flops / t / mm)
        peak.append(mm)
        achieved.append(flops / t)
        step_s.append(t)
    config = {
        "model": model,
        "batch": case.batch,
        "input_size_wh": cfg["input_size"],
        "channels_last": bool(cfg["part_detector"].get("channels_last", False)),
        "head_kernel": cfg["part_detector"]["head_kernel"],
        "dtype": str(mm_dtype).replace("torch.", ""),
        "device": device,
        "threads": torch.get_num_threads(),
        "flops_per_step": flops,
        "flops_rule": "conv FLOPs (2·MACs) of a forward × 3",
        "step": "zero_grad + forward + MSE + backward + Adam",
        "reference": f"torch.mm {case.matmul_n}x{case.matmul_n} {mm_dtype}".replace("torch.", ""),
    }
    details = {
        "train_flop_s": achieved,
        "matmul_flop_s": peak,
        "step_s": step_s,
        "img_s": [case.batch / t for t in step_s],
        "fwd_gflop_per_image": flops / 3 / case.batch / 1e9,
    }
    return figure(mfu, "fraction", config, target=target, details=details, device=device,
                  load_start=load_start)  # fmt: skip


def matmul_flops_dtype(n: int, device: str | torch.device, dtype: torch.dtype) -> float:
    """``matmul_flops`` in another dtype (bf16 on GPUs for the mixed-precision MFU)."""
    if dtype == torch.float32:
        return matmul_flops(n, device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    return 2 * n**3 / statistics.median(repeat(lambda: torch.mm(a, b), 3, device))


def run(settings: Settings) -> dict[str, dict[str, Any]]:
    with num_threads(settings.threads):
        return {
            "detector_mfu": mfu_figure("tompson2014", settings, target=(">=", 0.35)),
            "detector_mfu_small": mfu_figure("small", settings),
        }
