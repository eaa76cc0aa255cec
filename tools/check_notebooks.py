"""Fail when a notebook carries outputs or execution counts (``make lint``).

Notebooks are committed stripped so diffs show code, not results; ``nbstripout notebooks/*.ipynb``
(or ``nbstripout --install`` once, as a git filter) cleans them.

    python tools/check_notebooks.py            # every notebooks/**/*.ipynb
    python tools/check_notebooks.py PATH ...   # given notebooks or folders
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def problems(path: Path) -> list[str]:
    """What is left in ``path``: one line per cell with outputs or an execution count."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return [f"not a readable notebook: {err}"]
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i}: execution_count {cell['execution_count']}")
    return found


def notebooks(args: list[str]) -> list[Path]:
    targets = [Path(a) for a in args] or [ROOT / "notebooks"]
    found: list[Path] = []
    for t in targets:
        found += sorted(t.rglob("*.ipynb")) if t.is_dir() else [t]
    return [p for p in found if ".ipynb_checkpoints" not in p.parts]


def main(argv: list[str]) -> int:
    bad = 0
    for path in notebooks(argv):
        for line in problems(path):
            print(f"{path}: {line}")
            bad += 1
    if bad:
        print("strip them: nbstripout notebooks/*.ipynb", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
