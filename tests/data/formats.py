"""Fixture writers that produce the *exact* distributed on-disk formats (see design.md §5).

Import from any test::

    from tests.data.formats import write_lsp, write_lspet, write_flic, flic_example, lsp_joints

- ``write_lsp(root, joints (3,14,N), image_size=(w,h))``: ``joints.mat`` + ``images/im%04d.jpg``.
  Flag row: 1 = occluded, 0 = visible (the real, inverted meaning).
- ``write_lspet(root, joints (14,3,N), image_size=(w,h))``: ``images/im%05d.jpg``.
  Flag: 1 = visible, 0 = not annotated (put placeholder coords such as (0, -1) there).
- ``write_flic(root, examples)``: ``examples.mat`` (a 1xN MATLAB struct array with exactly the
  fields of the dicts, in order) + one JPEG per distinct ``filepath``, sized by ``imgdims``.
  Build each dict with ``flic_example(...)``, which fills every real field with real dtypes.

Images are small smooth JPEGs written with ``cv2.imwrite``; pixel content is irrelevant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.io

from posehybrid.data.skeleton import FLIC

# The 29 columns of FLIC's ``coords`` (2 x 29), in the order the FLIC archive documents them
# (``lookupPart`` in its MATLAB demo code). Written out here, independently of
# ``posehybrid.data.skeleton``, so that the readers are checked against the archive, not
# against themselves.
FLIC_ARCHIVE_PARTS: tuple[str, ...] = (
    "lsho", "lelb", "lwri", "rsho", "relb", "rwri", "lhip", "lkne", "lank", "rhip", "rkne",
    "rank", "leye", "reye", "lear", "rear", "nose", "msho", "mhip", "mear", "mtorso",
    "mluarm", "mruarm", "mllarm", "mrlarm", "mluleg", "mruleg", "mllleg", "mrlleg",
)  # fmt: skip
# FLIC's 11 labelled joints under our names -> the archive's part names.
FLIC_ARCHIVE_NAME: dict[str, str] = {
    "l_shoulder": "lsho", "l_elbow": "lelb", "l_wrist": "lwri",
    "r_shoulder": "rsho", "r_elbow": "relb", "r_wrist": "rwri",
    "l_hip": "lhip", "r_hip": "rhip", "l_eye": "leye", "r_eye": "reye", "nose": "nose",
}  # fmt: skip
# Our FLIC joint order -> coords column, derived from the archive's list.
FLIC_ARCHIVE_COLUMNS: list[int] = [
    FLIC_ARCHIVE_PARTS.index(FLIC_ARCHIVE_NAME[j]) for j in FLIC.joints
]

# A frontal person in person-centric FLIC order (left side at larger x), centred on (0, 0).
FRONTAL_FLIC = np.array(
    [
        [40, -40],  # l_shoulder
        [60, 20],  # l_elbow
        [70, 80],  # l_wrist
        [-40, -40],  # r_shoulder
        [-60, 20],  # r_elbow
        [-70, 80],  # r_wrist
        [30, 110],  # l_hip
        [-30, 110],  # r_hip
        [10, -90],  # l_eye
        [-10, -90],  # r_eye
        [0, -75],  # nose
    ],
    dtype=np.float64,
)


def write_image(path: str | Path, image_size: tuple[int, int], seed: int = 0) -> Path:
    """Write a (h, w, 3) smooth colour JPEG/PNG (by suffix) of ``image_size`` = (w, h)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = image_size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w, 1), yy * 255 // max(h, 1), np.full_like(xx, seed % 256)], -1)
    if not cv2.imwrite(str(path), img.astype(np.uint8)):
        raise OSError(f"cv2.imwrite failed for {path}")
    return path


def lsp_joints(
    n: int, image_size: tuple[int, int] = (64, 64), seed: int = 0, occluded: float = 0.2
) -> np.ndarray:
    """Random in-image LSP joints (3, 14, n) float64: x, y, flag (1 = occluded)."""
    rng = np.random.default_rng(seed)
    w, h = image_size
    joints = np.empty((3, 14, n))
    joints[0] = rng.uniform(0, w - 1, (14, n))
    joints[1] = rng.uniform(0, h - 1, (14, n))
    joints[2] = rng.random((14, n)) < occluded
    return joints


