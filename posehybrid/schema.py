"""The config schema: structured configs (dataclasses in Hydra's ConfigStore) under ``schema/``.

Each YAML that a schema covers names it first in its defaults list (``conf/train.yaml``:
``/schema/train@_here_``, ``conf/data/<name>.yaml``: ``/schema/data/<name>@_here_``,
``conf/model/*.yaml``: ``/schema/model@_here_``), so Hydra itself rejects a key that is not in
the schema (a typo in a YAML file or an experiment) and a value of the wrong type (an override
``data.batch_size=abc``), naming the full key. The values, and so every default, live in the
YAML: every field here is ``MISSING`` until a YAML sets it. What a type cannot say (ranges,
sizes that must agree, files, free disk) stays in :mod:`posehybrid.utils.validate`.

The nodes that Hydra instantiates with ``_target_`` as their interface (the data source, the
models, trainer, callbacks, loggers, the stage's module) are typed ``Any``: their classes'
signatures are their schema, checked when they are built.
"""

# No `from __future__ import annotations`: OmegaConf reads these annotations at runtime, and
# it understands typing.Optional/List, not PEP 604 unions.
from dataclasses import dataclass, field
from typing import Any, List, Optional  # noqa: UP035

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# ---------------------------------------------------------------------------------- data


@dataclass
class AugmentSchema:
    enabled: bool = MISSING
    scale: float = MISSING
    rotate: float = MISSING
    translate: float = MISSING
    flip: float = MISSING
    color_jitter: float = MISSING
    brightness: float = MISSING
    contrast: float = MISSING
    saturation: float = MISSING
    hue: float = MISSING


@dataclass
class DataSchema:
    """``conf/data/base.yaml``: what every dataset has."""

    _target_: str = MISSING
    name: str = MISSING
    root: str = MISSING
    joint_set: str = MISSING
    num_joints: int = MISSING
    cache_images: bool = MISSING
    batch_size: int = MISSING
    num_workers: int = MISSING
    val_fraction: float = MISSING
    val_size: Optional[int] = MISSING  # noqa: UP045
    split_seed: int = MISSING
    target_weight: str = MISSING
    train_crop_padding: Optional[float] = MISSING  # noqa: UP045
    augment: AugmentSchema = field(default_factory=AugmentSchema)
    source: Any = MISSING


@dataclass
class SyntheticDataSchema(DataSchema):
    n_images: int = MISSING


@dataclass
class FLICDataSchema(DataSchema):
    labels: str = MISSING
    box_scale: float = MISSING


@dataclass
class SyntheticFLICDataSchema(FLICDataSchema):
    n_images: int = MISSING


@dataclass
class LSPFullDataSchema(DataSchema):
    lsp_root: str = MISSING
    lspet_root: str = MISSING


# --------------------------------------------------------------------------------- model


@dataclass
class SpatialGraphSchema:
    mode: str = MISSING
    explicit: Optional[List[List[int]]] = MISSING  # noqa: UP006, UP045
    self_edges: bool = MISSING


@dataclass
class SpatialPriorsSchema:
    histogram_pairs: str = MISSING
    blur_sigma: float = MISSING
    floor: float = MISSING


@dataclass
class ModelSchema:
    name: str = MISSING
    input_size: List[int] = MISSING  # noqa: UP006
    heatmap_size: List[int] = MISSING  # noqa: UP006
    sigma: float = MISSING
    codec: Any = MISSING
    part_detector: Any = MISSING
    spatial: Any = MISSING
    spatial_graph: SpatialGraphSchema = field(default_factory=SpatialGraphSchema)
    spatial_priors: SpatialPriorsSchema = field(default_factory=SpatialPriorsSchema)


# ------------------------------------------------------------------------ the train entry


@dataclass
class StepsSchema:
    part_detector: int = MISSING
    spatial: int = MISSING
    joint: int = MISSING


@dataclass
class AblationSchema:
    control: bool = MISSING


@dataclass
class TrainSchema:
    """``conf/train.yaml``'s own keys; the config groups are typed by their own schemas."""

    name: str = MISSING
    seed: int = MISSING
    tags: List[str] = MISSING  # noqa: UP006
    resume: Optional[str] = MISSING  # noqa: UP045
    ckpt_path: Optional[str] = MISSING  # noqa: UP045
    min_free_mb: float = MISSING
    optimized_metric: str = MISSING
    threads: Optional[int] = MISSING  # noqa: UP045
    steps: StepsSchema = field(default_factory=StepsSchema)
    warn_below_steps: int = MISSING
    ablation: AblationSchema = field(default_factory=AblationSchema)
    auto_upstream: bool = MISSING
    data: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    logger: Any = None  # logger=none leaves the group empty
    callbacks: Any = MISSING
    paths: Any = MISSING
    stage: Any = MISSING


SCHEMAS: dict[str, Any] = {
    "schema/train": TrainSchema,
    "schema/model": ModelSchema,
    "schema/data/base": DataSchema,
    "schema/data/synthetic": SyntheticDataSchema,
    "schema/data/flic": FLICDataSchema,
    "schema/data/synthetic_flic": SyntheticFLICDataSchema,
    "schema/data/lsp_full": LSPFullDataSchema,
}


def register_schemas() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent; run on importing posehybrid)."""
    store = ConfigStore.instance()
    for path, node in SCHEMAS.items():
        group, name = path.rsplit("/", 1)
        store.store(group=group, name=name, node=node)


register_schemas()
