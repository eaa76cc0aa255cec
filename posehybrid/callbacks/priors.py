"""The spatial model's pairwise priors as an image grid: ``priors_init.png`` when training starts
and ``priors.png`` (the learned kernels) when it ends, for the spatial and joint stages.

Kernel pixel ``c - d`` of edge (A, v) holds the weight of "A is displaced by d from v" (see
``models/spatial_model.py``), so a neighbour pair shows a blob off the centre, on the side
opposite the typical displacement of A from v; self edges are a central peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from posehybrid.callbacks.media import (
    SavePng,
    caption,
    colourise,
    publish_image,
    run_dir,
    write_png,
    zoom,
)
from posehybrid.data.draw import image_grid


def _short(name: str) -> str:
    """``l_shoulder`` -> ``Lsho``, ``head_top`` -> ``head``: edge labels must fit a panel (and a
    lower-case ``l`` reads as ``|`` in OpenCV's font)."""
    side, _, rest = name.partition("_")
    if rest and side in ("l", "r"):
        return f"{side.upper()}{rest[:3]}"
    return name[:4]


def render_priors(
    kernels: torch.Tensor | np.ndarray,
    edges: Sequence[Sequence[int]],
    joint_names: Sequence[str] | None = None,
    include_self: bool = False,
    max_edges: int = 64,
    ncols: int = 8,
    factor: int = 2,
    gamma: float = 0.5,
) -> np.ndarray:
    """(E, K, K) probability-space kernels -> one RGB grid, one captioned panel per edge.

    Each panel is scaled to its own maximum and shown with ``gamma`` (0.5: square root) so the
    low-mass tails of a displacement distribution stay visible. Self edges are left out unless
    ``include_self`` (they are a delta); at most ``max_edges`` panels.
    """
    k = kernels.detach().float().cpu().numpy() if isinstance(kernels, torch.Tensor) else kernels
    k = np.asarray(k, dtype=np.float64)
    panels = []
    for e, (a, v) in enumerate(edges):
        if a == v and not include_self:
            continue
        if len(panels) >= max_edges:
            break
        m = k[e] / max(float(k[e].max()), 1e-12)
        img = zoom(colourise(m**gamma, "viridis"), factor)
        label = f"{_short(joint_names[a])}|{_short(joint_names[v])}" if joint_names else f"{a}|{v}"
        panels.append(caption(img, label))
    if not panels:  # a self-edges-only graph: show them rather than nothing
        return render_priors(kernels, edges, joint_names, True, max_edges, ncols, factor, gamma)
    return image_grid(panels, ncols=ncols)


def module_priors(pl_module: pl.LightningModule, **kwargs: object) -> np.ndarray | None:
    """The grid of a stage module's spatial kernels; None for a module without a spatial model."""
    spatial = getattr(pl_module, "spatial", None)
    if spatial is None or not hasattr(spatial, "kernels"):
        return None
    with torch.no_grad():
        kernels = spatial.kernels()
    names = getattr(getattr(pl_module, "joint_set", None), "joints", None)
    return render_priors(kernels, spatial.edges, names, **kwargs)  # type: ignore[arg-type]


class PriorsCallback(Callback):
    """Write (and log) the spatial priors at the start and end of training.

    Args:
        save_png: ``always`` (default: ``priors.png`` is part of every spatial/joint run dir),
            ``auto`` or ``never`` (see :func:`media.publish_image`).
        dirpath: the run directory (default: the trainer's ``default_root_dir``).
        include_self: also show the self edges (A|A).
    """

    def __init__(
        self, save_png: SavePng = "always", dirpath: str | None = None, include_self: bool = False
    ) -> None:
        self.save_png = save_png
        self.dirpath = dirpath
        self.include_self = include_self
        self.written: list[Path] = []

    def _render(self, pl_module: pl.LightningModule) -> np.ndarray | None:
        return module_priors(pl_module, include_self=self.include_self)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Before Lightning restores a resumed run's checkpoint (the kernels are still the ones
        # built from the training keypoints, as in the original run), not at on_fit_start.
        # The initial priors are only written, not logged: the run's config already implies them.
        if stage != "fit" or not trainer.is_global_zero or self.save_png == "never":
            return
        grid = self._render(pl_module)
        if grid is not None:
            path = run_dir(trainer, self.dirpath) / "priors_init.png"
            self.written.append(write_png(path, grid))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        grid = self._render(pl_module)
        if grid is None:
            return
        path = run_dir(trainer, self.dirpath) / "priors.png"
        written = publish_image(trainer, "spatial/priors", grid, path, self.save_png)
        if written is not None:
            self.written.append(written)
