"""Reader for FLIC / FLIC-full (``FLIC.zip`` / ``FLIC-full.zip``) in its distributed format.

``examples.mat`` holds ``examples``, a 1xN MATLAB struct array (N = 5003 for FLIC) with fields
``poselet_hit_idx, moviename, coords (2x29, row 0 = x), filepath, imgdims ([480 720 3]),
currframe, torsobox (1x4 float32 [x1 y1 x2 y2]), istrain, istest`` (FLIC-full adds ``isbad,
isunchecked``). Images live at ``images/<filepath>``. Only 11 of the 29 coord columns are
labelled (``skeleton.FLIC_COLUMNS``); the rest are NaN. Several examples can share one frame:
``torsobox`` says which person an example is about.

Label protocols (name the one a score used):
- ``"pc"`` person-centric: labels as stored, anatomical left/right.
- ``"oc"`` observer-centric: people facing away (all three left-arm x's smaller than the
  right-arm ones) get left/right swapped, so "left" is always on the image right for a
  frontal person. This is the usual FLIC evaluation protocol (48 of 1016 test examples flip).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from posehybrid.data.lsp import load_mat_variable
from posehybrid.data.records import DataError, PoseRecord
from posehybrid.data.skeleton import FLIC, FLIC_COLUMNS, JointSet

FLIC_ARCHIVES = "FLIC.zip or FLIC-full.zip"
REQUIRED_FIELDS = ("coords", "filepath", "imgdims", "torsobox", "istrain", "istest")
_LEFT_ARM = ("l_shoulder", "l_elbow", "l_wrist")
_RIGHT_ARM = ("r_shoulder", "r_elbow", "r_wrist")


def faces_away(keypoints: np.ndarray, annotated: np.ndarray, joint_set: JointSet) -> np.ndarray:
    """True where every left-arm x is smaller than its right-arm counterpart (person-centric
    labels of someone seen from behind). Needs all six arm joints annotated.

    Args:
        keypoints: (..., J, 2) x/y in image pixels.
        annotated: (..., J) bool.
        joint_set: names the arm joints (FLIC and LSP both work).

    Returns:
        (...) bool.
    """
    kps = np.asarray(keypoints)
    ann = np.asarray(annotated, dtype=bool)
    left, right = joint_set.indices(_LEFT_ARM), joint_set.indices(_RIGHT_ARM)
    known = ann[..., left].all(axis=-1) & ann[..., right].all(axis=-1)
    return known & (kps[..., left, 0] < kps[..., right, 0]).all(axis=-1)


def to_observer_centric(
    keypoints: np.ndarray, annotated: np.ndarray, joint_set: JointSet
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert person-centric labels to observer-centric ones.

    Where ``faces_away`` holds, the labels of each flip pair are swapped (channel j takes the
    coordinate of ``joint_set.flip_permutation[j]``); coordinates themselves are not mirrored.

    Args:
        keypoints: (..., J, 2); annotated: (..., J) bool; joint_set: supplies the flip pairs.

    Returns:
        (keypoints (..., J, 2), annotated (..., J), flipped (...) bool), new arrays.
    """
    kps = np.asarray(keypoints)
    ann = np.asarray(annotated, dtype=bool)
    flipped = faces_away(kps, ann, joint_set)
    perm = joint_set.flip_permutation
    kps = np.where(flipped[..., None, None], kps[..., perm, :], kps)
    ann = np.where(flipped[..., None], ann[..., perm], ann)
    return kps, ann, flipped


