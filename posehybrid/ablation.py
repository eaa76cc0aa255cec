"""The ablation table that ``make train stage=joint`` and ``make ablation`` end with.

Rows, top to bottom: ``mean pose`` (the training split's mean pose for every test image: the
floor that tells whether anything trained), the part detector, + spatial model, + joint
training, and with ``ablation.control=true`` the equal-time control (the detector trained on
for as long as the spatial and joint stages took). Every row is scored on the same test split
by the same PCK code.
"""

from __future__ import annotations

import time
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from posehybrid.metrics.mean_pose import mean_pose, mean_pose_summary

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
    }


def mean_pose_row(data_cfg: DictConfig, codec: Any) -> dict[str, Any]:
    """The ``mean pose`` row: the mean of the training keypoints in the network's input
    geometry (``codec``: the model's ``HeatmapCodec``), mapped back through each test sample's
    inverse affine. Costs seconds (no image is decoded)."""
    started = time.time()
    datamodule = instantiate(data_cfg, codec=codec)
    datamodule.prepare_data()
    keypoints, valid = datamodule.train_keypoints()
    summary = mean_pose_summary(
        mean_pose(keypoints, valid), *datamodule.eval_geometry("test"), datamodule.joint_set
    )
    return row("mean pose", {**summary, "minutes": (time.time() - started) / 60.0})


def ablation_markdown(table: dict[str, Any]) -> str:
    rows = table["stages"]
    parts = [p for p in ABLATION_PARTS if any(p in r["parts"] for r in rows)]
    head = ["stage", "PCK@0.1", "PCK@0.2", *[f"{p}@0.2" for p in parts], "minutes"]
    lines = [f"# Ablation: {table['experiment']}", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for r in rows:
        cells = [r["stage"], f"{r['pck@0.1']:.3f}", f"{r['pck@0.2']:.3f}"]
        cells += [f"{r['parts'].get(p, float('nan')):.3f}" for p in parts]
        cells.append(f"{r['minutes']:.1f}" if r.get("minutes") is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["ABLATION_PARTS", "ablation_markdown", "mean_pose_row", "row"]
