"""``make compare ARGS='DIR --against RUN'``: each run's PCK difference from one reference run,
with a paired bootstrap interval over the test images they share (``metrics/paired.py``).

A sweep's or a set of seeds' best row is often better by less than the test set's noise; the
interval says which differences are more. Only runs scored on the same test images as the
reference (the same ``test_per_image.json`` indices and counted joints) get a value; the
others, and runs from before per-image counts were written, get ``-``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posehybrid.metrics.paired import format_interval, paired_difference
from posehybrid.metrics.per_image import per_image_from_json
from posehybrid.utils.runs import read_per_image


def difference_cell(
    run_dir: Path,
    reference: dict[str, Any] | None,
    key: str,
    resamples: int,
    confidence: float,
) -> str:
    """``+0.021 [+0.012, +0.030]``: PCK at ``key`` (``"pck@0.2"``) of the run in ``run_dir``
    minus the reference's (a ``per_image_from_json`` record), or ``-`` when the two were not
    scored on the same test images (or either has no per-image counts)."""
    own = read_per_image(run_dir)
    if own is None or reference is None:
        return "-"
    try:
        diff = paired_difference(per_image_from_json(own), reference, resamples, confidence, seed=0)
    except ValueError:  # other test images, thresholds or counted joints: not comparable
        return "-"
    if diff is None or key not in diff:
        return "-"
    return format_interval(diff[key])


def add_difference_column(
    columns: list[str],
    rows: list[list[str]],
    run_dirs: list[Path],
    reference: Path,
    resamples: int,
    confidence: float,
) -> None:
    """Insert, before ``minutes``, the column of each run's PCK@0.2 difference from the
    ``reference`` run (its own row says ``reference``)."""
    record = reference_record(reference)
    at = columns.index("minutes")
    columns.insert(at, f"Δ@0.2 vs reference [{round(100 * confidence)} %]")
    for row, run_dir in zip(rows, run_dirs, strict=True):
        same = run_dir.resolve() == reference.resolve()
        cell = (
            "reference"
            if same
            else difference_cell(run_dir, record, "pck@0.2", resamples, confidence)
        )
        row.insert(at, cell)


def reference_record(run_dir: Path) -> dict[str, Any]:
    """The reference run's per-image counts; ``ValueError`` (one line, naming the file) when it
    has none."""
    record = read_per_image(run_dir)
    if record is None:
        raise ValueError(
            f"--against {run_dir}: no test_per_image.json there (a finished run or eval of "
            "this version is needed)"
        )
    return per_image_from_json(record)


__all__ = ["add_difference_column", "difference_cell", "reference_record"]
