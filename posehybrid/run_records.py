"""A finished run as ``compare`` reads it: its folder, ``metrics.json`` and Hydra record.

A run is a folder with ``metrics.json`` (a training stage's or ``eval``'s), plus
``.hydra/config.yaml``, ``overrides.yaml`` and ``hydra.yaml`` when Hydra wrote them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from posehybrid.provenance import read_data_record
from posehybrid.utils.runs import read_metrics

STAGE_ORDER = {"part_detector": 0, "spatial": 1, "joint": 2}


@dataclass
class Run:
    """One finished run: its directory, ``metrics.json`` and Hydra record."""

    path: Path
    metrics: dict[str, Any]
    config: Any = None  # DictConfig of .hydra/config.yaml (unresolved), or None
    overrides: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)

    @property
    def experiment(self) -> str:
        return str(self.metrics.get("experiment") or self.select("name") or "-")

    @property
    def stage(self) -> str:
        return str(self.metrics.get("stage") or self.select("stage.name") or "-")

    @property
    def kind(self) -> str:
        """``eval`` (an eval run's metrics.json says so) or ``train``."""
        return str(self.metrics.get("kind", "train"))

    @property
    def dataset(self) -> str:
        return str(self.metrics.get("dataset") or "-")

    @property
    def n_test(self) -> str:
        """Test-set size: eval's ``n``, else the training run's ``data.json``."""
        n = self.metrics.get("n")
        if n is None:
            record = read_data_record(self.path)
            n = (record or {}).get("splits", {}).get("test")
        return "-" if n is None else str(n)

    def select(self, key: str) -> Any:
        if self.config is None:
            return None
        return OmegaConf.select(self.config, key, throw_on_resolution_failure=False)

    def value(self, key: str) -> str:
        """The run's value of an override key: group choice, config value, or the override."""
        if key in self.choices:
            return str(self.choices[key])
        v = self.select(key)
        if v is None or OmegaConf.is_config(v):
            v = self.overrides.get(key)
        return "-" if v is None else str(v)


def _load_yaml(path: Path) -> Any:
    return OmegaConf.load(path) if path.is_file() else None


def load_run(run_dir: Path) -> Run | None:
    """A :class:`Run` for ``run_dir``, or None when it has no usable ``metrics.json``."""
    try:
        metrics = read_metrics(run_dir)
    except (OSError, ValueError):  # unreadable or not JSON: not a finished run
        return None
    if not isinstance(metrics, dict) or "pck@0.2" not in metrics:
        return None
    hydra_dir = run_dir / ".hydra"
    overrides: dict[str, str] = {}
    for item in _load_yaml(hydra_dir / "overrides.yaml") or []:
        key, sep, value = str(item).lstrip("+~").partition("=")
        if sep:
            overrides[key] = value
    hydra_cfg = _load_yaml(hydra_dir / "hydra.yaml")
    choices = {}
    if hydra_cfg is not None:
        raw = OmegaConf.select(hydra_cfg, "hydra.runtime.choices") or {}
        choices = {k: str(v) for k, v in raw.items() if not str(k).startswith("hydra/")}
    return Run(run_dir, metrics, _load_yaml(hydra_dir / "config.yaml"), overrides, choices)


def gather(dirs: Sequence[str | Path]) -> list[Run]:
    """All runs below ``dirs`` (recursively), ordered by experiment, stage, then path."""
    runs: dict[Path, Run] = {}
    for d in dirs:
        base = Path(d)
        candidates = [base / "metrics.json"] if (base / "metrics.json").is_file() else []
        candidates += sorted(base.rglob("*/metrics.json")) if base.is_dir() else []
        for m in candidates:
            run = load_run(m.parent)
            if run is not None:
                runs.setdefault(m.parent.resolve(), run)
    return sorted(
        runs.values(),
        key=lambda r: (r.experiment, r.kind != "train", STAGE_ORDER.get(r.stage, 9), str(r.path)),
    )
