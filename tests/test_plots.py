"""The one PCK-curve plotter that eval, score and compare share."""

from __future__ import annotations

from pathlib import Path

import cv2

from posehybrid.plots import part_curves, plot_pck_curves


def test_part_curves_adds_the_pooled_curve_last() -> None:
    t = [0.0, 0.1, 0.2]
    curves = part_curves(t, [0.0, 0.5, None], {"wrist": [0.0, 0.2, 0.4], "hip": [0.1, 0.9, 1.0]})
    assert list(curves) == ["wrist", "hip", "all joints"]
    assert curves["all joints"] == (t, [0.0, 0.5, None])


def test_plot_writes_a_png_and_leaves_no_temporary(tmp_path: Path) -> None:
    t = [0.0, 0.1, 0.2]
    path = plot_pck_curves(
        part_curves(t, [0.0, 0.5, 0.8], {"wrist": [0.0, None, 0.4]}),
        tmp_path / "curve.png",
        "title",
        emphasise="all joints",
    )
    image = cv2.imread(str(path))
    assert path == tmp_path / "curve.png" and image is not None and min(image.shape[:2]) > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]
