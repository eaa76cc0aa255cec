"""``python -m posehybrid.compare [DIR ...]``: compare finished runs side by side.

Gathers every run under the given directories (default ``outputs/``): a run is a folder with
``metrics.json``, plus ``.hydra/config.yaml`` and ``.hydra/overrides.yaml`` when Hydra wrote
them. Prints one row per run: experiment, kind (``train`` or ``eval``), stage, the dataset and
test-set size it was scored on (from ``metrics.json``; a training run's test size from its
``data.json``), the overrides whose values DIFFER between the runs, PCK@0.1, PCK@0.2, the main
parts at 0.2, wall time and the run's folder (relative to what the runs share); writes an
overlay of the test PCK curves to ``compare_curves.png`` (in the first directory, or
``--out``).

    make compare
    make compare ARGS='outputs/sweep_spatial --format markdown'
    python -m posehybrid.compare outputs/a outputs/b --out /tmp/curves.png
    make compare ARGS='outputs/sweep_spatial --against outputs/sweep_spatial/0'

``--against RUN`` adds each run's PCK@0.2 difference from that run, with a paired bootstrap
interval over the test images they share (``compare_paired.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from posehybrid.compare_paired import add_difference_column
from posehybrid.run_records import STAGE_ORDER, Run, gather
from posehybrid.utils.overrides import BOOKKEEPING_PREFIXES

MAIN_PARTS = ("wrist", "elbow", "knee", "ankle")
# Never a difference worth a column: bookkeeping, and settings of how fast (not what) a run
# computes.
IGNORED_PREFIXES = (*BOOKKEEPING_PREFIXES, "device", "data.num_workers", "data.cache_images")
# name/stage/data have their own columns (data from metrics.json: an eval run's composed data
# group is a placeholder); ckpt is a full path, named by the row's folder already.
IGNORED_KEYS = {"name", "stage", "data", "ckpt", "data_from_run", "examples"}


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """Override keys (any run's) whose values are not the same in every run."""
    keys: list[str] = []
    for r in runs:
        for k in r.overrides:
            if k not in keys and k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES):
                keys.append(k)
    # "-": the key does not apply to a run (an eval run has no steps.*): not a difference
    differ = [k for k in keys if len({r.value(k) for r in runs} - {"-"}) > 1]
    # experiment=<preset> duplicates the experiment column when the preset named the runs
    if all(r.value("experiment") in (r.experiment, "-", "None") for r in runs):
        differ = [k for k in differ if k != "experiment"]
    return differ


