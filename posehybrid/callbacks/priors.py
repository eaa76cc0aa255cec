"""The spatial model's pairwise priors as an image grid: ``priors_init.png`` when training starts
and ``priors.png`` (the learned kernels) when it ends, for the spatial and joint stages.

Kernel pixel ``c - d`` of edge (A, v) holds the weight of "A is displaced by d from v" (see
``models/spatial_model.py``), so a neighbour pair shows a blob off the centre, on the side
opposite the typical displacement of A from v; self edges are a central peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from posehybrid.callbacks.media import SavePng, colourise, publish_image, run_dir, write_png, zoom
from posehybrid.utils.io import atomic_write_bytes


def _short(name: str) -> str:
    """``l_shoulder`` -> ``Lsho``, ``head_top`` -> ``head``: edge labels must fit a panel (and a
    lower-case ``l`` reads as ``|`` in OpenCV's font)."""
    side, _, rest = name.partition("_")
    if rest and side in ("l", "r"):
        return f"{side.upper()}{rest[:3]}"
    return name[:4]


def _text(image: np.ndarray, text: str, xy: tuple[int, int], scale: float = 0.4) -> None:
    cv2.putText(image, text, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def strength(kernel: np.ndarray) -> float:
    """How much a kernel says about where A is: its peak above its median (0 for a flat one)."""
    return float(kernel.max() - np.median(kernel))


def colour_bar(width: int, vmax: float, gamma: float) -> np.ndarray:
    """(34, width, 3) strip: the colour scale shared by every panel, with value ticks."""
    bar_w = max(60, min(width - 20, 420))
    c = np.linspace(0.0, 1.0, bar_w)
    strip = np.full((34, width, 3), 255, np.uint8)
    strip[2:14, 10 : 10 + bar_w] = colourise(np.tile(c, (12, 1)), "viridis")
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = 10 + round(t * (bar_w - 1))
        strip[14:18, x] = 0
        value = vmax * t ** (1.0 / gamma)  # colour index t shows (value / vmax) ** gamma = t
        _text(strip, f"{value:.2g}", (max(0, min(x - 10, width - 40)), 30), 0.35)
    return strip


def select_pairs(
    kernels: np.ndarray,
    edges: Sequence[Sequence[int]],
    include_self: bool = False,
    max_sources: int | None = None,
) -> tuple[dict[int, list[int]], int]:
    """({target A: edge indices of its shown sources, strongest first}, number of pairs the
    graph has): what :func:`render_priors` draws."""
    pairs = [e for e, (a, v) in enumerate(edges) if include_self or a != v]
    by_target: dict[int, list[int]] = {}
    for e in pairs:
        by_target.setdefault(int(edges[e][0]), []).append(e)
    shown = {
        a: sorted(es, key=lambda e: -strength(kernels[e]))[: max_sources or None]
        for a, es in sorted(by_target.items())
    }
    return shown, len(pairs)


def render_priors(
    kernels: torch.Tensor | np.ndarray,
    edges: Sequence[Sequence[int]],
    joint_names: Sequence[str] | None = None,
    include_self: bool = False,
    max_sources: int | None = None,
    panel: int = 96,
    gamma: float = 0.5,
) -> np.ndarray:
    """(E, K, K) probability-space kernels -> one RGB figure: a row per target joint A, its
    source joints v left to right, strongest first (:func:`strength`).

    Every panel uses one colour scale (``(k / max over all shown kernels) ** gamma``; 0.5 keeps
    the low-mass tails of a displacement distribution visible), so a flat kernel looks flat; a
    colour bar gives the values, and the title says how many of the graph's pairs are shown
    (``max_sources`` per target; None: all). Self edges A|A (a delta) are left out unless
    ``include_self`` or the graph has nothing else.
    """
    k = kernels.detach().float().cpu().numpy() if isinstance(kernels, torch.Tensor) else kernels
    k = np.asarray(k, dtype=np.float64)
    shown, n_pairs = select_pairs(k, edges, include_self, max_sources)
    if not shown:  # a self-edges-only graph: show them rather than nothing
        return render_priors(kernels, edges, joint_names, True, max_sources, panel, gamma)
    names = list(joint_names) if joint_names else [str(i) for i in range(1 + max(map(max, edges)))]
    n_shown = sum(len(es) for es in shown.values())
    vmax = max(float(k[e].max()) for es in shown.values() for e in es) or 1.0
    factor = max(1, round(panel / k.shape[-1]))
    side, cap, pad, label_w = k.shape[-1] * factor, 14, 2, 56
    ncols = max(len(es) for es in shown.values())
    width = label_w + ncols * (side + pad) + pad
    rows = []
    for a, es in shown.items():
        row = np.full((cap + side + pad, width, 3), 255, np.uint8)
        _text(row, f"{_short(names[a])} <-", (4, cap + side // 2))
        for col, e in enumerate(es):
            x = label_w + col * (side + pad)
            img = zoom(colourise((k[e] / vmax) ** gamma, "viridis"), factor)
            row[cap : cap + side, x : x + side] = img
            _text(row, _short(names[int(edges[e][1])]), (x + 2, cap - 3), 0.35)
        rows.append(row)
    title = np.full((36, width, 3), 255, np.uint8)
    what = f"{n_shown} of {n_pairs} pairs" + ("" if n_shown == n_pairs else ", strongest")
    _text(title, f"spatial priors: row = target joint A, panels = source v ({what})", (4, 14))
    _text(
        title, "shared colour scale (value / max) ** 0.5; centre = no displacement", (4, 30), 0.35
    )
    return np.concatenate([title, *rows, colour_bar(width, vmax, gamma)], axis=0)


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
        max_sources: per target joint, the strongest sources shown (None: all pairs).
    """

    def __init__(
        self,
        save_png: SavePng = "always",
        dirpath: str | None = None,
        include_self: bool = False,
        max_sources: int | None = None,
    ) -> None:
        self.save_png = save_png
        self.dirpath = dirpath
        self.include_self = include_self
        self.max_sources = max_sources
        self.written: list[Path] = []

    def _render(self, pl_module: pl.LightningModule) -> np.ndarray | None:
        return module_priors(
            pl_module, include_self=self.include_self, max_sources=self.max_sources
        )

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Not at setup: callbacks' setup runs before the module's, which is where the spatial
        # stage builds its kernels from the training keypoints (a setup-time grid showed the
        # flat kernels of the constructor). On a resume the kernels here are the checkpoint's
        # trained ones, so the initial priors are the interrupted run's own grid, copied. The
        # initial priors are only written, not logged: the run's config already implies them.
        if not trainer.is_global_zero or self.save_png == "never":
            return
        path = run_dir(trainer, self.dirpath) / "priors_init.png"
        if trainer.ckpt_path:
            first = Path(trainer.ckpt_path).parent.parent / "priors_init.png"
            if first.is_file() and first != path:
                self.written.append(atomic_write_bytes(path, first.read_bytes()))
            return
        grid = self._render(pl_module)
        if grid is not None:
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
