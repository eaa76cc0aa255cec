"""``spatial_fft_vs_direct`` and ``spatial_ms_per_image``: the FFT spatial model against grouped
``F.conv2d`` at the paper's size (batch 4, 14 joints, all 196 ordered pairs with self edges,
90x60 heat-maps, 127x127 kernels), forward + backward.

Both sides compute the same thing: ReLU, per-edge 'same' cross-correlation with SoftPlus
kernels, log(conv + SoftPlus(b) + eps), sum into the targets, ``.sum().backward()``. Gradients
flow to kernels and biases only (the spatial stage: the detector is frozen). The direct side
runs in channels_last, its fastest layout here: NCHW grouped convolutions with 127x127 kernels
take oneDNN's slow path (~27x slower forward measured on this CPU).

The direct side is slow (about a minute per batch of 4 on 2 cores, almost all of it in the
kernel gradient), so it runs on a smaller batch (``direct_batch``, 2 of the 4 images) once per
repeat between two blocks of FFT runs, for 3 repeats; the ratio of a repeat is *per image*:
(direct s / direct_batch) / (median of the FFT runs around it / batch). The 196 groups
should keep the direct side's threads busy at batch 2, so that the smaller batch does not
inflate its per-image cost (an expectation, not yet measured on a quiet machine: compare
``direct_s_per_image`` with a ``direct_batch=4`` run). ``direct_edges`` < E measures a
prefix of the edges and scales linearly (recorded as ``direct_scaled``); the default measures
all of them, because the direct cost grows sub-linearly with E on this CPU (more groups use
the threads better), so scaling a subset would overstate the ratio.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import Settings, figure, load_avg, num_threads, repeat, sync, timed
from posehybrid.models.spatial_model import SpatialModel


@dataclass(frozen=True)
class SpatialCase:
    batch: int = 4
    joints: int = 14
    heatmap_size: tuple[int, int] = (90, 60)  # (w, h)
    kernel_size: int = 127
    direct_edges: int | None = None  # None: all edges
    direct_batch: int = 2  # images per direct run (<= batch): the ratio is per image
    repeats: int = 3  # direct runs (each between two FFT blocks)
    fft_block: int = 5
    warmup: int = 3

    @classmethod
    def for_settings(cls, settings: Settings) -> SpatialCase:
        if settings.quick:
            return cls(batch=2, joints=3, heatmap_size=(16, 12), kernel_size=15,
                       direct_batch=1, repeats=3, fft_block=2, warmup=1)  # fmt: skip
        return cls()


def full_graph(joints: int) -> list[tuple[int, int]]:
    """All J·J ordered pairs, self edges included (the paper's fully connected model)."""
    return [(a, v) for a in range(joints) for v in range(joints)]


def make_model(case: SpatialCase, device: str, edges: list[tuple[int, int]]) -> SpatialModel:
    torch.manual_seed(0)
    model = SpatialModel(case.joints, edges, case.heatmap_size, case.kernel_size).to(device)
    with torch.no_grad():  # generic kernels: flat/delta inits are no different in speed
        model.weight.normal_(-3.0, 1.0)
    return model


def fft_step(model: SpatialModel, e: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(e).sum().backward()


def direct_step(model: SpatialModel, e: torch.Tensor, channels_last: bool = True) -> list[float]:
    """The same forward+backward with grouped ``F.conv2d``; returns [forward s, backward s]."""
    model.zero_grad(set_to_none=True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    b, j, h, w = e.shape
    edges = len(model.edges)
    tgt = F.one_hot(model.targets, j).to(e.dtype).T.contiguous()  # (J, E): Σ over targets
    sync(e.device)
    start = time.perf_counter()
    x = F.relu(e).index_select(1, model.sources).contiguous(memory_format=fmt)
    k = model.kernels().unsqueeze(1).contiguous(memory_format=fmt)
    conv = F.conv2d(x, k, padding=model.kernel_size // 2, groups=edges)
    logs = model.log_messages(conv.contiguous())
    s = torch.matmul(tgt, logs.reshape(b, edges, h * w))
    loss = s.sum()
    sync(e.device)
    mid = time.perf_counter()
    loss.backward()
    sync(e.device)
    return [mid - start, time.perf_counter() - mid]


def run(settings: Settings, device: str = "cpu") -> dict[str, dict[str, Any]]:
    """Both spatial figures, measured side by side."""
    case = SpatialCase.for_settings(settings)
    edges = full_graph(case.joints)
    n_direct = case.direct_edges or len(edges)
    w, h = case.heatmap_size
    with num_threads(settings.threads):
        load_start = load_avg()
        model = make_model(case, device, edges)
        sub = model if n_direct == len(edges) else make_model(case, device, edges[:n_direct])
        e = torch.rand(case.batch, case.joints, h, w, generator=torch.Generator().manual_seed(0))
        e = e.to(device)
        e_direct = e[: min(case.direct_batch, case.batch)].contiguous()
        per_direct = len(e_direct)
        repeat(lambda: fft_step(model, e), case.warmup, device)
        fft_all: list[float] = []
        direct_all: list[float] = []
        parts: list[list[float]] = []
        ratio: list[float] = []
        for _ in range(case.repeats):
            before = repeat(lambda: fft_step(model, e), case.fft_block, device)
            part = direct_step(sub, e_direct)
            after = repeat(lambda: fft_step(model, e), case.fft_block, device)
            direct = sum(part) * len(edges) / n_direct
            fft_med = statistics.median(before + after)
            fft_all += before + after
            direct_all.append(direct)
            parts.append(part)
            ratio.append((direct / per_direct) / (fft_med / case.batch))
        config = {
            "batch": case.batch,
            "direct_batch": per_direct,
            "joints": case.joints,
            "edges": len(edges),
            "graph": "full (all ordered pairs, self edges included)",
            "heatmap_size_wh": [w, h],
            "kernel_size": case.kernel_size,
            "fft_shape_hw": list(model.fft_shape),
            "grads": "kernels and biases (input frozen, as in the spatial stage)",
            "pass": "forward + backward",
            "dtype": "float32",
            "device": device,
            "direct": "F.conv2d grouped, padding K//2, channels_last",
            "direct_edges_measured": n_direct,
            "direct_scaled": n_direct != len(edges),
            "threads": settings.threads,
            "allocator_tuned": True,
        }
        common = {"device": device, "load_start": load_start}
        per_image = [1e3 * t / case.batch for t in fft_all]
        ratio_fig = figure(
            ratio, "x", config, target=(">=", 20.0), **common,
            details={
                "direct_s_per_image": [d / per_direct for d in direct_all],
                "direct_forward_backward_s": parts,
                "fft_s_per_batch_median": statistics.median(fft_all),
                "method": f"direct (batch {per_direct}) once per repeat between two FFT blocks "
                          f"(batch {case.batch}); ratio per image = (direct / {per_direct}) / "
                          f"(median of those FFT runs / {case.batch})",
            },
        )  # fmt: skip
        ms_fig = figure(per_image, "ms/image", config, **common)
    return {"spatial_fft_vs_direct": ratio_fig, "spatial_ms_per_image": ms_fig}


def fft_ms_per_image(settings: Settings, device: str) -> dict[str, Any]:
    """The FFT figure alone (for the GPU section, where the direct side is not needed)."""
    case = SpatialCase.for_settings(settings)
    w, h = case.heatmap_size
    load_start = load_avg()
    model = make_model(case, device, full_graph(case.joints))
    e = torch.rand(case.batch, case.joints, h, w, device=device)
    repeat(lambda: fft_step(model, e), case.warmup, device)
    samples = [1e3 * timed(lambda: fft_step(model, e), device) / case.batch for _ in range(10)]
    config = {"batch": case.batch, "edges": len(model.edges), "heatmap_size_wh": [w, h],
              "kernel_size": case.kernel_size, "pass": "forward + backward", "device": device}  # fmt: skip
    return figure(samples, "ms/image", config, device=device, load_start=load_start)
