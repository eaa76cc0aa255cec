"""Lightning's rich model summary with its FLOPs column filled from posehybrid's own count.

Lightning counts FLOPs only by running ``example_input_array``, which the stage modules do not
set, so its column read 0 everywhere. Here the detector's row (and the total) is the forward
convolution FLOPs of one input image from :func:`posehybrid.models.flops.count_conv_flops`, the
count the README's model table and the MFU benchmark use; it is measured on a copy on the
``meta`` device, so it costs no compute. Rows the project does not count (the spatial model's
FFT, the metrics) show ``-``.
"""

from __future__ import annotations

import copy
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

from posehybrid.models.flops import count_conv_flops

NOT_COUNTED = "-"


def module_flops(pl_module: pl.LightningModule) -> dict[str, int]:
    """``{"detector": forward conv FLOPs of one (1, 3, H, W) input}``, or ``{}`` for a module
    without a detector and codec."""
    detector = getattr(pl_module, "detector", None)
    codec = getattr(pl_module, "codec", None)
    if not isinstance(detector, torch.nn.Module) or codec is None:
        return {}
    w, h = codec.input_size
    meta = copy.deepcopy(detector).to("meta")  # shapes only: the count needs no arithmetic
    return {"detector": count_conv_flops(meta, (1, 3, h, w), device="meta")}


class ProjectFlopsSummary(RichModelSummary):
    """:class:`RichModelSummary` whose FLOPs column is :func:`module_flops`.

    Args:
        max_depth: layer nesting shown (0: no summary), as in Lightning.
        enabled: ``${trainer.enable_model_summary}``, so that one key still turns it off.
    """

    def __init__(self, max_depth: int = 1, enabled: bool = True, **summarize_kwargs: Any) -> None:
        super().__init__(max_depth=max_depth if enabled else 0, **summarize_kwargs)
        self.enabled = bool(enabled) and max_depth > 0
        self.flops: dict[str, int] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled:
            self.flops = module_flops(pl_module)
        super().on_fit_start(trainer, pl_module)

    def summarize(  # type: ignore[override]  (an instance method: it reads self.flops)
        self,
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        names = dict(summary_data)["Name"]
        data = [
            (column, [self._cell(n) for n in names] if column == "FLOPs" else values)
            for column, values in summary_data
        ]
        RichModelSummary.summarize(
            data,
            total_parameters,
            trainable_parameters,
            model_size,
            total_training_modes,
            total_flops=sum(self.flops.values()),
            **summarize_kwargs,
        )

    def _cell(self, name: str) -> str:
        return get_human_readable_count(self.flops[name]) if name in self.flops else NOT_COUNTED
