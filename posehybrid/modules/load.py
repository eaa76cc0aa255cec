"""Rebuild any stage's module from its checkpoint, for evaluation, prediction and export.

Only the three known module classes can be built (the checkpoint names a stage, never a class
path), and the model config stored with it may name only allow-listed ``_target_``s
(:data:`ALLOWED_TARGETS`: posehybrid's models and codec, torch's norm layers): a checkpoint
whose config names anything else is refused before anything is instantiated, so nothing from a
data file decides what code runs.

Modules loaded here are for inference: by default the detector's batch norm is folded into its
convolutions (``models.fusion.fold_batch_norm``; the same function up to float32 round-off,
~2 ms less per image for ``model=small``). Their ``state_dict`` then no longer matches the
checkpoint's (no norm keys, conv biases added): train from the checkpoint, not from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from posehybrid.models.fusion import fold_batch_norm
from posehybrid.modules.base import PoseModule
from posehybrid.modules.joint import JointModule
from posehybrid.modules.part_detector import PartDetectorModule
from posehybrid.modules.spatial import SpatialModule
from posehybrid.utils.checkpoint import CheckpointError, expect_checkpoint

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


def check_targets(init_kwargs: dict[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint whose stored config names a ``_target_`` off the allow-list."""
    for where, target in _targets(init_kwargs, "init_kwargs"):
        ok = isinstance(target, str) and any(
            target.startswith(a) if a.endswith(".") else target == a for a in ALLOWED_TARGETS
        )
        if not ok:
            raise CheckpointError(
                f"checkpoint {path}: {where}._target_={target!r} is not an allowed class "
                f"(allowed: {', '.join(ALLOWED_TARGETS)}); refusing to build it"
            )


def with_codec(init_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints written before the model config had its ``codec`` node: add it from the
    model's sizes (what those checkpoints' modules built their codec from)."""
    model_cfg = init_kwargs.get("model_cfg")
    if not isinstance(model_cfg, dict) or "codec" in model_cfg:
        return init_kwargs
    codec = {"_target_": "posehybrid.data.heatmaps.HeatmapCodec",
             **{k: model_cfg[k] for k in ("input_size", "heatmap_size", "sigma")}}  # fmt: skip
    return {**init_kwargs, "model_cfg": {**model_cfg, "codec": codec}}


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
    stage, a stored config naming a class off :data:`ALLOWED_TARGETS`, or (when ``joint_set``
    is given) a checkpoint trained on another joint set.
    """
    ckpt, info = expect_checkpoint(path, tuple(STAGE_MODULES), joint_set)
    init_kwargs = with_codec(info["init_kwargs"])
    check_targets(init_kwargs, path)
    module = STAGE_MODULES[info["stage"]](**init_kwargs)
    module.load_state_dict(ckpt["state_dict"])
    return fold_for_inference(module) if fold_bn else module.eval()
