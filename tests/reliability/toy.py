"""A toy Lightning setup (milliseconds per epoch) that exercises the real resume machinery:
``epoch_sampler`` + per-sample RNGs, ``RunCheckpoint``, ``SafeCheckpointIO`` and the guards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from posehybrid.callbacks.checkpointing import ConfiguredLearningRate, LastCheckpoint, RunCheckpoint
from posehybrid.callbacks.guards import FiniteLossGuard, PreemptionCheckpoint
from posehybrid.utils.checkpoint import SafeCheckpointIO
from posehybrid.utils.resume import SharedEpoch, epoch_sampler, sample_rng

N, BATCH = 12, 3  # 4 training batches per epoch


class ToyData(Dataset):
    """Index -> (index, an 'augmentation' draw from the sample's RNG)."""

    def __init__(self, n: int = N) -> None:
        self.n = n
        self.seed: int | None = None
        self._epoch = SharedEpoch(0)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.set(epoch)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        assert self.seed is not None, "the training sampler must give the dataset its seed"
        jitter = sample_rng(self.seed, self._epoch.get(), index).normal()
        return {"x": torch.tensor([float(index), jitter]), "index": torch.tensor(index)}


class ToyDataModule(pl.LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        self.train_set, self.val_set = ToyData(), ToyData(4)
        self.val_set.seed = 0

    def train_dataloader(self) -> DataLoader:
        sampler = epoch_sampler(self.train_set, self.trainer, BATCH)
        return DataLoader(self.train_set, batch_size=BATCH, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=4)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


class ToyModule(pl.LightningModule):
    """Records what each optimiser step trained on; ``nan_at`` makes one step's loss NaN."""

    stage_name = "toy"

    def __init__(self, nan_at: int | None = None) -> None:
        super().__init__()
        self.net = torch.nn.Linear(2, 1)
        self.nan_at = nan_at
        self.seen: list[tuple[int, int, tuple[int, ...], float]] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = batch["x"]
        self.seen.append(
            (
                self.global_step,
                self.current_epoch,
                tuple(batch["index"].tolist()),
                float(x[:, 1].sum()),
            )
        )
        loss = (self.net(x) ** 2).mean()
        if self.nan_at is not None and self.global_step == self.nan_at:
            loss = loss * float("nan")
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val/score", -(self.net(batch["x"]) ** 2).mean())

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=0.05)


def toy_trainer(run_dir: Path, max_epochs: int = 3, extra: list | None = None) -> pl.Trainer:
    """A trainer wired like ``conf/trainer/default.yaml`` + ``conf/callbacks/default.yaml``."""
    ckpt = RunCheckpoint(
        dirpath=run_dir / "checkpoints", filename="best", monitor="val/score", mode="max",
        save_top_k=1, save_last=False, auto_insert_metric_name=False,
        enable_version_counter=False,
    )  # fmt: skip
    last = LastCheckpoint(dirpath=run_dir / "checkpoints")
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        deterministic=True,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[
            ckpt,
            last,
            ConfiguredLearningRate(),
            FiniteLossGuard(),
            PreemptionCheckpoint(),
            *(extra or []),
        ],
        plugins=[SafeCheckpointIO()],
    )
