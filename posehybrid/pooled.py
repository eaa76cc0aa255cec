"""``make pooled ARGS='outputs/ho outputs/cv0 outputs/cv1 outputs/cv2'``: one ablation table
over several splits' test images, each split scored by its own models.

50 test photographs give about ±0.013 at PCK@0.2, and a paired difference between two rows
about ±0.02-0.03: too coarse for the small gains a stage adds. Cross-validation folds and a
held-out split test on different photographs, so together they narrow the interval: each
row's PCK is pooled over every split's test joints (Σ correct / Σ counted), and each
difference of the ablation's (spatial − detector, joint − control, ...) gets a paired
bootstrap interval over all the splits' images (``metrics/paired.py``). Each split's
``ablation_per_image.json`` (written beside its ``ablation.json``) holds its rows' per-image
counts; a row that some split lacks is left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from posehybrid.ablation import ablation_markdown, differences
from posehybrid.ablation_run import DIFFERENCES, PER_IMAGE_FILE
from posehybrid.metrics.per_image import per_image_from_json, per_image_to_json
from posehybrid.utils.io import atomic_write_json, atomic_write_text


class PoolError(ValueError):
    """A split that cannot be pooled (no per-image counts, other thresholds)."""


def read_split(experiment_dir: Path) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """An experiment's test data fingerprint and its ablation rows' per-image counts: row name
    -> ``test_per_image.json`` record (rows from before per-image counts are left out)."""
    path = experiment_dir / PER_IMAGE_FILE
    if not path.is_file():
        raise PoolError(
            f"{path}: missing; expected the per-image counts that the pipeline's last stage "
            "writes beside ablation.json (rerun `make train stage=joint` with this name)"
        )
    try:
        counts = json.loads(path.read_text(encoding="utf-8"))
        rows = counts["rows"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise PoolError(f"{path}: expected JSON with the key 'rows' ({err!r})") from None
    return counts.get("data_fingerprint"), {n: rec for n, rec in rows.items() if rec is not None}


def concatenate(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several splits' per-image records (``test_per_image.json``'s layout) of one row as one:
    their images one after the other (indices offset so each image is its own), the same
    thresholds."""
    arrays = [per_image_from_json(r) for r in records]
    alphas = [a["alphas"] for a in arrays]
    if any(a != alphas[0] for a in alphas):
        raise PoolError(f"the splits were scored at different thresholds: {alphas}")
    sizes = [int(a["index"].max()) + 1 if a["index"].size else 0 for a in arrays]
    starts = np.cumsum([0, *sizes[:-1]])  # each split's first index
    return per_image_to_json(
        {
            "alphas": alphas[0],
            "index": np.concatenate([a["index"] + o for a, o in zip(arrays, starts, strict=True)]),
            "correct": np.concatenate([a["correct"] for a in arrays]),
            "counted": np.concatenate([a["counted"] for a in arrays]),
        }
    )


def pooled_table(splits: Sequence[Path], resamples: int, confidence: float) -> dict[str, Any]:
    """The ablation table (``ablation.json``'s layout) of the rows every split has, pooled."""
    read = [read_split(Path(d)) for d in splits]
    prints = [fp for fp, _ in read if fp is not None]
    if len(set(prints)) < len(prints):
        raise PoolError(
            "two of the experiments were tested on the same data (the same data fingerprint): "
            "pooling would count each test image twice; pool splits with their own test images "
            "(cross-validation folds, a held-out split), not seeds or recipes of one split"
        )
    per_split = [rows for _, rows in read]
    names = [n for n in per_split[0] if all(n in s for s in per_split[1:])]
    if not names:
        raise PoolError("the splits share no ablation row with per-image counts")
    pooled = {n: concatenate([s[n] for s in per_split]) for n in names}
    rows = []
    for name in names:
        rec = pooled[name]
        correct, counted = np.asarray(rec["correct"]), np.asarray(rec["counted"])
        pck = {
            f"pck@{a}": float(correct[:, k].sum() / counted.sum())
            for k, a in enumerate(rec["alphas"])
        }
        rows.append({"stage": name, **pck, "parts": {}, "minutes": None})
    intervals = {"resamples": resamples, "confidence": confidence, "seed": 0}
    return {
        "experiment": "pooled over " + ", ".join(Path(d).name for d in splits),
        "splits": [str(d) for d in splits],
        "stages": rows,
        "differences": differences(pooled, DIFFERENCES, OmegaConf.create(intervals)),
        "intervals": intervals,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posehybrid.pooled", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("dirs", nargs="+", help="experiment folders (outputs/<name>), one a split")
    parser.add_argument("--out", help="also write the table as OUT.md and OUT.json")
    parser.add_argument("--confidence", type=float, default=0.95, help="the interval's level")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    args = parser.parse_args(argv)
    if not 0 < args.confidence < 1 or args.resamples < 1:
        print("pooled: --confidence must be in (0, 1), --resamples >= 1", file=sys.stderr)
        return 2
    try:
        table = pooled_table([Path(d) for d in args.dirs], args.resamples, args.confidence)
    except PoolError as err:
        print(f"pooled: error: {err}", file=sys.stderr)
        return 2
    text = ablation_markdown(table)
    if args.out:
        atomic_write_json(Path(args.out + ".json"), table)
        atomic_write_text(Path(args.out + ".md"), text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
