"""Rebuild any stage's module from its checkpoint, for evaluation, prediction and export.

Only the three known module classes can be built: the checkpoint names a stage, never a class
path, so nothing from a data file decides what code runs.

Modules loaded here are for inference: by default the detector's batch norm is folded into its
convolutions (``models.fusion.fold_batch_norm``; the same function up to float32 round-off,
~2 ms less per image for ``model=small``). Their ``state_dict`` then no longer matches the
checkpoint's (no norm keys, conv biases added): train from the checkpoint, not from them.
"""

from __future__ import annotations

from pathlib import Path

from posehybrid.models.fusion import fold_batch_norm
from posehybrid.modules.base import PoseModule
from posehybrid.modules.joint import JointModule
from posehybrid.modules.part_detector import PartDetectorModule
from posehybrid.modules.spatial import SpatialModule
from posehybrid.utils.checkpoint import expect_checkpoint

STAGE_MODULES: dict[str, type[PoseModule]] = {
    "part_detector": PartDetectorModule,
    "spatial": SpatialModule,
    "joint": JointModule,
}


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
    stage, or (when ``joint_set`` is given) a checkpoint trained on another joint set.
    """
    ckpt, info = expect_checkpoint(path, tuple(STAGE_MODULES), joint_set)
    module = STAGE_MODULES[info["stage"]](**info["init_kwargs"])
    module.load_state_dict(ckpt["state_dict"])
    return fold_for_inference(module) if fold_bn else module.eval()