def _short_labels(keys: Sequence[str]) -> list[str]:
    """Last key component, unless two keys would then look the same; ``experiment`` (a preset
    choice) is called ``preset``, the experiment column being the run's name."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    taken = {"experiment", "kind", "stage", "data", *STAGE_ORDER}  # steps.joint is not a stage
    labels = [
        s if last.count(s) == 1 and s not in taken else k for k, s in zip(keys, last, strict=True)
    ]
    return ["preset" if k == "experiment" else label for k, label in zip(keys, labels, strict=True)]


def _common_root(runs: Sequence[Run]) -> Path | None:
    paths = [str(r.path.resolve()) for r in runs]
    if not paths:
        return None
    common = Path(os.path.commonpath(paths))
    return common.parent if len(paths) == 1 else common


def _short(value: str, keep: int = 2) -> str:
    """A path keeps its last ``keep`` components (``…/lspet200/images``): a terminal column."""
    parts = value.rstrip("/").split("/")
    return value if len(parts) <= keep + 1 else "…/" + "/".join(parts[-keep:])


def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def _inverted(metrics: dict[str, Any]) -> float | None:
    """The fraction of a run's test joints on their left/right counterpart at PCK@0.2; None for
    a run from before ``errors@0.2``."""
    return ((metrics.get("errors@0.2") or {}).get("total") or {}).get("inversion")


def table(runs: Sequence[Run], root: Path | None = None) -> tuple[list[str], list[list[str]]]:
    """(column names, rows of strings) for :func:`markdown` / :func:`print_rich`."""
    keys = differing_keys(runs)
    parts = [p for p in MAIN_PARTS if any(p in (r.metrics.get("parts@0.2") or {}) for r in runs)]
    if not parts:  # another joint set: its first few parts
        parts = list((runs[0].metrics.get("parts@0.2") or {}) if runs else [])[:4]
    columns = ["experiment", "kind", "stage", "data", "n test", *_short_labels(keys)]
    # the left/right inversions at PCK@0.2 (metrics/error_types.py), where any run has them
    inversions = any(r.metrics.get("errors@0.2") for r in runs)
    columns += ["PCK@0.1", "PCK@0.2", *(["inversion@0.2"] if inversions else [])]
    columns += [*(f"{p}@0.2" for p in parts), "minutes", "run"]
    base = root.resolve() if root is not None else _common_root(runs)
    rows = []
    for r in runs:
        part_vals = r.metrics.get("parts@0.2") or {}
        where = r.path.resolve()
        if base is not None and where.is_relative_to(base):
            where = where.relative_to(base)
        rows.append(
            [
                r.experiment,
                r.kind,
                r.stage,
                r.dataset,
                r.n_test,
                *(_short(r.value(k)) for k in keys),
            ]
            + [_fmt(r.metrics.get("pck@0.1")), _fmt(r.metrics.get("pck@0.2"))]
            + ([_fmt(_inverted(r.metrics))] if inversions else [])
            + [_fmt(part_vals.get(p)) for p in parts]
            + [_fmt(r.metrics.get("minutes"), 1), str(where)]
        )
    return columns, rows


def markdown(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_rich(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(show_lines=False)
    for c in columns:
        right = c.startswith(("PCK", "minutes", "n test")) or "@" in c
        t.add_column(c, justify="right" if right else "left")
    for row in rows:
        t.add_row(*row)
    # Wide enough for every cell: a squeezed table truncates the values being compared.
    needed = sum(max(len(c), *(len(r[i]) for r in rows)) + 3 for i, c in enumerate(columns)) + 1
    console = Console()
    console.width = max(console.width, needed)
    console.print(t)


def curve_label(run: Run, keys: Sequence[str]) -> str:
    extra = ",".join(f"{k.rsplit('.', 1)[-1]}={run.value(k)}" for k in keys)
    kind = f" {run.kind} on {run.dataset}" if run.kind != "train" else ""
    return f"{run.experiment}/{run.stage}{kind}" + (f" [{extra}]" if extra else "")


def plot_curves(runs: Sequence[Run], path: str | Path) -> Path | None:
    """Overlay the runs' test PCK curves (pooled over joints); None when no run has one."""
    from posehybrid.plots import plot_pck_curves

    keys = differing_keys(runs)
    curves = {}
    for r in runs:
        curve = r.metrics.get("curve") or {}
        xs, ys = curve.get("thresholds") or [], curve.get("total") or []
        if any(y is not None for y in ys):
            curves[curve_label(r, keys)] = (xs, ys)
    return plot_pck_curves(curves, path, "test PCK, all joints") if curves else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m posehybrid.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dirs", nargs="*", help="run/experiment/sweep folders (default: outputs)")
    parser.add_argument("--out", help="curve plot path (default: <first dir>/compare_curves.png)")
    parser.add_argument(
        "--format",
        choices=("auto", "rich", "markdown"),
        default="auto",
        help="auto: rich on a terminal, markdown otherwise",
    )
    parser.add_argument(
        "--against",
        metavar="RUN",
        help="a run folder: add each run's PCK@0.2 difference from it, with a paired bootstrap "
        "interval over the test images they share (- for runs scored on other images)",
    )
    parser.add_argument("--confidence", type=float, default=0.95, help="the interval's level")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    args = parser.parse_args(argv)
    dirs = [Path(d) for d in args.dirs] or [Path("outputs")]
    missing = [str(d) for d in dirs if not d.exists()]
    if missing:
        print(f"compare: no such directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    runs = gather(dirs)
    if not runs:
        print(
            f"compare: no finished runs (metrics.json) under {', '.join(map(str, dirs))}",
            file=sys.stderr,
        )
        return 1
    root = dirs[0].resolve() if len(dirs) == 1 and dirs[0].is_dir() else None
    columns, rows = table(runs, root)
    if args.against:
        if not 0 < args.confidence < 1 or args.resamples < 1:
            print("compare: --confidence must be in (0, 1), --resamples >= 1", file=sys.stderr)
            return 2
        try:
            add_difference_column(
                columns, rows, [r.path for r in runs], Path(args.against), args.resamples,
                args.confidence,
            )  # fmt: skip
        except ValueError as err:
            print(f"compare: {err}", file=sys.stderr)
            return 2
    fmt = args.format
    if fmt == "rich" or (fmt == "auto" and sys.stdout.isatty()):
        print_rich(columns, rows)
    else:
        print(markdown(columns, rows), end="")
    base = dirs[0] if dirs[0].is_dir() else dirs[0].parent
    out = plot_curves(runs, Path(args.out) if args.out else base / "compare_curves.png")
    if out is not None:
        print(f"PCK curves: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
