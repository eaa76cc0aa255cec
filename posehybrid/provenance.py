"""Which data a run used, so that ``eval`` and ``compare`` can say truthfully what they scored.

* Training runs write ``<run>/data.json`` (:class:`posehybrid.callbacks.data_record.DataRecord`):
  dataset, root, split sizes and the image files of every split.
* ``eval`` evaluates on the checkpoint's own training data unless told otherwise
  (:func:`data_config`); when it is told otherwise it warns in one line how the data differs
  (:func:`data_differences`) and whether test images were in the training split
  (:func:`training_images`, from ``data.json`` or, for datasets read from disk, rebuilt from
  the run's data config).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from posehybrid.utils.io import atomic_write_json
from posehybrid.utils.runs import run_dir_of

log = logging.getLogger(__name__)

DATA_FILE = "data.json"
# data.* keys that do not change which images are in which split.
NOT_DATA_IDENTITY = (
    "batch_size", "num_workers", "cache_images", "augment", "target_weight",
    "train_crop_padding", "input_size", "heatmap_size", "sigma", "_target_",
)  # fmt: skip
GENERATED = ("SyntheticSource", "SyntheticFLICSource")  # sources that render their images


def data_facts(datamodule: Any) -> dict[str, Any]:
    """``{"dataset", "root", "splits": {split: n}, "images": {split: [path, ...]}}`` of a
    ``PoseDataModule`` (image paths resolved, so runs started elsewhere compare equal)."""
    records = datamodule.records()
    return {
        "dataset": datamodule.name,
        "root": datamodule.source.describe(datamodule.root),
        "splits": {split: len(recs) for split, recs in records.items()},
        "images": {
            split: [str(Path(r.image_path).resolve()) for r in recs]
            for split, recs in records.items()
        },
    }


def data_identity(data_cfg: DictConfig) -> dict[str, Any]:
    """What decides the images of each split, flattened: dataset, roots (absolute), split
    sizes and seeds, joint set, and a generated dataset's generator parameters. A generated
    dataset's root is left out: it is only where the images are cached, and they are a pure
    function of the generator's parameters."""
    flat = _flat(OmegaConf.to_container(data_cfg, resolve=True))  # type: ignore[arg-type]
    generated = str(flat.get("source._target_", "")).rsplit(".", 1)[-1] in GENERATED
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key.split(".")[0] in NOT_DATA_IDENTITY or key.endswith("_target_"):
            continue
        if key.endswith("root") and isinstance(value, str):
            if generated:
                continue
            value = str(Path(value).expanduser().resolve())
        out[key] = value
    if out.get("cv_folds") is None:
        # Cross-validation off: the source's own split, as before these keys existed, so runs
        # trained then keep their fingerprints (and their upstream checkpoints keep matching).
        out.pop("cv_folds", None)
        out.pop("cv_fold", None)
    if out.get("train_size") is None:  # every training record: the fingerprint of before
        out.pop("train_size", None)
    return out


