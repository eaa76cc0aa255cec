"""``make bench`` code paths on tiny sizes (``--quick``): every figure is produced with the
documented record layout. No time is asserted here (benchmarks measure; tests check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.run import selected, table

REPO = Path(__file__).resolve().parents[1]
CPU_FIGURES = {
    "spatial_fft_vs_direct": (">=", 20.0),
    "spatial_ms_per_image": None,
    "lightning_overhead": (">=", 0.95),
    "detector_mfu": (">=", 0.35),
    "detector_mfu_small": None,
    "loader_vs_train": (">=", 5.0),
    "infer_ms_small": ("<=", 10.0),
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
        assert fig["min"] <= fig["median"] <= fig["max"], key
        assert fig["repeats"] == len(fig["samples"]) >= 1, key
        assert fig["median"] > 0, key
        assert {"cores", "torch_threads", "device"} <= set(fig["machine"]), key
        if target is None:
            assert fig["target"] is None and fig["meets_target"] is None, key
        else:
            assert (fig["target"]["op"], fig["target"]["value"]) == target, key
            assert isinstance(fig["meets_target"], bool), key
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
