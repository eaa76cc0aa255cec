"""The ablation table's differences: which pairs get an interval, and the markdown they make."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from omegaconf import OmegaConf

from posehybrid.ablation import ablation_markdown, differences
from posehybrid.metrics.per_image import per_image_to_json

INTERVALS = OmegaConf.create({"resamples": 500, "confidence": 0.95, "seed": 0})


def _record(correct: list[list[int]], counted: list[int], index: list[int] | None = None) -> dict:
    n = len(counted)
    return per_image_to_json(
        {
            "alphas": ["0.1", "0.2"],
            "index": np.arange(n) if index is None else np.asarray(index),
            "correct": np.asarray(correct),
            "counted": np.asarray(counted),
        }
    )


def test_pairs_with_both_records_get_an_interval(caplog: pytest.LogCaptureFixture) -> None:
    det = _record([[3, 5], [2, 6], [4, 7], [1, 3]], [10, 10, 10, 10])
    spatial = _record([[4, 6], [2, 7], [4, 8], [2, 5]], [10, 10, 10, 10])
    shifted = _record([[4, 6], [2, 7], [4, 8], [2, 5]], [10, 10, 10, 10], index=[1, 2, 3, 4])
    per_image = {"part_detector": det, "spatial": spatial, "joint": None, "other": shifted}
    pairs = [("spatial", "part_detector"), ("joint", "spatial"), ("other", "part_detector")]
    with caplog.at_level(logging.WARNING):
        out = differences(per_image, pairs, INTERVALS)
    # joint has no record (a run from before them): skipped; other: other images, warned
    assert [(d["a"], d["b"]) for d in out] == [("spatial", "part_detector")]
    assert "no interval for other − part_detector" in caplog.text
    assert out[0]["images"] == 4
    assert out[0]["pck@0.1"]["delta"] == pytest.approx((12 - 10) / 40)
    assert out[0]["pck@0.2"]["delta"] == pytest.approx((26 - 21) / 40)
    table = {
        "experiment": "x",
        "stages": [{"stage": "spatial", "pck@0.1": 0.3, "pck@0.2": 0.65, "parts": {}}],
        "differences": out,
        "intervals": {"resamples": 500, "confidence": 0.95, "seed": 0},
    }
    text = ablation_markdown(table)
    d = out[0]["pck@0.2"]
    assert f"| spatial − part_detector | {out[0]['pck@0.1']['delta']:+.3f} [" in text
    assert f"{d['delta']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] |" in text
    assert "same 4 test images, with 95 % paired bootstrap intervals" in text


def test_no_differences_no_section() -> None:
    table = {"experiment": "x", "stages": [], "differences": [], "intervals": {}}
    assert "bootstrap" not in ablation_markdown(table)


def test_rows_with_error_kinds_get_their_table() -> None:
    kinds = {"good": 0.8, "jitter": 0.1, "inversion": 0.06, "miss": 0.04}
    stages = [
        {"stage": "mean pose", "pck@0.1": 0.0, "pck@0.2": 0.05, "parts": {}},  # no kinds: no row
        {"stage": "joint", "pck@0.1": 0.7, "pck@0.2": 0.8, "parts": {}, "errors": kinds},
        {"stage": "old run", "pck@0.1": 0.7, "pck@0.2": 0.8, "parts": {},
         "errors": {**kinds, "miss": None}},
    ]  # fmt: skip
    text = ablation_markdown({"experiment": "x", "stages": stages, "differences": []})
    assert "| stage | good | jitter | inversion | miss |" in text
    assert "| joint | 0.800 | 0.100 | 0.060 | 0.040 |" in text
    assert "| old run | 0.800 | 0.100 | 0.060 | - |" in text
    assert "| mean pose | 0.000" in text and "| mean pose | 0.050 |" not in text.split("kind")[1]


def test_visible_and_occluded_columns_only_where_a_row_has_such_joints() -> None:
    kinds = {"good": 0.8, "jitter": 0.1, "inversion": 0.06, "miss": 0.04}
    stages = [
        {"stage": "spatial", "pck@0.1": 0.7, "pck@0.2": 0.8, "parts": {}, "errors": kinds,
         "visibility": {"visible": 0.85, "occluded": 0.3}},
        {"stage": "old run", "pck@0.1": 0.7, "pck@0.2": 0.8, "parts": {}, "errors": kinds},
    ]  # fmt: skip
    text = ablation_markdown({"experiment": "x", "stages": stages, "differences": []})
    assert "| miss | PCK@0.2 visible | PCK@0.2 occluded |" in text
    assert "| spatial | 0.800 | 0.100 | 0.060 | 0.040 | 0.850 | 0.300 |" in text
    assert "| old run | 0.800 | 0.100 | 0.060 | 0.040 | - | - |" in text
    # FLIC marks no joint occluded: no occluded column
    stages[0]["visibility"] = {"visible": 0.8, "occluded": None}
    text = ablation_markdown({"experiment": "x", "stages": stages, "differences": []})
    assert "| miss | PCK@0.2 visible |" in text and "occluded |" not in text
