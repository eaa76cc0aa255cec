"""Readers for the Leeds Sports Pose datasets in their distributed on-disk formats.

LSP (``lsp_dataset.zip``): ``joints.mat`` variable ``joints`` of shape (3, 14, N), N = 2000;
rows are x, y, flag and the flag is **1 = occluded, 0 = visible** (the README calls it
"visibility", but it is inverted). Every joint has a coordinate. Images ``images/im0001.jpg``...
(4 digits, 1-based). Standard split: the first half trains, the second half tests.

LSPet (``lspet_dataset.zip``): ``joints.mat`` variable ``joints`` of shape (14, 3, N), N = 10000
(another axis order); the flag is **1 = visible, 0 = not annotated**, and unannotated joints
carry placeholder coordinates (one of x/y is 0, the other <= 0). Images ``images/im00001.jpg``...
(5 digits). All of it is training data.

Both use the LSP joint order (``skeleton.LSP``), person-centric left/right. Coordinates far
outside the image are kept as they are (LSP has a few joints marked outside the frame); readers
never open images, so ``image_size`` is None. Keypoints are always finite float32.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from posehybrid.data.records import DataError, PoseRecord
from posehybrid.data.skeleton import LSP

LSP_ARCHIVE = "lsp_dataset.zip"
LSPET_ARCHIVE = "lspet_dataset.zip"


def load_mat_variable(path: Path, name: str, what: str) -> np.ndarray:
    """Load one variable from a MATLAB v5 ``.mat`` file (loadmat defaults: no squeezing).

    Args:
        path: the ``.mat`` file (must exist).
        name: the variable to return.
        what: the expected content, quoted in error messages (e.g. ``"(3,14,N) LSP joints"``).

    Raises:
        DataError: unreadable file (incl. v7.3/HDF5) or missing variable; names the path and
            lists the variables found.
    """
    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError:  # scipy raises this for v7.3 (HDF5) files
        raise DataError(
            f"{path} is a MATLAB v7.3 (HDF5) file; expected a MATLAB v5 .mat with "
            f"variable {name!r} ({what}); re-save it with save(..., '-v7')"
        ) from None
    except Exception as err:  # scipy raises many types for corrupt files; none may escape
        raise DataError(
            f"cannot read {path} ({type(err).__name__}: {err}); expected a MATLAB .mat file "
            f"with variable {name!r} ({what})"
        ) from None
    found = sorted(k for k in mat if not k.startswith("__"))
    if name not in mat:
        raise DataError(
            f"{path} has no variable {name!r} (expected {what}); variables found: {found}"
        )
    return np.asarray(mat[name])


def _missing_root(root: Path, dataset: str, example: str, archive: str) -> DataError:
    return DataError(
        f"{dataset} dataset not found at {root}: expected a folder containing joints.mat and "
        f"images/{example} ..., as unpacked from the official archive {archive}"
    )


def _read_joints(root: Path, layout: tuple[int, int], dataset: str, archive: str) -> np.ndarray:
    """``root/joints.mat`` variable ``joints`` as float64 with shape ``(*layout, N)``."""
    path = root / "joints.mat"
    if not path.is_file():
        raise DataError(
            f"{dataset}: {path} not found; expected joints.mat from the official archive {archive}"
        )
    want = f"({layout[0]},{layout[1]},N)"
    arr = load_mat_variable(path, "joints", f"{dataset} joints of shape {want}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(
            f"{path}: variable 'joints' has non-numeric dtype {arr.dtype}; expected numbers {want}"
        )
    if arr.ndim == 2 and arr.shape == layout:  # MATLAB drops a trailing singleton (N = 1)
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[:2] != layout or arr.shape[2] == 0:
        hint = ""
        other = {(3, 14): ("LSP", "read_lsp"), (14, 3): ("LSPet", "read_lspet")}.get(arr.shape[:2])
        if arr.ndim == 3 and arr.shape[:2] != layout and other:
            hint = f"; this looks like {other[0]} data, read it with {other[1]}"
        raise DataError(
            f"{path}: variable 'joints' has shape {arr.shape}; expected {want} "
            f"for {dataset} (x, y, flag per joint, N >= 1){hint}"
        )
    return arr.astype(np.float64)


def _check_flags(flags: np.ndarray, path: Path, meaning: str) -> None:
    """``flags`` (14, N) must be exactly 0/1."""
    bad = ~np.isin(flags, (0.0, 1.0))
    if bad.any():
        j, i = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: flag of joint {j} ({LSP.joints[j]}) in example {i + 1} is {flags[j, i]!r}; "
            f"expected 0 or 1 ({meaning}); {int(bad.sum())} bad flags in all"
        )


def _check_finite(xy: np.ndarray, mask: np.ndarray, path: Path) -> None:
    """``xy`` (14, 2, N) must be finite wherever ``mask`` (14, N) is True."""
    bad = ~np.isfinite(xy).all(axis=1) & mask
    if bad.any():
        j, i = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: joint {j} ({LSP.joints[j]}) of example {i + 1} has non-finite coordinates "
            f"{xy[j, :, i].tolist()}; expected finite x, y; {int(bad.sum())} such joints in all"
        )


def _open(
    root: str | os.PathLike, dataset: str, shape: tuple[int, int], first: str, archive: str
) -> tuple[Path, np.ndarray]:
    """The resolved dataset folder and its ``joints.mat`` array (``shape`` x N)."""
    folder = Path(root).expanduser().resolve()
    if not folder.is_dir():
        raise _missing_root(folder, dataset, first, archive)
    return folder, _read_joints(folder, shape, dataset, archive)


def _image_paths(
    root: Path, pattern: str, n: int, dataset: str, archive: str, check: bool = True
) -> list[Path]:
    """Paths ``root/images/<pattern % k>`` for k = 1..n; with ``check`` all must exist."""
    folder = root / "images"
    if not check:
        return [folder / (pattern % k) for k in range(1, n + 1)]
    first, last = pattern % 1, pattern % n
    expected = f"images/{first} ... {last} (from {archive})"
    if not folder.is_dir():
        raise DataError(f"{dataset}: image folder {folder} not found; expected {expected}")
    names = set(os.listdir(folder))  # one listing instead of N stat calls
    if not names:
        raise DataError(f"{dataset}: image folder {folder} is empty; expected {expected}")
    paths = [folder / (pattern % k) for k in range(1, n + 1)]
    missing = [p for p in paths if p.name not in names]
    if missing:
        raise DataError(
            f"{dataset}: {len(missing)} of {n} images are missing, first {missing[0]}; "
            f"expected {expected}"
        )
    return paths


def read_lsp(root: str | os.PathLike, check_images: bool = True) -> list[PoseRecord]:
    """Read LSP (``joints.mat`` (3, 14, N), flag 1 = occluded) into one record per image.

    Args:
        root: the unpacked ``lsp_dataset`` folder (``joints.mat``, ``images/im0001.jpg`` ...).
        check_images: verify that every image file exists (a directory listing, cheap).

    Returns:
        N records in file order: keypoints (14, 2) float32, visible = (flag == 0),
        annotated all True, torso_box None, image_size None, meta {dataset, id (1-based)}.

    Raises:
        DataError: missing folder/file/variable/images, wrong shape or dtype, non-finite
            coordinates, flags other than 0/1. The message names the path.
    """
    root, joints = _open(root, "LSP", (3, 14), "im0001.jpg", LSP_ARCHIVE)
    n = joints.shape[2]
    path = root / "joints.mat"
    xy = joints[:2].transpose(1, 0, 2)  # (14, 2, N)
    _check_finite(xy, np.ones((14, n), dtype=bool), path)
    _check_flags(joints[2], path, "1 = occluded, 0 = visible")
    images = _image_paths(root, "im%04d.jpg", n, "LSP", LSP_ARCHIVE, check_images)
    records = []
    for i in range(n):
        records.append(
            PoseRecord(
                image_path=images[i],
                keypoints=np.ascontiguousarray(xy[:, :, i], dtype=np.float32),
                visible=joints[2, :, i] == 0,  # inverted flag: 0 means visible
                annotated=np.ones(14, dtype=bool),
                meta={"dataset": "lsp", "id": i + 1},
            )
        )
    return records


def lsp_split(records: Sequence[PoseRecord], split: str) -> list[PoseRecord]:
    """The standard LSP split: ``"train"`` = first half (1000 of 2000), ``"test"`` = the rest.

    For N records the boundary is N // 2. ``"all"`` returns every record.
    """
    half = len(records) // 2
    if split == "train":
        return list(records[:half])
    if split == "test":
        return list(records[half:])
    if split == "all":
        return list(records)
    raise ValueError(f"unknown LSP split {split!r}; expected 'train', 'test' or 'all'")


def read_lspet(root: str | os.PathLike, check_images: bool = True) -> list[PoseRecord]:
    """Read LSPet (``joints.mat`` (14, 3, N), flag 1 = visible, 0 = not annotated).

    Unannotated joints (flag 0, or placeholder coordinates: one of x/y is 0 and the other
    <= 0) get annotated = visible = False and keypoint (0, 0); their stored coordinates are
    ignored, even if non-finite. LSPet has no "annotated but occluded" state, so
    visible == annotated.

    Args:
        root: the unpacked ``lspet_dataset`` folder (``joints.mat``, ``images/im00001.jpg`` ...).
        check_images: verify that every image file exists.

    Returns:
        N records in file order; meta {dataset, id (1-based)}.

    Raises:
        DataError: as ``read_lsp``, with the LSPet layout in the message.
    """
    root, joints = _open(root, "LSPet", (14, 3), "im00001.jpg", LSPET_ARCHIVE)
    n = joints.shape[2]
    path = root / "joints.mat"
    xy = joints[:, :2]  # (14, 2, N)
    flags = joints[:, 2]  # (14, N)
    _check_flags(flags, path, "1 = visible, 0 = not annotated")
    with np.errstate(invalid="ignore"):
        x, y = xy[:, 0], xy[:, 1]
        placeholder = ((x == 0) & (y <= 0)) | ((y == 0) & (x <= 0))
    annotated = (flags == 1) & ~placeholder
    _check_finite(xy, annotated, path)
    kps = np.where(annotated[:, None, :], xy, 0.0).astype(np.float32)  # no NaN can survive
    images = _image_paths(root, "im%05d.jpg", n, "LSPet", LSPET_ARCHIVE, check_images)
    return [
        PoseRecord(
            image_path=images[i],
            keypoints=np.ascontiguousarray(kps[:, :, i]),
            visible=annotated[:, i].copy(),
            annotated=annotated[:, i].copy(),
            meta={"dataset": "lspet", "id": i + 1},
        )
        for i in range(n)
    ]
