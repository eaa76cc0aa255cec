"""Heat-map and skeleton grids of a fixed set of validation images, every few epochs.

Rows are examples; columns are ground truth, prediction, the detector's heat-maps and (for the
spatial and joint stages) the spatial model's. The same images every epoch, so the grids show
how the model's output evolves. Works with any logger (see :func:`media.publish_image`); for
csv/none the grids are written to ``<run>/visualisations/epoch_XXX.png``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import Dataset, default_collate

from posehybrid.callbacks.media import SavePng, caption, overlay, publish_image, run_dir
from posehybrid.data.draw import draw_skeleton, image_grid, to_uint8
from posehybrid.data.skeleton import JointSet


def fixed_indices(n_items: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(n_items)``: fixed, and not all alike."""
    if n_items <= 0 or count <= 0:
        return []
    return sorted({round(i) for i in np.linspace(0, n_items - 1, min(count, n_items))})


def detector_map(maps: torch.Tensor) -> np.ndarray:
    """(J, h, w) detector heat-maps -> (h, w) in [0, 1]: max over joints of the positive part."""
    m = maps.clamp_min(0).amax(dim=0)
    return (m / m.max().clamp_min(1e-6)).cpu().numpy()


def spatial_map(logits: torch.Tensor) -> np.ndarray:
    """(J, h, w) log-space spatial output -> (h, w) in [0, 1]: the sum over joints of each
    joint's spatial softmax (where the model puts its joints), scaled to peak 1.

    A sum, not a max of per-joint normalised maps: a joint whose map is still flat would make
    such a max 1 everywhere; in the sum it only adds a constant.
    """
    p = torch.softmax(logits.flatten(1).double(), dim=1).sum(dim=0)
    p = p / p.max().clamp_min(1e-12)
    return p.reshape(logits.shape[1:]).float().cpu().numpy()


@torch.no_grad()
def render_predictions(
    module: pl.LightningModule, batch: dict[str, torch.Tensor], joint_set: JointSet
) -> np.ndarray:
    """One grid image for ``batch``: per example [truth | prediction | detector | spatial].

    ``module`` is a posehybrid stage module (``heatmaps`` + ``decode``); coordinates are drawn
    in network-input pixels, on the network input.
    """
    was_training = module.training
    module.eval()
    try:
        images = batch["image"].to(module.device)
        maps = module.heatmaps(images)
        coords, _ = module.decode(maps)
    finally:
        module.train(was_training)
    panels: list[np.ndarray] = []
    titles = ["truth", "prediction", "detector"] + (["spatial"] if "spatial" in maps else [])
    for i in range(images.shape[0]):
        img = to_uint8(batch["image"][i].cpu().numpy())
        annotated = batch["annotated"][i].cpu().numpy()
        row = [
            draw_skeleton(
                img,
                batch["keypoints"][i].cpu().numpy(),
                joint_set,
                visible=batch["visible"][i].cpu().numpy(),
                annotated=annotated,
            ),
            draw_skeleton(img, coords[i].cpu().numpy(), joint_set),
            overlay(img, detector_map(maps["detector"][i])),
        ]
        if "spatial" in maps:
            row.append(overlay(img, spatial_map(maps["spatial"][i])))
        if i == 0:
            row = [caption(p, t) for p, t in zip(row, titles, strict=True)]
        else:  # keep every panel the same size as the captioned first row
            row = [np.pad(p, ((12, 0), (0, 0), (0, 0)), constant_values=255) for p in row]
        panels.extend(row)
    return image_grid(panels, ncols=len(titles))


class VisualiseCallback(Callback):
    """Log prediction grids of ``num_images`` fixed validation images.

    Args:
        num_images: how many validation images (spread evenly over the split).
        every_n_validations: render at validations 0, n, 2n, ... and at the last step
            (validation runs every ``trainer.val_check_interval`` steps, across epochs).
        save_png: ``auto`` (PNG files only when no logger shows images), ``always``, ``never``.
        dirpath: the run directory (default: the trainer's ``default_root_dir``).
        key: the logger key.
    """

    def __init__(
        self,
        num_images: int = 8,
        every_n_validations: int = 1,
        save_png: SavePng = "auto",
        dirpath: str | None = None,
        key: str = "val/predictions",
    ) -> None:
        self.num_images = int(num_images)
        self.every_n_validations = max(1, int(every_n_validations))
        self._validations = 0
        self.save_png = save_png
        self.dirpath = dirpath
        self.key = key
        self._batch: dict[str, torch.Tensor] | None = None
        self.written: list[Path] = []

    @staticmethod
    def _val_dataset(trainer: pl.Trainer) -> Dataset | None:
        dm = getattr(trainer, "datamodule", None)
        datasets = getattr(dm, "datasets", None) or {}
        if datasets.get("val") is not None and len(datasets["val"]) > 0:
            return datasets["val"]
        loaders = trainer.val_dataloaders
        loader = loaders[0] if isinstance(loaders, Sequence) and loaders else loaders
        return getattr(loader, "dataset", None)

    def fixed_batch(self, trainer: pl.Trainer) -> dict[str, torch.Tensor] | None:
        """The same validation examples every epoch (chosen once, kept on the CPU)."""
        if self._batch is None:
            ds = self._val_dataset(trainer)
            if ds is None:
                return None
            idx = fixed_indices(len(ds), self.num_images)
            self._batch = default_collate([ds[i] for i in idx]) if idx else None
        return self._batch

    def _due(self, trainer: pl.Trainer) -> bool:
        count, self._validations = self._validations, self._validations + 1
        last = 0 < trainer.max_steps <= trainer.global_step
        return count % self.every_n_validations == 0 or last

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or self.num_images <= 0:
            return
        if not self._due(trainer):
            return
        batch = self.fixed_batch(trainer)
        if batch is None:
            return
        grid = render_predictions(pl_module, batch, pl_module.joint_set)
        step = trainer.global_step
        png = run_dir(trainer, self.dirpath) / "visualisations" / f"step_{step:06d}.png"
        written = publish_image(
            trainer, self.key, grid, png, self.save_png, caption_text=f"step {step}"
        )
        if written is not None:
            self.written.append(written)
