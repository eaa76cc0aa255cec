"""The part-detector stage learns: on a tiny synthetic set with a fixed seed, the training loss
falls and PCK rises clearly within a bounded number of Lightning steps.

The set is small enough to memorise (16 images, no augmentation), so the thresholds can keep a
wide margin and the test is about the wiring (loss, gradients, optimiser, decode to original
pixels, PCK), not about generalisation, which ``make train`` measures.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from posehybrid.metrics.pck import PCK
from posehybrid.modules.base import to_original
from posehybrid.modules.part_detector import PartDetectorModule

REPO = Path(__file__).resolve().parents[2]
STEPS = 60


def _pck_and_loss(module: PartDetectorModule, loader) -> tuple[float, float]:
    metric = PCK(module.joint_set, thresholds=(0.2,))
    losses = []
    module.eval()
    with torch.no_grad():
        for batch in loader:
            maps = module.heatmaps(batch["image"])
            losses.append(float(module.loss(maps, batch)))
            coords, _ = module.decode(maps)
            metric.update(
                to_original(coords, batch["inv_affine"]),
                batch["keypoints_orig"],
                batch["annotated"],
            )
    module.train()
    return metric.summary(alphas=(0.2,))["pck@0.2"], sum(losses) / len(losses)


def test_part_detector_learns_a_tiny_set(tmp_path: Path) -> None:
    overrides = [
        f"paths.root_dir={REPO}",
        f"paths.data_dir={tmp_path}",
        "data.n_images=40",
        "data.val_size=4",
        "data.batch_size=8",
        "data.num_workers=0",
        "data.augment.enabled=false",
        "model.input_size=[64,64]",
        "model.heatmap_size=[16,16]",
        "model.spatial.kernel_size=31",
    ]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    pl.seed_everything(0, workers=True)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 16
    optimizer = instantiate(cfg.stage.module.optimizer)  # the stage's Adam, _partial_
    module = PartDetectorModule(
        joint_set=cfg.data.joint_set,
        model_cfg=OmegaConf.to_container(cfg.model, resolve=True),
        optimizer=optimizer,
    )
    loader = dm.train_dataloader()
    pck_before, loss_before = _pck_and_loss(module, loader)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, train_dataloaders=loader)
    assert trainer.global_step == STEPS
    pck_after, loss_after = _pck_and_loss(module, loader)
    assert loss_after < 0.5 * loss_before, (loss_before, loss_after)
    assert pck_before < 0.2, pck_before  # an untrained detector is near chance
    assert pck_after > pck_before + 0.3, (pck_before, pck_after)
