"""The ablation table that ``make train stage=joint`` and ``make ablation`` end with.

Rows, top to bottom: ``mean pose`` (the training split's mean pose for every test image: the
floor that tells whether anything trained), the part detector, + spatial model, + joint
training, with ``ablation.control=true`` the equal-time control (the detector trained on for
as long as the spatial and joint stages took), and with ``ablation.one_stage=true`` one-stage
joint training from scratch for as long as all three stages took. Every row is scored on the same test split
by the same PCK code. Below the rows, the differences that the issue's targets are about
(spatial − detector, joint − control, ...), each with a paired bootstrap interval over the test
images (``metrics/paired.py``): whether a difference is more than the test set's noise.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from posehybrid.metrics.mean_pose import mean_pose, mean_pose_metric
from posehybrid.metrics.paired import format_interval, paired_difference
from posehybrid.metrics.per_image import per_image_from_json, per_image_to_json

log = logging.getLogger(__name__)

ABLATION_PARTS = ("wrist", "elbow", "knee", "ankle")


def row(name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """One table row from a stage's ``metrics.json`` (or any PCK summary with ``minutes``)."""
    parts = metrics.get("parts@0.2", {})
    return {
        "stage": name,
        "pck@0.1": metrics["pck@0.1"],
        "pck@0.2": metrics["pck@0.2"],
        "parts": {p: parts[p] for p in ABLATION_PARTS if parts.get(p) is not None},
        "minutes": metrics.get("minutes"),
        # pooled kinds of mistake at PCK@0.2 (metrics/error_types.py); absent in older runs
        "errors": (metrics.get("errors@0.2") or {}).get("total"),
        # PCK@0.2 of the joints marked visible and of those marked occluded
        "visibility": {
            name: group["good"]
            for name, group in ((metrics.get("errors@0.2") or {}).get("visibility") or {}).items()
        },
    }


def mean_pose_row(data_cfg: DictConfig, codec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``mean pose`` row: the mean of the training keypoints in the network's input
    geometry (``codec``: the model's ``HeatmapCodec``), mapped back through each test sample's
    inverse affine; and its per-image counts (``test_per_image.json``'s layout). Costs seconds
    (no image is decoded)."""
    started = time.time()
    datamodule = instantiate(data_cfg, codec=codec)
    datamodule.prepare_data()
    keypoints, valid = datamodule.train_keypoints()
    metric = mean_pose_metric(
        mean_pose(keypoints, valid), *datamodule.eval_geometry("test"), datamodule.joint_set
    )
    minutes = (time.time() - started) / 60.0
    return row("mean pose", {**metric.summary(), "minutes": minutes}), per_image_to_json(
        metric.per_image()
    )


def differences(
    per_image: dict[str, dict[str, Any] | None],
    pairs: list[tuple[str, str]],
    intervals: DictConfig,
) -> list[dict[str, Any]]:
    """``a − b`` for each pair of row names whose per-image counts are both known
    (``per_image``: row name -> ``test_per_image.json`` record, None for a run from before it),
    with a paired bootstrap interval (``intervals``: ``resamples``, ``confidence``, ``seed``)."""
    out = []
    for a, b in pairs:
        if per_image.get(a) is None or per_image.get(b) is None:
            continue
        try:
            diff = paired_difference(
                per_image_from_json(per_image[a]),
                per_image_from_json(per_image[b]),
                resamples=int(intervals.resamples),
                confidence=float(intervals.confidence),
                seed=int(intervals.seed),
            )
        except ValueError as err:  # the table's rows stand; only this interval is left out
            log.warning("ablation: no interval for %s − %s: %s", a, b, err)
            continue
        if diff is not None:
            out.append({"a": a, "b": b, **diff})
    return out


def ablation_markdown(table: dict[str, Any]) -> str:
    rows = table["stages"]
    parts = [p for p in ABLATION_PARTS if any(p in r["parts"] for r in rows)]
    timed = any(r.get("minutes") is not None for r in rows)  # pooled splits have no minutes
    head = ["stage", "PCK@0.1", "PCK@0.2", *[f"{p}@0.2" for p in parts]] + ["minutes"] * timed
    lines = [f"# Ablation: {table['experiment']}", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for r in rows:
        cells = [r["stage"], f"{r['pck@0.1']:.3f}", f"{r['pck@0.2']:.3f}"]
        cells += [f"{r['parts'].get(p, float('nan')):.3f}" for p in parts]
        if timed:
            cells.append(f"{r['minutes']:.1f}" if r.get("minutes") is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    kinds = [r for r in rows if r.get("errors")]
    if kinds:
        names = list(kinds[0]["errors"])
        # a group no row has a joint of (FLIC marks none occluded) gets no column
        groups = [
            g
            for g in ("visible", "occluded")
            if any(r.get("visibility", {}).get(g) is not None for r in kinds)
        ]
        head = [*names, *(f"PCK@0.2 {g}" for g in groups)]
        lines += [
            "",
            "Each row's joints by kind at PCK@0.2 (fractions of the counted joints; inversion: "
            "on the other side's joint; jitter: within 0.5 torso of its own), and PCK@0.2 of "
            "the joints the annotation marks visible and occluded:",
            "",
            "| stage | " + " | ".join(head) + " |",
            "|" + "---|" * (len(head) + 1),
        ]
        for r in kinds:
            values = [r["errors"].get(n) for n in names]
            values += [r.get("visibility", {}).get(g) for g in groups]
            cells = [r["stage"], *("-" if v is None else f"{v:.3f}" for v in values)]
            lines.append("| " + " | ".join(cells) + " |")
    diffs = table.get("differences") or []
    if diffs:
        level = round(100 * float(table["intervals"]["confidence"]))
        lines += [
            "",
            f"Differences on the same {diffs[0]['images']} test images, with {level} % paired "
            "bootstrap intervals over the images (an interval that holds 0 is within the test "
            "set's noise):",
            "",
            "| difference | PCK@0.1 | PCK@0.2 |",
            "|---|---|---|",
        ]
        for d in diffs:
            cells = [
                f"{d['a']} − {d['b']}",
                format_interval(d["pck@0.1"]),
                format_interval(d["pck@0.2"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["ABLATION_PARTS", "ablation_markdown", "differences", "mean_pose_row", "row"]
