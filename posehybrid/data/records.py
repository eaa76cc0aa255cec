"""The common record every dataset reader returns, and the error type for bad data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """Bad or missing dataset input. The message names the file/field and what was expected."""


@dataclass
class PoseRecord:
    """One annotated person.

    Attributes:
        image_path: absolute path of the image file.
        keypoints: (J, 2) float32, x/y in original image pixels (finite; 0 where unannotated).
        visible: (J,) bool, True where the joint is annotated *and* visible.
        annotated: (J,) bool, True where the joint has a usable coordinate (occluded counts).
        torso_box: (4,) float32 [x1, y1, x2, y2] in image pixels, or None (FLIC has one).
        image_size: (width, height) when known from the annotation, else None.
        meta: free-form per-dataset extras (e.g. FLIC ``moviename``); plain types only.
    """

    image_path: Path
    keypoints: np.ndarray
    visible: np.ndarray
    annotated: np.ndarray
    torso_box: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    meta: dict | None = None
