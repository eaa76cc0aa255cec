"""The machine's best dense fp32 throughput: the reference an MFU divides by.

One library's GEMM is not the machine's best everywhere: on AMD EPYC CPUs MKL's ``torch.mm``
was measured at 150 GFLOP/s while oneDNN's convolutions in the detector's training step did
273 GFLOP/s, an "MFU" of 1.84. So the reference is the best of several dense kernels from both
libraries that torch dispatches to on the CPU:

- ``mm_<n>``: MKL (the CPU BLAS) ``torch.mm`` of two n×n matrices into a preallocated output
  (n = 512, 1024, 2048: 4096 was no faster here and costs 8x the time per call);
- ``conv1x1_<c>_nchw`` / ``_nhwc``: oneDNN's GEMM behind a 1x1 convolution of a (1, c, s, s)
  input with c output channels, (s², c) × (c, c), in both memory formats;
- ``conv3x3_<c>_nhwc``: a 3x3 convolution in channels_last (more reuse per byte than a GEMM).

Each kernel's FLOPs are 2 × multiply-adds (bias-free), the detector's convention.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import repeat


@dataclass(frozen=True)
class Kernel:
    """One dense kernel: ``make()`` builds its inputs and returns (call, FLOPs per call)."""

    name: str
    make: Callable[[torch.device], tuple[Callable[[], Any], int]]


def _mm(n: int) -> Kernel:
    def make(device: torch.device) -> tuple[Callable[[], Any], int]:
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen).to(device)
        b = torch.randn(n, n, generator=gen).to(device)
        out = torch.empty(n, n, device=device)
        return (lambda: torch.mm(a, b, out=out)), 2 * n**3

    return Kernel(f"mm_{n}", make)


def _conv(c: int, side: int, k: int, channels_last: bool) -> Kernel:
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def make(device: torch.device) -> tuple[Callable[[], Any], int]:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, c, side, side, generator=gen).to(device, memory_format=fmt)
        w = (torch.randn(c, c, k, k, generator=gen) / (c * k * k) ** 0.5).to(
            device, memory_format=fmt
        )
        return (lambda: F.conv2d(x, w, padding=k // 2)), 2 * c * c * k * k * side * side

    layout = "nhwc" if channels_last else "nchw"
    return Kernel(f"conv{k}x{k}_{c}_{layout}", make)


def kernels(quick: bool) -> list[Kernel]:
    """The candidates: ~0.1-2 GFLOP each at full size (a call is milliseconds on 2 cores)."""
    if quick:
        return [_mm(128), _mm(256), _conv(64, 16, 1, False), _conv(64, 16, 1, True)]
    return [
        _mm(512),
        _mm(1024),
        _mm(2048),
        _conv(512, 64, 1, False),
        _conv(512, 64, 1, True),
        _conv(256, 64, 3, True),
    ]


class Reference:
    """Measures the candidate kernels and re-measures the best one on demand.

    ``survey()`` times every kernel (median of ``runs`` after a warm-up) and picks the best;
    ``best_flop_s()`` times that kernel again, so that each MFU repeat divides by a reference
    taken next to it (the same machine load), not by one taken minutes earlier.
    """

    def __init__(self, quick: bool, device: str | torch.device = "cpu", runs: int = 3) -> None:
        self.device = torch.device(device)
        self.runs = runs
        self._built = {k.name: k.make(self.device) for k in kernels(quick)}
        self.table: dict[str, float] = {}
        self.best = ""

    def flop_s(self, name: str, runs: int | None = None) -> float:
        call, flops = self._built[name]
        call()  # warm-up: thread pool, packing buffers, oneDNN primitive creation
        return flops / statistics.median(repeat(call, runs or self.runs, self.device))

    def survey(self) -> dict[str, float]:
        self.table = {name: self.flop_s(name) for name in self._built}
        self.best = max(self.table, key=self.table.__getitem__)
        return self.table

    def best_flop_s(self) -> float:
        if not self.best:
            self.survey()
        return self.flop_s(self.best)


__all__ = ["Kernel", "Reference", "kernels"]