def _unwrap(value: Any) -> Any:
    """Strip loadmat's 1-element object-array wrappers (their depth varies between files)."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.reshape(-1)[0]
    return value


def _text(value: Any, where: str) -> str:
    value = _unwrap(value)
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return "".join(value.reshape(-1).tolist())  # loadmat: 1xN char -> array(['...'])
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        return "".join(chr(int(c)) for c in value.reshape(-1))  # chars stored as codes
    raise DataError(f"{where}: expected text, found {type(value).__name__} {value!r:.80}")


def _numbers(value: Any, where: str, size: int | None = None) -> np.ndarray:
    """Numeric field as float64 (original shape); ``size`` checks the element count."""
    value = _unwrap(value)
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{where}: expected numbers, found dtype {arr.dtype}")
    if size is not None and arr.size != size:
        raise DataError(f"{where}: expected {size} numbers, found shape {arr.shape}")
    return arr.astype(np.float64)


def _flag(value: Any, where: str) -> bool:
    arr = _numbers(value, where)
    if arr.size == 0:
        raise DataError(f"{where}: expected a 0/1 flag, found an empty array")
    return bool(arr.reshape(-1)[0] != 0)


def _load_examples(path: Path) -> np.ndarray:
    """``examples`` as a flat structured array (MATLAB linear order) with the required fields."""
    arr = load_mat_variable(path, "examples", "a 1xN struct array of FLIC examples")
    if arr.dtype.names is None:
        raise DataError(
            f"{path}: variable 'examples' is a {arr.dtype} array of shape {arr.shape}; "
            f"expected a 1xN MATLAB struct array with fields {list(REQUIRED_FIELDS)}"
        )
    missing = [f for f in REQUIRED_FIELDS if f not in arr.dtype.names]
    if missing:
        raise DataError(
            f"{path}: examples lacks required field(s) {missing}; "
            f"fields found: {list(arr.dtype.names)}"
        )
    flat = arr.reshape(-1, order="F")
    if flat.size == 0:
        raise DataError(f"{path}: examples is empty; expected a 1xN struct array, N >= 1")
    return flat


def _record(ex: np.void, k: int, root: Path, path: Path, labels: str) -> PoseRecord:
    """One ``examples(k+1)`` element -> PoseRecord (FLIC joint order, NaN -> unannotated)."""
    names = ex.dtype.names
    at = f"{path}: examples({k + 1})"
    coords = _numbers(ex["coords"], f"{at}.coords")
    if coords.ndim != 2 or coords.shape[0] != 2 or coords.shape[1] <= max(FLIC_COLUMNS):
        raise DataError(f"{at}.coords has shape {coords.shape}; expected 2x29 (row 0 = x)")
    xy = coords[:, list(FLIC_COLUMNS)].T  # (11, 2), FLIC joint order
    nan = np.isnan(xy).any(axis=1)
    if np.isinf(xy).any():
        j = int(np.argwhere(np.isinf(xy).any(axis=1))[0, 0])
        raise DataError(
            f"{at}.coords: joint {FLIC.joints[j]} (column {FLIC_COLUMNS[j]}) is infinite; "
            "expected finite x, y or NaN for unlabelled"
        )
    annotated = ~nan
    kps = np.where(annotated[:, None], xy, 0.0).astype(np.float32)

    dims = _numbers(ex["imgdims"], f"{at}.imgdims").reshape(-1)
    if dims.size < 2 or not np.isfinite(dims[:2]).all() or (dims[:2] <= 0).any():
        raise DataError(f"{at}.imgdims is {dims.tolist()}; expected [height width channels]")
    box = _numbers(ex["torsobox"], f"{at}.torsobox", size=4).reshape(4)
    if not np.isfinite(box).all():
        raise DataError(f"{at}.torsobox is {box.tolist()}; expected finite [x1 y1 x2 y2]")
    filepath = _text(ex["filepath"], f"{at}.filepath").strip()
    if not filepath:
        raise DataError(f"{at}.filepath is empty; expected an image name under images/")
    # An annotation file is data, not a licence to read elsewhere: "../../x.jpg" or an absolute
    # path must not leave images/. Checked lexically, so a symlinked images/ folder still works.
    image_path = Path(os.path.normpath(root / "images" / filepath))
    if not image_path.is_relative_to(root / "images"):
        raise DataError(
            f"{at}.filepath is {filepath!r}, which leaves the dataset folder {root}; expected "
            f"an image name under images/"
        )

    meta: dict[str, Any] = {"dataset": "flic", "index": k, "filepath": filepath}
    meta["moviename"] = _text(ex["moviename"], f"{at}.moviename") if "moviename" in names else None
    if "currframe" in names:
        frame = _numbers(ex["currframe"], f"{at}.currframe").reshape(-1)
        meta["currframe"] = int(frame[0]) if frame.size and np.isfinite(frame[0]) else None
    else:
        meta["currframe"] = None
    for extra in ("isbad", "isunchecked"):  # FLIC-full only
        if extra in names:
            meta[extra] = _flag(ex[extra], f"{at}.{extra}")

    flipped = False
    if labels == "oc":
        kps, annotated, flipped_arr = to_observer_centric(kps, annotated, FLIC)
        flipped = bool(flipped_arr)
    meta["labels"] = labels
    meta["oc_flipped"] = flipped
    return PoseRecord(
        image_path=image_path,
        keypoints=np.ascontiguousarray(kps, dtype=np.float32),
        visible=annotated.copy(),  # FLIC has no visibility flag
        annotated=annotated,
        torso_box=box.astype(np.float32),
        image_size=(int(dims[1]), int(dims[0])),
        meta=meta,
    )


def read_flic(
    root: str | os.PathLike, split: str = "train", labels: str = "pc", check_images: bool = True
) -> list[PoseRecord]:
    """Read FLIC or FLIC-full.

    Args:
        root: the unpacked folder (``examples.mat``, ``images/``).
        split: ``"train"`` (istrain), ``"test"`` (istest) or ``"all"``.
        labels: ``"pc"`` person-centric as stored, or ``"oc"`` observer-centric (see module
            docstring); the choice is recorded in ``meta["labels"]`` and ``meta["oc_flipped"]``.
        check_images: verify that the selected examples' images exist.

    Returns:
        One record per selected example, in file order: keypoints (11, 2) float32 in
        ``skeleton.FLIC`` order (0 where unlabelled), visible == annotated, torso_box (4,)
        float32, image_size (w, h) from imgdims, meta {dataset, index, filepath, moviename,
        currframe, labels, oc_flipped[, isbad, isunchecked]}.

    Raises:
        DataError: missing folder/file/variable/field/image or malformed field; names the path.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"unknown FLIC split {split!r}; expected 'train', 'test' or 'all'")
    if labels not in ("pc", "oc"):
        raise ValueError(f"unknown FLIC labels {labels!r}; expected 'pc' or 'oc'")
    root = Path(root).expanduser().resolve()
    path = root / "examples.mat"
    if not root.is_dir() or not path.is_file():
        what = "folder" if not root.is_dir() else "file"
        raise DataError(
            f"FLIC dataset {what} not found: {root if what == 'folder' else path}; expected a "
            f"folder containing examples.mat and images/<filepath>.jpg, as unpacked from the "
            f"official archive {FLIC_ARCHIVES}"
        )
    examples = _load_examples(path)
    records = []
    for k, ex in enumerate(examples):
        if split != "all":
            field = "istrain" if split == "train" else "istest"
            if not _flag(ex[field], f"{path}: examples({k + 1}).{field}"):
                continue
        records.append(_record(ex, k, root, path, labels))
    if check_images:
        _check_images(root, records)
    return records


def _check_images(root: Path, records: list[PoseRecord]) -> None:
    folder = root / "images"
    if not folder.is_dir():
        raise DataError(f"FLIC: image folder {folder} not found; expected images/<filepath>")
    if not any(folder.iterdir()):
        raise DataError(f"FLIC: image folder {folder} is empty; expected images/<filepath>")
    paths = dict.fromkeys(r.image_path for r in records)  # frames are shared; check each once
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"FLIC: {len(missing)} of {len(paths)} images are missing, first {missing[0]}; "
            f"expected images/<filepath> for every example (from {FLIC_ARCHIVES})"
        )
