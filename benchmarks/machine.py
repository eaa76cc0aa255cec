"""The machine a figure was measured on: CPU model and flags, kernel libraries, and a
theoretical fp32 peak from the vector width, FMA units, cores and clock.

The peak is a datasheet-style upper bound, recorded next to the measured reference so that
an MFU can be read both ways. Its inputs are partly inferred and say so:

- vector width: the ISA (``avx512f`` / ``avx2`` flags) *and* the datapath. AMD Zen 1 splits
  256-bit AVX2 into two 128-bit halves, Zen 2-4 run 256 bits per FMA pipe (Zen 4's AVX-512 is
  double-pumped), Zen 5 has 512-bit pipes; so AMD parts are looked up by CPU family/model.
- FMA units: 2 per core on every listed microarchitecture (some Intel Xeon Silver/Bronze
  parts have 1 AVX-512 FMA unit: there the peak is 2x too high; marked ``assumed``).
- clock: ``cpufreq``'s maximum when the kernel exposes it, else ``/proc/cpuinfo``'s "cpu MHz"
  (under a hypervisor, usually the nominal TSC clock: an estimate; turbo may run higher, so
  measured kernels can exceed this peak).
- under a hypervisor (``hypervisor`` flag) family/model are the *virtual* CPU model's (KVM's
  "EPYC" model is Zen 1 whatever the host is), so the datapath may be under-estimated too.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path
from typing import Any

import torch

# flags that decide which fp32/bf16 kernels oneDNN and MKL can pick
KERNEL_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo() -> dict[str, str]:
    """The first processor block of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def _clock_ghz(info: dict[str, str]) -> tuple[float | None, str, bool]:
    """(GHz, where it came from, whether it is an estimate)."""
    try:
        khz = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()
        return int(khz) / 1e6, "cpufreq cpuinfo_max_freq (max boost)", False
    except (OSError, ValueError):
        pass
    m = re.search(r"@\s*([\d.]+)\s*GHz", info.get("model name", ""))
    if m:
        return float(m.group(1)), "model name (base clock; turbo may be higher)", True
    if "cpu MHz" in info:
        return float(info["cpu MHz"]) / 1e3, "/proc/cpuinfo cpu MHz (nominal/current)", True
    return None, "unknown", True


def _datapath(vendor: str, family: int, model: int, flags: set[str]) -> tuple[int, str]:
    """(bits of fp32 FMA per pipe, microarchitecture label)."""
    if vendor == "AuthenticAMD":
        if family == 0x17:
            return (128, "Zen/Zen+") if model < 0x30 else (256, "Zen 2")
        if family == 0x19:
            zen4 = 0x10 <= model < 0x20 or 0x60 <= model < 0x80 or 0xA0 <= model < 0xB0
            return (256, "Zen 4 (AVX-512 double-pumped)") if zen4 else (256, "Zen 3")
        if family == 0x1A:
            return 512, "Zen 5"
    if "avx512f" in flags:
        return 512, "AVX-512"
    if "avx2" in flags or "avx" in flags:
        return 256, "AVX/AVX2"
    return 128, "SSE"


def theoretical_peak(
    vendor: str, family: int, model: int, flags: set[str], cores: int, ghz: float | None
) -> dict[str, Any]:
    """fp32 FLOP/s = cores × FMA units × (datapath / 32 lanes) × 2 (an FMA) × clock."""
    bits, arch = _datapath(vendor, family, model, flags)
    fma_units = 2 if "fma" in flags or "avx512f" in flags else 1
    per_cycle = fma_units * (bits // 32) * 2
    return {
        "fp32_flop_s": None if ghz is None else cores * per_cycle * ghz * 1e9,
        "microarchitecture": arch,
        "datapath_bits": bits,
        "fma_units_per_core": fma_units,
        "fma_units_assumed": True,
        "flop_per_cycle_per_core": per_cycle,
        "cores": cores,
        "clock_ghz": ghz,
        "rule": "cores x FMA units x (datapath bits / 32) x 2 x clock",
    }


def _library_versions() -> dict[str, str | None]:
    config = torch.__config__.show()

    def find(pattern: str) -> str | None:
        m = re.search(pattern, config)
        return m.group(1).strip() if m else None

    return {
        "onednn": find(r"MKL-DNN (v[\w.]+)") if torch.backends.mkldnn.is_available() else None,
        "mkl": find(r"Math Kernel Library Version ([^\n]+?) for") if torch.backends.mkl.is_available() else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }  # fmt: skip


@functools.lru_cache(maxsize=1)
def cpu() -> dict[str, Any]:
    """Everything about this CPU and torch build that the figures depend on (cached)."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    vendor = info.get("vendor_id", platform.processor())
    family, model = int(info.get("cpu family", 0) or 0), int(info.get("model", 0) or 0)
    cores = os.cpu_count() or 1
    ghz, clock_source, estimate = _clock_ghz(info)
    peak = theoretical_peak(vendor, family, model, flags, cores, ghz)
    result = {
        "model": info.get("model name", platform.processor() or platform.machine()),
        "vendor": vendor,
        "family": family,
        "model_number": model,
        "cores": cores,
        "flags": {f: f in flags for f in KERNEL_FLAGS},
        "clock_ghz": ghz,
        "clock_source": clock_source,
        "clock_is_estimate": estimate,
        "virtualized": "hypervisor" in flags,
        "peak": peak,
        "torch": torch.__version__,
        **_library_versions(),
    }
    result["summary"] = describe(result)
    return result


def describe(info: dict[str, Any]) -> str:
    """One line for a README table caption: CPU, flags, clock, peak, libraries."""
    flags = " ".join(f for f, on in info["flags"].items() if on) or "no AVX"
    clock = "clock unknown"
    if info["clock_ghz"]:
        clock = f"{info['clock_ghz']:.2f} GHz" + (
            " (estimate)" if info["clock_is_estimate"] else ""
        )
    peak = info["peak"]["fp32_flop_s"]
    peak_s = f"fp32 peak {peak / 1e9:.0f} GFLOP/s" if peak else "fp32 peak unknown"
    return (
        f"{info['model']} ({info['peak']['microarchitecture']}"
        f"{', virtual' if info.get('virtualized') else ''}; {flags}), {info['cores']} cores, "
        f"{clock}, {peak_s}; torch {info['torch']}, oneDNN {info['onednn']}, MKL {info['mkl']}"
    )


__all__ = ["KERNEL_FLAGS", "cpu", "describe", "theoretical_peak"]
