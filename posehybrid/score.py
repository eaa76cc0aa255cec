"""Score a prediction file against a dataset's ground truth with a published protocol.

    python -m posehybrid.score pred=FILE protocol=lsp_pc root=DIR [split=test] [plot=curve.png]

Prints exactly one JSON object on stdout (logs go to stderr); values are percentages rounded to
one decimal, like the published tables. Bad input gives a one-line error on stderr and exit 2.

Prediction formats (coordinates in original image pixels):

* ``.mat``: variable ``pred`` of shape (2, J, N) — row 0 x, row 1 y — in the split's order (the
  benchmark layout; LSP test = im1001 … im2000). (3, J, N) is accepted, its third row dropped.
  Anything else, N×J×2 included, is an error.
* ``.json`` file: ``{"predictions": [{"image": NAME, "keypoints": [[x, y(, score)], …]}, …]}``.
* a directory of ``*.json`` files (read in sorted order), each
  ``{"image": NAME, "joints": {joint_name: {"x": …, "y": …, "score": …}, …}}``.

JSON predictions are matched to ground truth by image *file name* (``Path(NAME).name``); where an
image holds several ground-truth people (FLIC), its predictions are taken in file order.
Predictions for images outside the split are ignored; a ground-truth image without a prediction
is an error. NaN coordinates count as wrong.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from posehybrid.data.flic import read_flic, to_observer_centric
from posehybrid.data.lsp import load_mat_variable, lsp_split, read_lsp
from posehybrid.data.records import DataError
from posehybrid.data.skeleton import FLIC, LSP, JointSet
from posehybrid.metrics import DEFAULT_THRESHOLDS, PCK, PCP
from posehybrid.utils.cli import user_errors

log = logging.getLogger("posehybrid.score")


@dataclass(frozen=True)
class Protocol:
    """One published evaluation protocol, with every choice that codebases disagree on named.

    Attributes:
        name: CLI name. dataset: ``"lsp"`` or ``"flic"``.
        labels: ``"pc"`` person-centric ground truth as distributed, or ``"oc"``
            observer-centric: examples whose ground truth faces away (all three left-arm x's
            smaller than the right-arm ones) get left/right labels swapped. Predictions are
            always scored as given.
        normaliser: PCK normaliser: ground-truth ‖L-shoulder − R-hip‖ in original pixels.
        compare: ``"<="``: a distance equal to α·torso is correct.
        pooling: ``"pooled"``: total = correct joints / counted joints over all examples.
        mask: ``"all"`` (every joint counts; LSP occlusion flags unused) or ``"annotated"``.
        parts: parts reported at PCK@0.2; ``total_parts``: the joints pooled into ``total``
            (None: all joints). curve_parts: parts reported as PCK curves over α ∈ [0, 0.2].
        pcp: whether strict PCP is reported (LSP skeletons only).
    """

    name: str
    dataset: str
    labels: str
    normaliser: str = "torso (gt l_shoulder-r_hip)"
    compare: str = "<="
    pooling: str = "pooled"
    mask: str = "all"
    parts: tuple[str, ...] = ()
    total_parts: tuple[str, ...] | None = None
    curve_parts: tuple[str, ...] = ()
    pcp: bool = False


_LSP, _FLIC = ("head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"), ("elbow", "wrist")
_FLIC_KW = {"mask": "annotated", "parts": _FLIC, "total_parts": _FLIC, "curve_parts": _FLIC}
PROTOCOLS: dict[str, Protocol] = {
    "lsp_pc": Protocol("lsp_pc", "lsp", "pc", parts=_LSP, pcp=True),
    "lsp_oc": Protocol("lsp_oc", "lsp", "oc", parts=_LSP, pcp=True),
    "flic_pc": Protocol("flic_pc", "flic", "pc", **_FLIC_KW),  # type: ignore[arg-type]
    "flic_oc": Protocol("flic_oc", "flic", "oc", **_FLIC_KW),  # type: ignore[arg-type]
}


@dataclass
class GroundTruth:
    """keypoints (N, J, 2) float64 original px; mask (N, J) bool; names: image file names."""

    joint_set: JointSet
    keypoints: np.ndarray
    mask: np.ndarray
    names: list[str]
    relabelled: int = 0


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; expected one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def load_ground_truth(protocol: Protocol, root: str | os.PathLike, split: str) -> GroundTruth:
    """The split's ground truth with the protocol's labels and mask applied."""
    if protocol.dataset == "lsp":
        records, joint_set = lsp_split(read_lsp(root), split), LSP
    else:
        records, joint_set = read_flic(root, split=split, labels=protocol.labels), FLIC
    if not records:
        raise DataError(f"{root}: split {split!r} has no examples")
    kps = np.stack([r.keypoints for r in records]).astype(np.float64)
    ann = np.stack([r.annotated for r in records]).astype(bool)
    relabelled = sum(bool((r.meta or {}).get("oc_flipped", False)) for r in records)
    if protocol.dataset == "lsp" and protocol.labels == "oc":
        kps, ann, flipped = to_observer_centric(kps, ann, joint_set)
        relabelled = int(flipped.sum())
    mask = np.ones_like(ann) if protocol.mask == "all" else ann
    names = [Path(r.image_path).name for r in records]
    return GroundTruth(joint_set, kps, mask, names, relabelled)


def load_predictions(path: str | os.PathLike, gt: GroundTruth) -> np.ndarray:
    """Read predictions in any supported format -> (N, J, 2) float64 in ground-truth order."""
    path = Path(path)
    n, j = gt.keypoints.shape[:2]
    if path.is_dir():
        entries = [_read_joint_json(f, gt.joint_set) for f in sorted(path.glob("*.json"))]
        if not entries:
            raise DataError(f"{path}: no *.json prediction files in this directory")
        return _match(entries, gt, path)
    if not path.is_file():
        raise DataError(f"{path}: prediction file not found; expected .mat (2,{j},{n}) or .json")
    if path.suffix.lower() == ".json":
        data = _json(path)
        items = data.get("predictions") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise DataError(f'{path}: expected a JSON object {{"predictions": [...]}}')
        entries = [_keypoint_entry(e, k, path, j) for k, e in enumerate(items)]
        return _match(entries, gt, path)
    want = f"(2, {j}, {n}) = (x/y, joints, examples in ground-truth order: {gt.names[0]}, …)"
    arr = load_mat_variable(path, "pred", f"predictions of shape {want}")
    if arr.ndim == 2 and n == 1:  # MATLAB drops a trailing singleton dimension
        arr = arr[:, :, None]
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{path}: variable 'pred' has dtype {arr.dtype}; expected numbers {want}")
    if arr.ndim != 3 or arr.shape[0] not in (2, 3) or arr.shape[1:] != (j, n):
        hint = "; transpose N×J×2 to 2×J×N" if arr.shape == (n, j, 2) else ""
        raise DataError(
            f"{path}: variable 'pred' has shape {arr.shape}; expected {want} or (3, {j}, {n}){hint}"
        )
    return np.ascontiguousarray(arr[:2].transpose(2, 1, 0), dtype=np.float64)


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read JSON ({err})") from None


def _keypoint_entry(entry: object, k: int, path: Path, j: int) -> tuple[str, np.ndarray]:
    where = f"{path}: predictions[{k}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
        raise DataError(f'{where}: expected {{"image": NAME, "keypoints": [[x, y], ...]}}')
    try:
        kps = np.asarray(entry.get("keypoints"), dtype=np.float64)
    except (TypeError, ValueError):
        kps = np.empty(0)
    if kps.ndim != 2 or kps.shape[0] != j or kps.shape[1] not in (2, 3):
        raise DataError(f"{where}: keypoints have shape {kps.shape}; expected ({j}, 2) or ({j}, 3)")
    return entry["image"], kps[:, :2]


def _read_joint_json(path: Path, joint_set: JointSet) -> tuple[str, np.ndarray]:
    data = _json(path)
    joints = data.get("joints") if isinstance(data, dict) else None
    if not isinstance(joints, dict) or not isinstance(data.get("image"), str):
        raise DataError(f'{path}: expected {{"image": NAME, "joints": {{name: {{"x", "y"}}}}}}')
    missing = [n for n in joint_set.joints if n not in joints]
    if missing:
        raise DataError(
            f"{path}: joints {missing} missing; expected all of {list(joint_set.joints)}"
        )
    try:
        kps = np.array([[joints[n]["x"], joints[n]["y"]] for n in joint_set.joints], np.float64)
    except (TypeError, KeyError, ValueError):
        raise DataError(f'{path}: every joint needs numeric "x" and "y"') from None
    return data["image"], kps


def _match(entries: list[tuple[str, np.ndarray]], gt: GroundTruth, path: Path) -> np.ndarray:
    """Order per-image predictions like the ground truth (by file name, then file order)."""
    by_name: dict[str, list[np.ndarray]] = defaultdict(list)
    for name, kps in entries:
        by_name[Path(name).name].append(kps)
    wanted: dict[str, int] = defaultdict(int)
    for name in gt.names:
        wanted[name] += 1
    short = [n for n, k in wanted.items() if len(by_name.get(n, [])) != k]
    if short:
        n0 = short[0]
        raise DataError(
            f"{path}: predictions do not match the ground truth for {len(short)} image(s), first "
            f"{n0!r}: {len(by_name.get(n0, []))} prediction(s), expected {wanted[n0]}"
        )
    extra = sum(len(v) for n, v in by_name.items() if n not in wanted)
    if extra:
        log.warning("ignoring %d prediction(s) for images outside the split", extra)
    taken: dict[str, int] = defaultdict(int)
    out = []
    for name in gt.names:
        out.append(by_name[name][taken[name]])
        taken[name] += 1
    return np.stack(out)


def score_arrays(pred: np.ndarray, gt: GroundTruth, protocol: Protocol) -> dict:
    """Pure scoring: pred (N, J, 2) vs ``gt`` -> the published-table JSON (percentages)."""
    js = gt.joint_set
    pck = PCK(js, thresholds=DEFAULT_THRESHOLDS)
    p, g, m = torch.from_numpy(pred), torch.from_numpy(gt.keypoints), torch.from_numpy(gt.mask)
    pck.update(p, g, m)
    summary = pck.summary(alphas=(0.2,))
    table = {part: _pct(summary["parts@0.2"][part]) for part in protocol.parts}
    i = pck.alphas.index(0.2)
    pooled = js.joints if protocol.total_parts is None else js_names(js, protocol.total_parts)
    idx = js.indices(pooled)
    counted = int(pck.total[idx].sum())
    table["total"] = _pct(int(pck.correct[i, idx].sum()) / counted if counted else None)
    result: dict = {"protocol": protocol.name, "n": len(pred), "pck@0.2": table}
    if protocol.pcp:
        pcp = PCP(js)
        pcp.update(p, g, m)
        result["pcp"] = {k: _pct(v) for k, v in pcp.summary().items()}
    if protocol.curve_parts:
        thresholds, _, parts = pck.curve()
        result["curve"] = {"thresholds": thresholds}
        result["curve"].update(
            {part: [_pct(v) for v in parts[part]] for part in protocol.curve_parts}
        )
    choices = ("labels", "normaliser", "compare", "pooling", "mask")
    result["conventions"] = {k: getattr(protocol, k) for k in choices}
    result["relabelled_oc"] = gt.relabelled
    result["skipped_zero_torso"] = int(pck.skipped)
    return result


def js_names(joint_set: JointSet, parts: tuple[str, ...]) -> list[str]:
    """The joint names of ``parts``, in part order."""
    return [n for part in parts for n in joint_set.parts[part]]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 1)


def plot_curves(
    pred: np.ndarray, gt: GroundTruth, protocol: Protocol, path: str | os.PathLike
) -> Path:
    """PCK-vs-α curves (the protocol's curve parts, else all parts) to an image, atomically."""
    from posehybrid.plots import part_curves, plot_pck_curves

    pck = PCK(gt.joint_set)
    pck.update(torch.from_numpy(pred), torch.from_numpy(gt.keypoints), torch.from_numpy(gt.mask))
    thresholds, pooled, parts = pck.curve()
    shown = {part: parts[part] for part in protocol.curve_parts or protocol.parts}
    curves = part_curves(thresholds, pooled, shown)
    return plot_pck_curves(curves, path, protocol.name, emphasise="all joints")


def run(cfg: DictConfig) -> dict:
    """Load, score, optionally plot; returns the JSON-able result."""
    protocol = get_protocol(str(cfg.protocol))
    gt = load_ground_truth(protocol, str(cfg.root), str(cfg.split))
    pred = load_predictions(str(cfg.pred), gt)
    bad = int((~np.isfinite(pred).all(axis=-1)).sum())
    if bad:
        log.warning("%d predicted joints are NaN/inf and count as wrong", bad)
    result = score_arrays(pred, gt, protocol)
    if cfg.plot:
        plot_curves(pred, gt, protocol, str(cfg.plot))
        log.info("wrote %s", cfg.plot)
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="score")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    with user_errors("score"):
        result = run(cfg)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