def fingerprint(identity: Mapping[str, Any]) -> str:
    """12 hex digits of a SHA-1 over the identity (sorted keys): equal data, equal print."""
    blob = json.dumps(dict(identity), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def identity_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """``["source.test_size 1000 -> 50", ...]`` between two :func:`data_identity` dicts."""
    keys = sorted(set(a) | set(b))
    return [f"{k} {a.get(k)} -> {b.get(k)}" for k in keys if a.get(k) != b.get(k)]


def write_data_record(datamodule: Any, run_dir: str | Path) -> Path:
    return atomic_write_json(Path(run_dir) / DATA_FILE, data_facts(datamodule))


def read_data_record(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / DATA_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def data_config(
    cfg: DictConfig, ckpt: Path, cli_keys: Sequence[str]
) -> tuple[DictConfig, DictConfig | None, str]:
    """(the data node to evaluate on, the training run's data node or None, where the first
    came from, for the log).

    With ``data_from_run`` auto (and no ``data=`` group on the command line, ``cli_keys``) or
    true: the training run's ``data`` node resolved in the run's own context (its paths and
    model), then this command line's ``data.*`` overrides on top.
    """
    mode = str(cfg.data_from_run).lower()
    if mode not in ("auto", "true", "false"):
        raise ValueError(f"data_from_run must be auto, true or false, got {mode!r}")
    run_config = run_dir_of(ckpt) / ".hydra" / "config.yaml"
    run_data = None
    if run_config.is_file():
        run_cfg = OmegaConf.load(run_config)
        if "data" in run_cfg:
            run_data = OmegaConf.create(OmegaConf.to_container(run_cfg.data, resolve=True))
    if mode == "false" or (mode == "auto" and "data" in cli_keys):
        return cfg.data, run_data, "the composed config"
    if run_data is None:
        if mode == "true":
            raise ValueError(f"data_from_run=true but {run_config} has no 'data' node")
        return cfg.data, None, f"the composed config (no training config at {run_config})"
    data = run_data.copy()
    for key in cli_keys:
        if key.startswith("data."):
            OmegaConf.update(data, key[5:], OmegaConf.select(cfg, key), force_add=True)
    return data, run_data, f"the training run's config {run_config}"


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _same(key: str, a: Any, b: Any, base_a: Path, base_b: Path) -> bool:
    if key.endswith("root") and isinstance(a, str) and isinstance(b, str):
        # relative roots are relative to the directory each command ran in
        return (base_a / a).expanduser().resolve() == (base_b / b).expanduser().resolve()
    return a == b


def data_differences(
    train: DictConfig, used: DictConfig, train_cwd: Path | None = None
) -> list[str]:
    """``["source.test_size 1000 -> 50", ...]``: how the evaluated data differs from the
    training run's in what decides the images of each split (dataset, roots, split sizes)."""
    a = _flat(OmegaConf.to_container(train, resolve=True))  # type: ignore[arg-type]
    b = _flat(OmegaConf.to_container(used, resolve=True))  # type: ignore[arg-type]
    base_a, base_b = (train_cwd or Path.cwd()), Path.cwd()
    out = []
    for key in sorted(set(a) | set(b)):
        if key.split(".")[0] in NOT_DATA_IDENTITY:
            continue
        va, vb = a.get(key), b.get(key)
        if not _same(key, va, vb, base_a, base_b):
            out.append(f"{key} {va} -> {vb}")
    return out


def training_images(run_dir: Path, train_data: DictConfig | None) -> set[str] | None:
    """Resolved image paths of the run's train and val splits: from ``data.json``, else rebuilt
    from its data config when the dataset is read from disk (a generated dataset would be
    rendered again); None when that cannot be known."""
    record = read_data_record(run_dir)
    if record is not None:
        return {p for split in ("train", "val") for p in record["images"].get(split, [])}
    if train_data is None:
        return None
    source = str(OmegaConf.select(train_data, "source._target_", default=""))
    if source.rsplit(".", 1)[-1] in GENERATED:
        return None
    from hydra.utils import instantiate

    try:
        facts = data_facts(instantiate(train_data))
    except (OSError, ValueError):  # the training data is not where it was
        return None
    return {p for split in ("train", "val") for p in facts["images"][split]}


def check_against_training(
    ckpt: Path, train_data: DictConfig | None, used: DictConfig, facts: dict[str, Any]
) -> dict[str, Any]:
    """Warn (one line each) when the evaluated data differs from the checkpoint's training data
    and when its test images were trained on; returns what ``metrics.json`` records of it."""
    run = run_dir_of(ckpt)
    out: dict[str, Any] = {"differs_from_training": None, "test_images_in_training": None}
    if train_data is None:
        return out
    cwd = None
    hydra_yaml = run / ".hydra" / "hydra.yaml"
    if hydra_yaml.is_file():
        cwd = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.cwd")
    diffs = data_differences(train_data, used, Path(cwd) if cwd else None)
    out["differs_from_training"] = diffs
    if not diffs:
        out["test_images_in_training"] = 0  # the training run's own test split
        return out
    log.warning("eval: the data differs from the checkpoint's training data: %s", "; ".join(diffs))
    seen = training_images(run, train_data)
    if seen is None:
        return out
    test = facts["images"]["test"]
    overlap = sum(p in seen for p in test)
    out["test_images_in_training"] = overlap
    if overlap:
        log.warning(
            "eval: %d of %d test images were in the checkpoint's training or validation split: "
            "this is not a held-out score",
            overlap,
            len(test),
        )
    return out
