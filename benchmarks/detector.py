"""``detector_mfu`` (tompson2014) and ``detector_mfu_small``: part-detector training FLOP/s over
this machine's best measured dense fp32 FLOP/s, measured alternately in the same process.

Model FLOPs are ``models.flops.count_train_flops`` of the step's batch: convolutions and LCN's
filters, 2 × multiply-adds, forward + weight gradients + the input gradients that are computed
(equal to ``torch.utils.flop_counter.FlopCounterMode``'s count, tested). The step is a plain
PyTorch one: zero_grad, forward, visibility-weighted MSE, backward, Adam.

The reference is the best of several dense fp32 kernels (``benchmarks.reference``: MKL
``torch.mm`` at three sizes, oneDNN 1x1 and 3x3 convolutions in both layouts), surveyed once,
then the best one re-timed before every training step. "MFU" is thus relative to the best
*achieved* dense throughput; ``details.mfu_vs_peak`` divides by the theoretical peak
(``benchmarks.machine``) instead. An MFU above 1 means the reference is not the machine's best
(or the FLOP count is wrong): it is written as an error entry, never as a figure.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any

import torch
from hydra.utils import instantiate

from benchmarks.common import (
    Settings,
    error_entry,
    figure,
    load_avg,
    model_cfg,
    num_threads,
    repeat,
    timed,
)
from benchmarks.machine import cpu
from benchmarks.reference import Reference
from posehybrid.models.flops import count_train_flops
from posehybrid.modules.losses import heatmap_mse


@dataclass(frozen=True)
class DetectorCase:
    model: str
    batch: int
    repeats: int
    warmup: int = 1
    matmul_n: int = 4096  # the bf16 (GPU) reference's size
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
        """Model FLOPs of one training step (forward + backward, the optimiser not counted)."""
        return count_train_flops(self.model, tuple(self.image.shape))


def sized_cfg(model: str, settings: Settings, input_size: tuple[int, int] | None) -> dict:
    if input_size is None:
        return model_cfg(model, settings)
    w, h = input_size
    return model_cfg(
        model, settings, f"model.input_size=[{w},{h}]", f"model.heatmap_size=[{w // 4},{h // 4}]"
    )


def peak_flop_s(device: str | torch.device, threads: int) -> float | None:
    """The theoretical fp32 peak of the cores this figure uses (CPU only)."""
    if torch.device(device).type != "cpu":
        return None
    peak = cpu()["peak"]
    if peak["fp32_flop_s"] is None:
        return None
    return peak["fp32_flop_s"] * min(threads, peak["cores"]) / peak["cores"]


def mfu_figure(
    model: str,
    settings: Settings,
    device: str = "cpu",
    autocast: torch.dtype | None = None,
    target: tuple[str, float] | None = None,
    batch: int | None = None,
    reference: Reference | None = None,
) -> dict[str, Any]:
    """MFU of one detector config: per repeat, the reference kernel then one training step.

    ``reference``: a surveyed :class:`Reference` to share between figures (fp32 only).
    """
    case = DetectorCase.for_settings(model, settings)
    if batch is not None and not settings.quick:
        case = replace(case, batch=batch)
    cfg = sized_cfg(model, settings, case.input_size)
    load_start = load_avg()
    step = TrainStep(cfg, case.batch, device, autocast)
    flops = step.flops()
    mm_dtype = autocast or torch.float32
    survey: dict[str, float] = {}
    if mm_dtype == torch.float32:
        ref = reference or Reference(settings.quick, device)
        survey = ref.table or ref.survey()
        ref_name = f"best of {sorted(survey)}"
    else:  # bf16 (GPU): one matmul in the autocast dtype
        ref_name = f"torch.mm {case.matmul_n}x{case.matmul_n} {mm_dtype}".replace("torch.", "")

    def ref_flop_s() -> float:
        if survey:
            return ref.best_flop_s()
        return matmul_flops_dtype(case.matmul_n, device, mm_dtype)

    repeat(step, case.warmup, device)
    mfu, refs, achieved, step_s = [], [], [], []
    for _ in range(case.repeats):
        mm = ref_flop_s()
        t = timed(step, device)
        mfu.append(flops / t / mm)
        refs.append(mm)
        achieved.append(flops / t)
        step_s.append(t)
    threads = torch.get_num_threads()
    theory = peak_flop_s(device, threads)
    config = {
        "model": model,
        "batch": case.batch,
        "input_size_wh": cfg["input_size"],
        "channels_last": bool(cfg["part_detector"].get("channels_last", False)),
        "head_kernel": cfg["part_detector"]["head_kernel"],
        "dtype": str(mm_dtype).replace("torch.", ""),
        "device": device,
        "threads": threads,
        "flops_per_step": flops,
        "flops_rule": "count_train_flops: conv + LCN, 2·MACs, forward + computed gradients "
                      "(== FlopCounterMode)",
        "step": "zero_grad + forward + MSE + backward + Adam",
        "reference": ref_name,
        "reference_best": max(survey, key=survey.__getitem__) if survey else ref_name,
    }  # fmt: skip
    details = {
        "train_flop_s": achieved,
        "reference_flop_s": refs,
        "reference_survey_flop_s": survey,
        "theoretical_peak_flop_s": theory,
        "theoretical_peak": cpu()["peak"] if theory is not None else None,
        "mfu_vs_peak": [a / theory for a in achieved] if theory else None,
        "reference_vs_peak": [r / theory for r in refs] if theory else None,
        # True: a measured kernel beat the "peak", so its inputs (virtual CPU model, clock
        # estimate without turbo) are too low; the measured reference is the one to trust.
        "peak_estimate_exceeded": bool(theory and max([*refs, *survey.values()]) > theory),
        "step_s": step_s,
        "img_s": [case.batch / t for t in step_s],
        "train_gflop_per_image": flops / case.batch / 1e9,
    }
    if max(mfu) > 1.0:
        details["rejected_mfu"] = mfu
        message = (
            f"MFU {max(mfu):.3g} > 1: the training step beat the reference "
            f"({config['reference_best']}), so the reference is not this machine's best dense "
            "kernel or the FLOP count is wrong; not a figure"
        )
        return error_entry(message, "fraction", config, details=details, device=device,
                           load_start=load_start)  # fmt: skip
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
        ref = Reference(settings.quick)  # surveyed once, shared by both figures
        ref.survey()
        return {
            "detector_mfu": mfu_figure("tompson2014", settings, target=(">=", 0.35),
                                       reference=ref),
            "detector_mfu_small": mfu_figure("small", settings, reference=ref),
        }  # fmt: skip