def write_lsp(
    root: str | Path,
    joints: np.ndarray,
    image_size: tuple[int, int] = (64, 64),
    write_images: bool = True,
) -> Path:
    """Write an LSP folder: ``joints.mat`` (variable ``joints``, (3, 14, N)) + N JPEGs."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    joints = np.asarray(joints, dtype=np.float64)
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    if write_images:
        for k in range(1, joints.shape[-1] + 1):
            write_image(root / "images" / f"im{k:04d}.jpg", image_size, seed=k)
    return root


def write_lspet(
    root: str | Path,
    joints: np.ndarray,
    image_size: tuple[int, int] = (64, 64),
    write_images: bool = True,
) -> Path:
    """Write an LSPet folder: ``joints.mat`` (variable ``joints``, (14, 3, N)) + N JPEGs."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    joints = np.asarray(joints, dtype=np.float64)
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    if write_images:
        for k in range(1, joints.shape[-1] + 1):
            write_image(root / "images" / f"im{k:05d}.jpg", image_size, seed=k)
    return root


def flic_example(
    keypoints: np.ndarray | None = None,
    filepath: str = "movie-00000001.jpg",
    moviename: str = "movie",
    currframe: int = 1,
    torsobox: tuple[float, float, float, float] | None = None,
    istrain: bool = True,
    istest: bool | None = None,
    imgdims: tuple[int, int, int] = (480, 720, 3),
    center: tuple[float, float] = (360.0, 240.0),
    **extra: Any,
) -> dict[str, Any]:
    """One FLIC example with every real field and real dtypes, in the real field order.

    Args:
        keypoints: (11, 2) in ``skeleton.FLIC`` order, NaN rows = unlabelled. Default: the
            frontal ``FRONTAL_FLIC`` figure shifted to ``center``.
        torsobox: [x1 y1 x2 y2]; default: the shoulders/hips bounding box.
        istest: default ``not istrain``.
        extra: more fields appended as given (e.g. FLIC-full's ``isbad``, ``isunchecked``).

    Returns:
        dict field -> value: coords (2, 29) float64 with NaN in the 18 unlabelled columns,
        imgdims (1, 3) double, torsobox (1, 4) float32, istrain/istest (1, 1) logical, ...
    """
    if keypoints is None:
        keypoints = FRONTAL_FLIC + np.asarray(center)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    coords = np.full((2, 29), np.nan)
    coords[:, FLIC_ARCHIVE_COLUMNS] = keypoints.T
    if torsobox is None:
        torso = keypoints[FLIC.indices(("l_shoulder", "r_shoulder", "l_hip", "r_hip"))]
        torsobox = (*np.nanmin(torso, axis=0), *np.nanmax(torso, axis=0))
    example: dict[str, Any] = {
        "poselet_hit_idx": np.array([[1.0, 2.0]]),
        "moviename": moviename,
        "coords": coords,
        "filepath": filepath,
        "imgdims": np.array([imgdims], dtype=np.float64),
        "currframe": np.array([[float(currframe)]]),
        "torsobox": np.array([torsobox], dtype=np.float32),
        "istrain": np.array([[bool(istrain)]]),
        "istest": np.array([[not istrain if istest is None else bool(istest)]]),
    }
    example.update(extra)
    return example


def write_flic(root: str | Path, examples: list[dict[str, Any]], write_images: bool = True) -> Path:
    """Write a FLIC folder: ``examples.mat`` (1xN struct array ``examples``) + ``images/``.

    All dicts must have the same keys; they become the struct's fields in that order (drop a
    key to test a missing field). One JPEG is written per distinct ``filepath``, sized by
    that example's ``imgdims`` (when present; else 720x480).
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    fields = list(examples[0])
    for ex in examples:
        if list(ex) != fields:
            raise ValueError(f"all examples need the same fields {fields}; got {list(ex)}")
    # A structured array of objects with shape (1, N) is what savemat writes as a struct array.
    array = np.empty((1, len(examples)), dtype=[(f, object) for f in fields])
    for k, ex in enumerate(examples):
        for f in fields:
            array[f][0, k] = ex[f]
    scipy.io.savemat(root / "examples.mat", {"examples": array})
    if write_images:
        for k, ex in enumerate(examples):
            path = root / "images" / str(ex.get("filepath", ""))
            if "filepath" in ex and not path.exists():
                dims = np.asarray(ex.get("imgdims", [[480, 720, 3]])).reshape(-1)
                write_image(path, (int(dims[1]), int(dims[0])), seed=k)
    return root
