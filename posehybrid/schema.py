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
from dataclasses import dataclass, field, make_dataclass
from typing import Any, List, Optional  # noqa: UP035

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


def schema(name: str, fields: dict[str, Any], base: type | None = None) -> type:
    """A dataclass ``name`` on ``base`` from a table ``{key: type}``, every field ``MISSING``
    (the YAML gives the value; ``Default(type, value)`` for the rare key a YAML may omit)."""
    specs = [
        (k, t.type, field(default=t.value))
        if isinstance(t, Default)
        else (k, t, field(default=MISSING))
        for k, t in fields.items()
    ]
    return make_dataclass(name, specs, bases=(base,) if base else ())


@dataclass(frozen=True)
class Default:
    """A table entry with a value of its own instead of ``MISSING``."""

    type: Any
    value: Any


# ---------------------------------------------------------------------------------- data

_AUGMENT_AMOUNTS = ("scale", "rotate", "translate", "flip", "color_jitter", "brightness",
                    "contrast", "saturation", "hue")  # fmt: skip
AugmentSchema = schema("AugmentSchema", {"enabled": bool, **dict.fromkeys(_AUGMENT_AMOUNTS, float)})


# conf/data/base.yaml: what every dataset has
DataSchema = schema("DataSchema", {
    "_target_": str, "name": str, "root": str, "joint_set": str, "num_joints": int,
    "cache_images": bool, "batch_size": int, "num_workers": int,
    "val_fraction": float, "val_size": Optional[int], "split_seed": int,  # noqa: UP045
    "cv_folds": Optional[int], "cv_fold": int, "train_size": Optional[int],  # noqa: UP045
    "target_weight": str, "train_crop_padding": Optional[float],  # noqa: UP045
    "augment": AugmentSchema, "source": Any,
})  # fmt: skip

# the dataset-only keys, each in its dataset's schema only
SyntheticDataSchema = schema("SyntheticDataSchema", {"n_images": int}, DataSchema)
FLICDataSchema = schema("FLICDataSchema", {"labels": str, "box_scale": float}, DataSchema)
SyntheticFLICDataSchema = schema("SyntheticFLICDataSchema", {"n_images": int}, FLICDataSchema)
LSPFullDataSchema = schema("LSPFullDataSchema", {"lsp_root": str, "lspet_root": str}, DataSchema)


# --------------------------------------------------------------------------------- model


SpatialGraphSchema = schema(
    "SpatialGraphSchema",
    {"mode": str, "explicit": Optional[List[List[int]]], "self_edges": bool},  # noqa: UP006, UP045
)
SpatialPriorsSchema = schema(
    "SpatialPriorsSchema", {"histogram_pairs": str, "blur_sigma": float, "floor": float}
)


ModelSchema = schema("ModelSchema", {
    "name": str, "input_size": List[int], "heatmap_size": List[int], "sigma": float,  # noqa: UP006
    "codec": Any, "part_detector": Any, "spatial": Any,
    "spatial_graph": SpatialGraphSchema, "spatial_priors": SpatialPriorsSchema,
})  # fmt: skip


# ------------------------------------------------------------------------ the train entry


StepsSchema = schema(
    "StepsSchema", dict.fromkeys(("part_detector", "spatial", "joint", "one_stage"), int)
)
IntervalsSchema = schema("IntervalsSchema", {"resamples": int, "confidence": float, "seed": int})
AblationSchema = schema(
    "AblationSchema",
    {
        "control": bool,
        "detector_alone": bool,
        "one_stage": bool,
        "control_retime": float,
        "intervals": IntervalsSchema,
    },
)


# conf/train.yaml's own keys; the config groups are typed by their own schemas
TrainSchema = schema("TrainSchema", {
    "name": str, "seed": int, "tags": List[str],  # noqa: UP006
    "resume": Optional[str], "ckpt_path": Optional[str],  # noqa: UP045
    "min_free_mb": float, "optimized_metric": str, "threads": Optional[int],  # noqa: UP045
    "steps": StepsSchema, "warn_below_steps": int, "ablation": AblationSchema,
    "auto_upstream": bool, "test_checkpoint": str,
    "data": Any, "model": Any, "trainer": Any, "callbacks": Any, "paths": Any, "stage": Any,
    "logger": Default(Any, None),  # logger=none leaves the group empty
})  # fmt: skip


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
