"""Image callbacks: prediction grids of fixed validation images and the spatial priors, sent to
W&B / TensorBoard or, for csv/none, written as PNGs into the run directory."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from omegaconf import OmegaConf
from PIL import Image

from posehybrid.callbacks.media import colourise
from posehybrid.callbacks.priors import PriorsCallback, module_priors, render_priors
from posehybrid.callbacks.visualise import VisualiseCallback, fixed_indices, spatial_map
from posehybrid.modules.load import load_module
from tests.workflow.conftest import TinyPipeline


@pytest.fixture(scope="module")
def spatial_setup(tiny_pipeline: TinyPipeline):
    """The tiny pipeline's spatial module and a datamodule built from the run's own config."""
    run = tiny_pipeline.run("spatial")
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    dm = instantiate(cfg.data, codec=instantiate(cfg.model.codec))
    dm.setup("fit")
    return load_module(run / "checkpoints" / "best.ckpt"), dm


def fake_trainer(dm, root: Path, loggers: list, epoch: int = 0) -> SimpleNamespace:
    """What the callbacks read from a Trainer."""
    return SimpleNamespace(
        sanity_checking=False,
        is_global_zero=True,
        current_epoch=epoch,
        max_epochs=-1,
        max_steps=30,
        global_step=10 * epoch,
        loggers=loggers,
        datamodule=dm,
        default_root_dir=str(root),
        val_dataloaders=None,
        ckpt_path=None,
    )


def test_fixed_indices_spread_and_stay_fixed() -> None:
    assert fixed_indices(100, 4) == [0, 33, 66, 99]
    assert fixed_indices(3, 8) == [0, 1, 2]
    assert fixed_indices(0, 8) == []


def test_spatial_map_peaks_at_each_joint() -> None:
    logits = torch.full((2, 8, 8), -10.0)
    logits[0, 1, 2] = 5.0
    logits[1, 6, 7] = 5.0
    m = spatial_map(logits)
    assert m.shape == (8, 8) and m[1, 2] == pytest.approx(1.0) and m[6, 7] == pytest.approx(1.0)


def test_csv_run_gets_png_grids_of_the_same_images(spatial_setup, tmp_path: Path) -> None:
    module, dm = spatial_setup
    cb = VisualiseCallback(num_images=4)
    for epoch in (0, 1):
        cb.on_validation_epoch_end(fake_trainer(dm, tmp_path, [CSVLogger(tmp_path)], epoch), module)
    pngs = sorted((tmp_path / "visualisations").glob("step_*.png"))
    assert [p.name for p in pngs] == ["step_000000.png", "step_000010.png"]
    grid = np.asarray(Image.open(pngs[0]))
    n_val = len(dm.datasets["val"])
    rows = min(4, n_val)
    # 4 panels (truth, prediction, detector, spatial) of 128 px + caption strip, per example
    assert grid.shape[1] == 4 * 128 + 5 * 2
    assert grid.shape[0] == rows * (128 + 12) + (rows + 1) * 2
    batch = cb.fixed_batch(SimpleNamespace(datamodule=dm))
    assert batch["index"].tolist() == fixed_indices(n_val, 4)


def test_image_loggers_get_the_grid_and_no_png(spatial_setup, tmp_path: Path) -> None:
    module, dm = spatial_setup
    wandb_lg, tb_lg = MagicMock(spec=WandbLogger), MagicMock(spec=TensorBoardLogger)
    cb = VisualiseCallback(num_images=2)
    cb.on_validation_epoch_end(fake_trainer(dm, tmp_path, [wandb_lg, tb_lg], 2), module)
    wandb_lg.log_image.assert_called_once()
    assert wandb_lg.log_image.call_args.kwargs["key"] == "val/predictions"
    tb_lg.experiment.add_image.assert_called_once()
    assert tb_lg.experiment.add_image.call_args.kwargs["dataformats"] == "HWC"
    assert not (tmp_path / "visualisations").exists()


def test_priors_png_written_and_logged(spatial_setup, tmp_path: Path) -> None:
    module, dm = spatial_setup
    wandb_lg = MagicMock(spec=WandbLogger)
    cb = PriorsCallback()
    trainer = fake_trainer(dm, tmp_path, [wandb_lg])
    cb.on_fit_start(trainer, module)
    cb.on_fit_end(trainer, module)
    assert (tmp_path / "priors_init.png").is_file() and (tmp_path / "priors.png").is_file()
    assert wandb_lg.log_image.call_args.kwargs["key"] == "spatial/priors"


def test_priors_init_png_shows_the_kernels_built_from_the_training_keypoints(
    spatial_setup, tiny_pipeline: TinyPipeline
) -> None:
    # The spatial stage builds its kernels in the module's setup, after the callbacks' setup:
    # a grid written there showed the constructor's flat kernels instead.
    shared, dm = spatial_setup
    module = copy.deepcopy(shared)  # the fixture's module is shared by the other tests
    module.init_priors(*dm.train_keypoints())
    expected = module_priors(module)
    written = np.asarray(
        Image.open(tiny_pipeline.run("spatial") / "priors_init.png").convert("RGB")
    )
    assert written.shape == expected.shape
    assert np.array_equal(written, expected)
    with torch.no_grad():
        module.spatial.init_kernels(torch.ones_like(module.spatial.kernels()))  # flat
    assert not np.array_equal(written, module_priors(module))


def test_render_priors_a_row_per_target_on_one_colour_scale() -> None:
    k = 15
    kernels = np.full((3, k, k), 0.1)  # (0,1): flat
    kernels[0] = 0.0
    kernels[0, 7, 7] = 1.0  # the self edge: a delta
    kernels[2, 3, 10] = 2.0  # (1,0): a displaced mode
    grid = render_priors(kernels, [(0, 0), (0, 1), (1, 0)], ["l_wrist", "l_elbow"], panel=90)
    side = 90  # zoomed to the panel size: 15 px x 6
    # title, one row per target joint (self edge left out), colour bar
    assert grid.shape == (36 + 2 * (14 + side + 2) + 34, 56 + (side + 2) + 2, 3)
    flat = grid[36 + 14 : 36 + 14 + side, 56 : 56 + side]
    peaked = grid[36 + 106 + 14 : 36 + 106 + 14 + side, 56 : 56 + side]
    assert len(np.unique(flat.reshape(-1, 3), axis=0)) == 1  # a flat kernel looks flat ...
    top = colourise(np.ones((1, 1)), "viridis")[0, 0]
    assert (peaked == top).all(-1).any() and not (flat == top).all(-1).any()  # ... and dim
    with_self = render_priors(kernels, [(0, 0), (0, 1), (1, 0)], include_self=True, panel=90)
    assert with_self.shape[1] == 56 + 2 * (side + 2) + 2  # A=0 has two sources now


def test_select_pairs_counts_and_orders_the_full_graph() -> None:
    from posehybrid.callbacks.priors import select_pairs, strength

    rng = np.random.default_rng(0)
    edges = [(a, v) for a in range(14) for v in range(14)]  # the full graph: 196 with self
    kernels = rng.random((len(edges), 9, 9)) ** 4
    shown, total = select_pairs(kernels, edges)
    assert total == 182 and sum(map(len, shown.values())) == 182 and len(shown) == 14
    top, total = select_pairs(kernels, edges, max_sources=4)
    assert total == 182 and all(len(es) == 4 for es in top.values())
    for a, es in top.items():
        assert all(edges[e][0] == a and edges[e][1] != a for e in es)
        ranked = sorted(shown[a], key=lambda e: -strength(kernels[e]))
        assert es == ranked[:4]


def test_pipeline_runs_hold_priors_and_wandb_images(tiny_pipeline: TinyPipeline) -> None:
    for stage in ("spatial", "joint"):
        run = tiny_pipeline.run(stage)
        assert (run / "priors.png").is_file() and (run / "priors_init.png").is_file()
    detector = tiny_pipeline.run("part_detector")
    assert not (detector / "priors.png").exists()  # no spatial model, no priors
    # W&B shows the grids, so no PNG copies (save_png=auto); the images are in the W&B run
    media = list((detector / "wandb").glob("offline-run-*/files/media/images/val/*.png"))
    assert media and not (detector / "visualisations").exists()
