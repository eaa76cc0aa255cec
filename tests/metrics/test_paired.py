"""The paired bootstrap of two rows' PCK difference over the test images (metrics/paired.py),
against an independent reference: the normal approximation with a cluster-robust (per-image)
standard error, which a large test set makes accurate."""

from __future__ import annotations

import numpy as np
import pytest

from posehybrid.metrics.paired import align, paired_difference

SETTINGS = {"resamples": 4000, "confidence": 0.95, "seed": 0}


def _records(n_images: int, seed: int, p_a: float = 0.8, p_b: float = 0.75):
    """Two correlated models on the same images: b is a with some joints lost and some won."""
    rng = np.random.default_rng(seed)
    counted = rng.integers(8, 15, n_images)
    a = rng.binomial(counted, p_a)
    b = np.clip(a - rng.binomial(a, 1 - p_b / p_a) + rng.binomial(counted - a, 0.05), 0, counted)
    index = np.arange(n_images)

    def rec(correct: np.ndarray) -> dict:
        return {"alphas": ["0.2"], "index": index, "correct": correct[:, None], "counted": counted}

    return rec(a), rec(b)


def _normal_interval(a: dict, b: dict) -> tuple[float, float, float]:
    d = (a["correct"][:, 0] - b["correct"][:, 0]).astype(float)
    n = a["counted"].astype(float)
    delta = d.sum() / n.sum()
    m = d.size
    se = np.sqrt(m / (m - 1) * ((d - delta * n) ** 2).sum()) / n.sum()
    return delta, delta - 1.959964 * se, delta + 1.959964 * se


def test_delta_is_the_difference_of_the_pooled_pcks() -> None:
    a, b = _records(300, 1)
    out = paired_difference(a, b, **SETTINGS)
    pooled = [r["correct"][:, 0].sum() / r["counted"].sum() for r in (a, b)]
    assert out["images"] == 300
    assert out["pck@0.2"]["delta"] == pytest.approx(pooled[0] - pooled[1], abs=1e-12)
    assert out["pck@0.2"]["low"] < out["pck@0.2"]["delta"] < out["pck@0.2"]["high"]


def test_interval_matches_the_normal_approximation_on_many_images() -> None:
    a, b = _records(2000, 2)
    out = paired_difference(a, b, **SETTINGS)["pck@0.2"]
    delta, low, high = _normal_interval(a, b)
    width = high - low
    assert out["delta"] == pytest.approx(delta, abs=1e-12)
    # 4000 resamples: the percentile bounds scatter by a few % of the width
    assert out["low"] == pytest.approx(low, abs=0.06 * width)
    assert out["high"] == pytest.approx(high, abs=0.06 * width)


def test_sixteen_times_the_images_quarter_the_width() -> None:
    def width(n: int) -> float:
        d = paired_difference(*_records(n, 3), **SETTINGS)["pck@0.2"]
        return d["high"] - d["low"]

    ratio = width(100) / width(1600)
    assert 3.0 < ratio < 5.3  # sqrt(16) = 4


def test_seeded_and_symmetric() -> None:
    a, b = _records(200, 4)
    first, again = paired_difference(a, b, **SETTINGS), paired_difference(a, b, **SETTINGS)
    assert first == again
    other = paired_difference(a, b, **{**SETTINGS, "seed": 1})["pck@0.2"]
    assert other["delta"] == first["pck@0.2"]["delta"] and other["low"] != first["pck@0.2"]["low"]
    swapped = paired_difference(b, a, **SETTINGS)["pck@0.2"]
    assert swapped["delta"] == pytest.approx(-first["pck@0.2"]["delta"])
    assert swapped["low"] == pytest.approx(-first["pck@0.2"]["high"], abs=1e-12)


def test_identical_rows_differ_by_exactly_zero() -> None:
    a, _ = _records(50, 5)
    out = paired_difference(a, a, **SETTINGS)["pck@0.2"]
    assert out == {"delta": 0.0, "low": 0.0, "high": 0.0}


def test_nothing_counted_gives_none() -> None:
    a, b = _records(5, 6)
    for r in (a, b):
        r["counted"] = np.zeros(5, np.int64)
        r["correct"] = np.zeros((5, 1), np.int64)
    assert paired_difference(a, b, **SETTINGS) is None


def test_rows_of_other_images_are_refused() -> None:
    a, b = _records(20, 7)
    with pytest.raises(ValueError, match="different test images"):
        align(a, {**b, "index": b["index"] + 1})
    with pytest.raises(ValueError, match="different test images"):
        align(a, {**b, "index": b["index"][:10]})
    with pytest.raises(ValueError, match="counted different joints"):
        align(a, {**b, "counted": b["counted"] + 1})
    with pytest.raises(ValueError, match="thresholds differ"):
        align(a, {**b, "alphas": ["0.1"]})
