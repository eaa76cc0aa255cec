"""Is one model's PCK above another's by more than the test set's noise? A paired bootstrap.

Two rows of an ablation table are scored on the same test images, so their difference is
measured far more precisely than either PCK alone: the images that are hard for one model are
mostly hard for the other. The bootstrap resamples *images* (with their joints, which are not
independent) and recomputes the difference of the two pooled PCKs on each resample; the
interval is the percentile interval of those differences (``scipy.stats.bootstrap``,
``paired=True``). Seeded, so a table is reproducible.

On 50 genuine test photographs (700 joints) one row's PCK@0.2 has a standard error near 0.013,
yet two rows' difference can be resolved much more finely, or not at all: this says which.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import bootstrap


def align(a: dict[str, Any], b: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two ``PerImagePCK.per_image()`` records of the same test images -> (correct_a (N, A),
    correct_b (N, A), counted (N,)). Raises ``ValueError`` when they are not the same images,
    thresholds or counted joints (then their rows are not comparable)."""
    if list(a["alphas"]) != list(b["alphas"]):
        raise ValueError(f"paired PCK: thresholds differ ({a['alphas']} against {b['alphas']})")
    ia, ib = np.asarray(a["index"]), np.asarray(b["index"])
    if ia.shape != ib.shape or not np.array_equal(ia, ib):
        raise ValueError(
            f"paired PCK: the two were scored on different test images ({ia.size} and {ib.size})"
        )
    counted = np.asarray(a["counted"], np.int64)
    if not np.array_equal(counted, np.asarray(b["counted"], np.int64)):
        raise ValueError("paired PCK: the two counted different joints on the same images")
    width = len(a["alphas"])
    ca = np.asarray(a["correct"], np.int64).reshape(-1, width)
    cb = np.asarray(b["correct"], np.int64).reshape(-1, width)
    return ca, cb, counted


def _difference(x: np.ndarray, y: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pooled PCK of x minus that of y: (Σx − Σy) / Σn along ``axis`` (vectorised)."""
    return (x.sum(axis=axis) - y.sum(axis=axis)) / n.sum(axis=axis)


def paired_difference(
    a: dict[str, Any],
    b: dict[str, Any],
    resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, Any] | None:
    """PCK of ``a`` minus PCK of ``b`` at each of their thresholds, with a paired bootstrap
    interval over the test images.

    Returns ``{"images": N, "pck@0.1": {"delta", "low", "high"}, ...}`` (fractions), or None
    when no joint was counted (nothing to compare)."""
    ca, cb, counted = align(a, b)
    if counted.sum() == 0:
        return None
    out: dict[str, Any] = {"images": int(counted.size)}
    for k, key in enumerate(a["alphas"]):
        x, y = ca[:, k].astype(np.float64), cb[:, k].astype(np.float64)
        n = counted.astype(np.float64)
        delta = float(_difference(x, y, n))
        if counted.size < 2 or np.array_equal(x, y):  # no spread to resample
            low = high = delta
        else:
            result = bootstrap(
                (x, y, n),
                _difference,
                paired=True,
                vectorized=True,
                n_resamples=resamples,
                confidence_level=confidence,
                method="percentile",
                rng=np.random.default_rng(seed),
            )
            low, high = (
                float(result.confidence_interval.low),
                float(result.confidence_interval.high),
            )
        out[f"pck@{key}"] = {"delta": delta, "low": low, "high": high}
    return out


def format_interval(d: dict[str, float]) -> str:
    """One :func:`paired_difference` entry as ``+0.021 [+0.012, +0.030]``."""
    return f"{d['delta']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


__all__ = ["align", "format_interval", "paired_difference"]
