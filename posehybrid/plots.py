"""Evaluation figures: PCK-vs-α curves (the FLIC figure's style), best/worst examples, and the
skeleton overlays of ``predict``.

Skeletons are drawn with line widths and point sizes that scale with the picture, small images
are upscaled first (a 157x105 LSPet photo at its own resolution shows a skeleton one pixel
wide), and a legend names the colours (left blue, right red, centre green). PNGs are written
atomically (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from posehybrid.data.draw import CENTRE, LEFT, RIGHT, draw_skeleton
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


Curve = tuple[Sequence[float], Sequence[float | None]]  # (α values (T,), PCK fractions (T,))


def plot_pck_curves(
    curves: dict[str, Curve],
    path: str | Path,
    title: str = "",
    emphasise: str | None = None,
) -> Path:
    """The one PCK-curve plotter (eval, score, compare): PCK (%) against the normalised
    distance α, one line per entry of ``curves`` (label -> (thresholds, fractions), None =
    undefined), the ``emphasise`` entry dashed black (the pooled "all joints" curve).
    Written atomically."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.4))

    def pct(values: Sequence[float | None]) -> list[float]:
        return [np.nan if v is None else 100.0 * v for v in values]

    xmax = 0.0
    for label, (thresholds, values) in curves.items():
        style = {"color": "k", "linestyle": "--", "linewidth": 2} if label == emphasise else {}
        ax.plot(thresholds, pct(values), marker=".", markersize=3, label=label, **style)
        xmax = max(xmax, *thresholds)
    ax.set(
        xlabel="normalised distance α (fraction of the protocol's length)",
        ylabel="PCK (%)",
        title=title,
        xlim=(0, xmax or 1.0),
        ylim=(0, 100),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def part_curves(
    thresholds: Sequence[float],
    pooled: Sequence[float | None],
    parts: dict[str, Sequence[float | None]],
) -> dict[str, Curve]:
    """One curve per part plus the pooled ``"all joints"`` one, for :func:`plot_pck_curves`."""
    return {**{p: (thresholds, v) for p, v in parts.items()}, "all joints": (thresholds, pooled)}


SIDES = (("left", LEFT), ("right", RIGHT), ("centre", CENTRE))


def line_style(image_size: int) -> tuple[int, int]:
    """(line thickness, joint radius) in px for a picture whose longer side is ``image_size``:
    about 1/128 and 1/50 of it, so the skeleton reads at any size."""
    thickness = max(2, round(image_size / 128))
    return thickness, max(3, 2 * thickness)


def _legend(image: np.ndarray) -> np.ndarray:
    """A left/right/centre colour key in the top-left corner, scaled with the image."""
    out = image.copy()
    long = max(out.shape[:2])
    scale = max(0.35, long / 900)
    thickness, radius = line_style(long)
    row = round(28 * scale) + 2
    width = round(110 * scale) + radius
    box = out[2 : 4 + row * len(SIDES), 2 : 2 + width]
    box[:] = (0.35 * box + 0.65 * 255).astype(np.uint8)  # light backing, the photo shows through
    for i, (name, colour) in enumerate(SIDES):
        y = 2 + row * i + row // 2
        cv2.circle(out, (4 + radius, y), radius, colour, -1, cv2.LINE_AA)
        cv2.putText(out, name, (10 + 2 * radius, y + round(7 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6 * scale, (0, 0, 0), max(1, thickness // 2), cv2.LINE_AA)  # fmt: skip
    return out


def skeleton_overlay(
    image: np.ndarray, keypoints: np.ndarray, joint_set: JointSet, min_side: int = 512
) -> np.ndarray:
    """The ``predict`` overlay: ``image`` upscaled to ``min_side`` (longer side) when smaller,
    the skeleton drawn at :func:`line_style`, and a colour legend.

    Args:
        image: (h, w, 3) uint8 RGB original. keypoints: (J, 2) original px.

    Returns:
        (H, W, 3) uint8 RGB, ``H / h = W / w >= 1``.
    """
    h, w = image.shape[:2]
    f = max(1.0, float(min_side) / max(h, w))
    kps = np.asarray(keypoints, np.float64)
    if f > 1.0:
        size = (round(w * f), round(h * f))
        image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
        fx, fy = size[0] / w, size[1] / h  # pixel centres: x' = (x + 0.5) f - 0.5
        kps = (kps + 0.5) * np.array([fx, fy]) - 0.5
    thickness, radius = line_style(max(image.shape[:2]))
    drawn = draw_skeleton(image, kps, joint_set, radius=radius, thickness=thickness)
    return _legend(drawn)


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
    thickness, radius = line_style(size)
    tile = draw_skeleton(tile, apply_affine(display_affine, pred), joint_set, radius=radius,
                         thickness=thickness)  # fmt: skip
    g = apply_affine(display_affine, gt)
    ok = np.isfinite(g).all(axis=1) & (np.ones(len(g), bool) if mask is None else mask)
    for x, y in g[ok]:
        cv2.circle(tile, (round(x), round(y)), radius + thickness, (255, 255, 255),
                   max(1, thickness // 2), cv2.LINE_AA)  # fmt: skip
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
    fig, axes = plt.subplots(2, ncols, figsize=(2.6 * ncols, 6.5), squeeze=False)
    for row, (label, tiles) in enumerate((("best", best), ("worst", worst))):
        for col in range(ncols):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(tiles):
                tile, caption = tiles[col]
                ax.imshow(tile)
                ax.set_title(f"{label}: {caption}", fontsize=7)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=np.array(c) / 255, marker="o", lw=3, label=f"{n} (prediction)")
               for n, c in SIDES]  # fmt: skip
    handles.append(Line2D([], [], color="0.5", marker="o", mfc="white", lw=0, label="ground truth"))
    fig.suptitle(title, fontsize=9)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1), h_pad=1.5)
    return _save(fig, path)
