"""Stage 1: the part detector trained with visibility-weighted MSE on Gaussian heat-maps."""

from __future__ import annotations

from typing import Any

import torch

from posehybrid.modules.base import PoseModule
from posehybrid.modules.losses import heatmap_mse
from posehybrid.utils.checkpoint import expect_checkpoint


class PartDetectorModule(PoseModule):
    """Trains the detector it is given (``self.detector``, usually a
    :class:`~posehybrid.models.part_detector.PartDetector`); arguments of :class:`PoseModule`.

    Args:
        init: optional ``{"part_detector": PATH}`` to start from trained weights (used by the
            ablation's control row, which trains the detector on for longer).
    """

    stage_name = "part_detector"

    def __init__(self, *args: Any, init: dict[str, str | None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        path = (init or {}).get("part_detector")
        if path:
            ckpt, _ = expect_checkpoint(path, ("part_detector",), self.joint_set.name)
            self.load_detector_weights(ckpt["state_dict"])

    def load_detector_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        sub = {k[len("detector.") :]: v for k, v in state_dict.items() if k.startswith("detector.")}
        self.detector.load_state_dict(sub)

    def heatmaps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"detector": self.detector(image)}

    def loss(self, maps: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return heatmap_mse(maps["detector"], batch["heatmaps"], batch["target_weight"])
