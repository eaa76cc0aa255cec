"""``make bench`` code paths on tiny sizes (``--quick``): every figure is produced with the
documented record layout. No time is asserted here (benchmarks measure; tests check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import Settings, figure, spread
from benchmarks.machine import KERNEL_FLAGS, theoretical_peak
from benchmarks.run import selected, table

REPO = Path(__file__).resolve().parents[1]
CPU_FIGURES = {
    "spatial_fft_vs_direct": (">=", 20.0),
    "spatial_ms_per_image": None,
    "lightning_overhead": (">=", 0.95),
    "detector_mfu": (">=", 0.35),
    "detector_mfu_small": None,
    "loader_vs_train": (">=", 5.0),
    "infer_ms_small": ("<=", 8.0),
    "infer_img_s_small": None,
    "peak_rss_gib_spatial_paper": ("<=", 4.0),
}


def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--no-gpu", "--out", str(out),
         "--data-dir", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    bench = json.loads(out.read_text())
    assert bench["quick"] is True and bench["machine"]["cores"] >= 1
    for key, target in CPU_FIGURES.items():
        fig = bench[key]
        cpu = fig["machine"]["cpu"]  # every figure names the machine and the kernel libraries
        assert {
            "model",
            "cores",
            "flags",
            "clock_ghz",
            "clock_is_estimate",
            "peak",
            "summary",
        } <= set(cpu)
        assert set(KERNEL_FLAGS) <= set(cpu["flags"]), key
        assert cpu["torch"] and "onednn" in cpu and "mkl" in cpu, key
        if "error" in fig:  # only an impossible MFU may be refused, and then is no figure
            assert key.startswith("detector_mfu") and "MFU" in fig["error"], key
            assert "median" not in fig and fig["verdict"] == "error", key
            continue
        assert fig["min"] <= fig["median"] <= fig["max"], key
        assert fig["repeats"] == len(fig["samples"]) >= 1, key
        assert fig["median"] > 0, key
        assert {"cores", "torch_threads", "device"} <= set(fig["machine"]), key
        if target is None:
            assert fig["target"] is None and fig["meets_target"] is None, key
            assert fig["verdict"] == "report", key
        else:
            assert (fig["target"]["op"], fig["target"]["value"]) == target, key
            assert fig["verdict"] in ("pass", "fail", "noisy"), key
            assert isinstance(fig["meets_target"], bool) == (fig["verdict"] != "noisy"), key
    for key in ("detector_mfu", "detector_mfu_small"):
        if "error" not in bench[key]:
            assert bench[key]["max"] <= 1.0, key
            assert len(bench[key]["details"]["reference_survey_flop_s"]) >= 4, key
    assert bench["spatial_fft_vs_direct"]["repeats"] >= 3
    overhead = bench["lightning_overhead"]
    assert (
        overhead["spread"]["limit"] == 0.05 and overhead["repeats"] == overhead["config"]["pairs"]
    )
    infer = bench["infer_ms_small"]
    assert infer["config"]["batch_norm"].startswith("folded")
    assert len(infer["details"]["unfolded_ms"]) == infer["repeats"]
    # the table on stdout has one row per figure
    assert all(f"| {key} |" in proc.stdout for key in CPU_FIGURES)


def test_table_marks_missed_targets() -> None:
    fig = {"median": 3.0, "min": 2.0, "max": 4.0, "unit": "x",
           "target": {"op": ">=", "value": 5.0}, "meets_target": False}  # fmt: skip
    (row,) = table({"ratio": fig, "machine": {"cores": 2}})
    assert row.startswith("| ratio | 3 x |") and "**no**" in row and ">= 5" in row


def test_unknown_suite_is_refused() -> None:
    assert selected("spatial, gpu") == ["spatial", "gpu"]
    try:
        selected("spatial,nope")
    except SystemExit as err:
        assert "nope" in str(err)
    else:
        raise AssertionError("an unknown suite must be refused")


def test_noisy_figure_is_neither_pass_nor_fail() -> None:
    cfg: dict = {}
    tight = figure([1.00, 0.99, 1.01, 1.02], "fraction", cfg, target=(">=", 0.95), max_spread=0.05)
    assert tight["verdict"] == "pass" and tight["meets_target"] is True
    assert not tight["spread"]["noisy"]
    wide = figure([1.00, 0.80, 1.01, 1.02], "fraction", cfg, target=(">=", 0.95), max_spread=0.05)
    assert wide["verdict"] == "noisy" and wide["meets_target"] is None
    assert wide["spread"]["below"] == pytest.approx(1 - 0.80 / 1.005)
    fail = figure([0.90, 0.91, 0.89], "fraction", cfg, target=(">=", 0.95), max_spread=0.05)
    assert fail["verdict"] == "fail" and fail["meets_target"] is False
    (row,) = table({"x": wide})
    assert row.endswith("| noisy |")
    assert spread([2.0, 2.0], 0.01) == {"below": 0.0, "above": 0.0, "limit": 0.01, "noisy": False}


def test_mfu_above_one_is_an_error_entry_not_a_figure(tmp_path) -> None:
    """A reference slower than the training step (as MKL's mm was on AMD) is refused."""
    from benchmarks.detector import mfu_figure
    from benchmarks.reference import Reference

    class Slow(Reference):
        def best_flop_s(self) -> float:
            return 1e3  # 1 kFLOP/s: any real step "beats" it

    ref = Slow(quick=True, runs=1)
    ref.table, ref.best = {"mm_128": 1e3}, "mm_128"
    entry = mfu_figure("small", Settings(quick=True, data_dir=tmp_path), reference=ref)
    assert "median" not in entry and entry["verdict"] == "error"
    assert "MFU" in entry["error"] and max(entry["details"]["rejected_mfu"]) > 1
    (row,) = table({"detector_mfu_small": entry})
    assert "**error**" in row


def test_theoretical_peak_from_vector_width_fma_cores_and_clock() -> None:
    avx512 = {"fma", "avx2", "avx512f"}
    # Zen 4: AVX-512 on 256-bit pipes, 2 FMA units: 2 x 8 lanes x 2 = 32 FLOP/cycle/core
    zen4 = theoretical_peak("AuthenticAMD", 0x19, 0x11, avx512, cores=2, ghz=3.0)
    assert zen4["flop_per_cycle_per_core"] == 32 and zen4["fp32_flop_s"] == 2 * 32 * 3.0e9
    assert theoretical_peak("AuthenticAMD", 0x1A, 0x02, avx512, 2, 3.0)["datapath_bits"] == 512
    assert theoretical_peak("AuthenticAMD", 0x17, 0x01, {"fma", "avx2"}, 2, 2.0)[
        "flop_per_cycle_per_core"
    ] == 16  # fmt: skip
    assert theoretical_peak("GenuineIntel", 6, 0x55, avx512, 1, 2.0)["fp32_flop_s"] == 128e9
    assert theoretical_peak("GenuineIntel", 6, 0x55, avx512, 1, None)["fp32_flop_s"] is None
