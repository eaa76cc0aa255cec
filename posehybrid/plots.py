"""Evaluation figures: PCK-vs-α curves (the FLIC figure's style) and best/worst examples.

Both write PNGs atomically (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from posehybrid.data.draw import draw_skeleton
from posehybrid.data.geometry import apply_affine, prescale, to3x3
from posehybrid.data.skeleton import JointSet
from posehybrid.utils.io import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    plt = _pyplot()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)


def plot_pck_curve(
    thresholds: Sequence[float],
    pooled: Sequence[float | None],
    parts: dict[str, Sequence[float | None]],
    path: str | Path,
    title: str = "",
) -> Path:
    """PCK (%) against the normalised distance α (0–0.2): one line per part, total dashed.

    Args:
        thresholds: (T,) α values. pooled: (T,) pooled PCK as fractions (None = undefined).
        parts: part -> (T,) PCK fractions.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))

    def pct(values: Sequence[float | None]) -> list[float]:
        return [np.nan if v is None else 100.0 * v for v in values]

    for part, values in parts.items():
        ax.plot(thresholds, pct(values), marker=".", markersize=3, label=part)
    ax.plot(thresholds, pct(pooled), "k--", linewidth=2, label="all joints")
    ax.set(
        xlabel="normalized distance (fraction of torso)",
        ylabel="detection rate (%)",
        title=title,
        xlim=(0, max(thresholds)),
        ylim=(0, 100),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def example_tile(
    image: np.ndarray,
    display_affine: np.ndarray,
    size: int,
    pred: np.ndarray,
    gt: np.ndarray,
    joint_set: JointSet,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """One example cropped/letterboxed to ``size`` x ``size``: prediction as a coloured
    skeleton, ground truth as white rings.

    Args:
        image: (h,w,3) uint8 RGB original. display_affine: (2,3) original px -> tile px.
        pred, gt: (J,2) original px. mask: (J,) joints with ground truth.
    """
    small, stored = prescale(image, display_affine, margin=1.0)  # area-filter big frames
    # One resample of the prescaled copy: tile = display_affine o stored^-1.
    warp = (to3x3(display_affine) @ np.linalg.inv(to3x3(stored)))[:2]
    tile = cv2.warpAffine(small, warp, (size, size), flags=cv2.INTER_LINEAR)
    tile = draw_skeleton(tile, apply_affine(display_affine, pred), joint_set)
    g = apply_affine(display_affine, gt)
    ok = np.isfinite(g).all(axis=1) & (np.ones(len(g), bool) if mask is None else mask)
    radius = max(2, size // 64)
    for x, y in g[ok]:
        cv2.circle(tile, (round(x), round(y)), radius, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def plot_examples(
    best: Sequence[tuple[np.ndarray, str]],
    worst: Sequence[tuple[np.ndarray, str]],
    path: str | Path,
    title: str = "",
) -> Path:
    """Two rows of tiles (best, worst), each tile (H,W,3) uint8 with its caption."""
    plt = _pyplot()
    ncols = max(len(best), len(worst), 1)
    fig, axes = plt.subplots(2, ncols, figsize=(2.6 * ncols, 5.9), squeeze=False)
    for row, (label, tiles) in enumerate((("best", best), ("worst", worst))):
        for col in range(ncols):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(tiles):
                tile, caption = tiles[col]
                ax.imshow(tile)
                ax.set_title(f"{label}: {caption}", fontsize=7)
    fig.suptitle(title + "  (skeleton = prediction, white rings = ground truth)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
