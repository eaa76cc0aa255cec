"""Rebuild any stage's module from its checkpoint, for evaluation, prediction and export.

A checkpoint holds the resolved model config (``posehybrid.model``, the ``ModelRecord``
callback) and the module's settings (Lightning's ``hyper_parameters``). Only the three known
module classes can be built (the checkpoint names a stage, never a class path), and the stored
model config may name only allow-listed ``_target_``s (:data:`ALLOWED_TARGETS`: posehybrid's
models, codec and joint links, torch's norm layers): a checkpoint whose config names anything
else is refused before anything is instantiated, so nothing from a data file decides what code
runs. The models are then built from it as training built them (:func:`build_module`).

Modules loaded here are for inference: by default the detector's batch norm is folded into its
convolutions (``models.fusion.fold_batch_norm``; the same function up to float32 round-off,
~2 ms less per image for ``model=small``). Their ``state_dict`` then no longer matches the
checkpoint's (no norm keys, conv biases added): train from the checkpoint, not from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.utils import instantiate

from posehybrid.models.fusion import fold_batch_norm
from posehybrid.modules.base import PoseModule
from posehybrid.modules.joint import JointModule
from posehybrid.modules.part_detector import PartDetectorModule
from posehybrid.modules.spatial import SpatialModule
from posehybrid.utils.checkpoint import CheckpointError, expect_checkpoint, stored_model_config

STAGE_MODULES: dict[str, type[PoseModule]] = {
    "part_detector": PartDetectorModule,
    "spatial": SpatialModule,
    "joint": JointModule,
}


# The only ``_target_``s a checkpoint's stored config may name (exact names, or a package prefix
# ending in "."): what conf/model/*.yaml builds.
ALLOWED_TARGETS: tuple[str, ...] = (
    "posehybrid.models.",
    "posehybrid.data.heatmaps.HeatmapCodec",
    "posehybrid.data.skeleton.joint_links",
    "torch.nn.BatchNorm2d",
    "torch.nn.SyncBatchNorm",
    "torch.nn.GroupNorm",
    "torch.nn.InstanceNorm2d",
    "torch.nn.Identity",
)


def _targets(tree: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "_target_":
                yield where, value
            else:
                yield from _targets(value, f"{where}.{key}")
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _targets(value, f"{where}[{i}]")


def check_targets(model_config: dict[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint whose stored config names a ``_target_`` off the allow-list."""
    for where, target in _targets(model_config, "model"):
        ok = isinstance(target, str) and any(
            target.startswith(a) if a.endswith(".") else target == a for a in ALLOWED_TARGETS
        )
        if not ok:
            raise CheckpointError(
                f"checkpoint {path}: {where}._target_={target!r} is not an allowed class "
                f"(allowed: {', '.join(ALLOWED_TARGETS)}); refusing to build it"
            )


def build_module(cls: type[PoseModule], model_config: dict[str, Any], **kwargs: Any) -> PoseModule:
    """``cls`` with the models of ``model_config`` (a resolved ``model`` config: its
    ``codec``, ``part_detector`` and, for the spatial stages, ``spatial`` and
    ``spatial_priors``), built as the stage config builds them; ``kwargs``: the module's
    settings (``joint_set``, ``decode``, ...)."""
    models: dict[str, Any] = {
        "codec": instantiate(model_config["codec"]),
        "detector": instantiate(model_config["part_detector"]),
    }
    if issubclass(cls, SpatialModule):
        models["spatial"] = instantiate(model_config["spatial"])
        models["priors"] = model_config.get("spatial_priors")
    return cls(**{**models, **kwargs})


def legacy_config(info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, module settings) of a checkpoint written before the models were passed
    in (an ``init_kwargs`` block): the spatial model's edges and sizes were the module's, and
    older ones had no codec node."""
    init = info.get("init_kwargs") or {}
    model = dict(stored_model_config(info) or {})
    if "codec" not in model:
        model["codec"] = {"_target_": "posehybrid.data.heatmaps.HeatmapCodec",
                          **{k: model[k] for k in ("input_size", "heatmap_size", "sigma")}}  # fmt: skip
    if "spatial" in model and "edges" in init:
        model["spatial"] = {**model["spatial"], "edges": init["edges"],
                            "heatmap_size": model["heatmap_size"]}  # fmt: skip
    graph = model.get("spatial_graph") or {}
    model.setdefault("spatial_priors", {k: graph[k] for k in ("histogram_pairs", "blur_sigma",
                                                              "floor") if k in graph})  # fmt: skip
    settings = {k: init[k] for k in ("joint_set", "decode") if k in init}
    return model, settings


def with_param_groups(settings: dict[str, Any]) -> dict[str, Any]:
    """Joint-stage settings written before its learning rates were parameter groups
    (``detector_lr``, ``spatial_lr``) in today's form (``param_groups``)."""
    lrs = {part: settings.pop(f"{part}_lr", None) for part in ("detector", "spatial")}
    if all(lr is not None for lr in lrs.values()):
        settings["param_groups"] = {part: {"lr": lr} for part, lr in lrs.items()}
    return settings


def _stored(
    path: str | Path, joint_set: str | None = None
) -> tuple[type[PoseModule], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(module class, model config, module settings, checkpoint) of any stage's checkpoint."""
    ckpt, info = expect_checkpoint(path, tuple(STAGE_MODULES), joint_set)
    if "init_kwargs" in info:
        model_config, settings = legacy_config(info)
    else:
        model_config = info.get("model")
        settings = with_param_groups(dict(ckpt.get("hyper_parameters") or {}))
        if not isinstance(model_config, dict):
            raise CheckpointError(
                f"checkpoint {path}: holds no model config (posehybrid.model); it was not "
                "written by posehybrid.train"
            )
    check_targets(model_config, path)
    return STAGE_MODULES[info["stage"]], model_config, settings, ckpt


def model_config_of(path: str | Path) -> dict[str, Any]:
    """The resolved model config that ``path``'s models were built from (allow-list checked)."""
    return _stored(path)[1]


def fold_for_inference(module: PoseModule) -> PoseModule:
    """Fold the detector's batch norm into its convolutions (in place on ``module``, whose
    ``detector`` is replaced by a folded copy); returns ``module`` in eval mode."""
    module.detector = fold_batch_norm(module.detector)
    return module.eval()


def load_module(
    path: str | Path, joint_set: str | None = None, *, fold_bn: bool = True
) -> PoseModule:
    """Load a posehybrid checkpoint (any stage) into an eval-mode module on the CPU.

    ``fold_bn``: fold the detector's batch norm into its convolutions (see the module
    docstring); ``False`` gives the module exactly as trained.

    Raises :class:`CheckpointError` for a file that is not a posehybrid checkpoint, an unknown
    stage, no stored model config, one naming a class off :data:`ALLOWED_TARGETS`, or (when
    ``joint_set`` is given) a checkpoint trained on another joint set.
    """
    cls, model_config, settings, ckpt = _stored(path, joint_set)
    settings["init"] = None  # the weights come from this checkpoint, not from its upstream
    module = build_module(cls, model_config, **settings)
    module.load_state_dict(ckpt["state_dict"])
    return fold_for_inference(module) if fold_bn else module.eval()
