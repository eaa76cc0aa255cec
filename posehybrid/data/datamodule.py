"""``PoseDataModule``: one LightningDataModule for every dataset, configured by Hydra.

The dataset-specific part is the ``source`` (``posehybrid.data.sources``), chosen in each
``conf/data/*.yaml`` by ``_target_``. The DataModule carves a validation split from the
source's training records with a fixed seed and builds ``PoseDataset``s and loaders.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from posehybrid.data.dataset import PoseDataset
from posehybrid.data.folds import kfold_split
from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.records import DataError, PoseRecord
from posehybrid.data.skeleton import JointSet, get_joint_set
from posehybrid.data.sources import (  # re-exported: configs may name either module
    FLICSource,
    LSPetSource,
    LSPFullSource,
    LSPSource,
    RecordSource,
    SyntheticFLICSource,
    SyntheticSource,
)
from posehybrid.utils.resume import epoch_sampler

__all__ = [
    "FLICSource",
    "LSPFullSource",
    "LSPSource",
    "LSPetSource",
    "PoseDataModule",
    "RecordSource",
    "SyntheticFLICSource",
    "SyntheticSource",
]

log = logging.getLogger(__name__)


class PoseDataModule(L.LightningDataModule):
    """Train/val/test pose data for one dataset.

    Args:
        name: dataset name for logs, summaries and metrics files (``"lsp"``, ``"synthetic"``).
        root: dataset folder (for ``lsp_full``: the parent of ``lsp/`` and ``lspet/``).
        source: a ``RecordSource`` (Hydra instantiates it from ``_target_``).
        joint_set: joint-set name (``skeleton.get_joint_set``) or a ``JointSet``.
        codec: the model's ``HeatmapCodec`` (input size, heat-map size, target sigma), the
            same object the stage module decodes with; None for a DataModule that only lists its
            records (``records``, ``summary``; provenance checks).
        batch_size: per device. num_workers: loader workers per loader.
        val_fraction: share of the training records held out for validation, or
        val_size: an exact count (overrides ``val_fraction`` when not None).
        split_seed: seed of the validation carve-out (fixed: the same split every run) and
            of the cross-validation folds.
        cv_folds: None, or K: cross-validation inside the source's training records
            (``posehybrid.data.folds``): fold ``cv_fold`` tests, the other K-1 train.
        train_size: None (all), or N: train on N of the training records left after the
            validation carve-out, a fixed subset by ``split_seed`` (learning curves; the
            validation and test splits stay those of the whole set).
        augment: ``AugmentConfig`` fields (training only).
        target_weight: ``"visible"`` or ``"annotated"`` (see ``PoseDataset``).
        labels: FLIC ``pc``/``oc`` (the source reads it; kept here for summaries/metrics).
        cache_images: keep decoded images in memory.
        box_scale: FLIC crop size as a multiple of the torso box.
        train_crop_padding: training crop of records without a torso box, as a multiple of
            the annotated joints' box (``PoseDataset``); None trains on the whole image.
        num_joints: optional check against the joint set (model configs read it).
        extra: dataset knobs only read by the ``source`` through interpolation (e.g.
            ``n_images``, ``lsp_root``); kept for ``summary``.
    """

    def __init__(
        self,
        name: str,
        root: str | os.PathLike,
        source: RecordSource,
        joint_set: str | JointSet = "lsp",
        codec: HeatmapCodec | None = None,
        batch_size: int = 32,
        num_workers: int = 1,
        val_fraction: float = 0.1,
        val_size: int | None = None,
        split_seed: int = 0,
        cv_folds: int | None = None,
        cv_fold: int = 0,
        train_size: int | None = None,
        augment: Mapping | None = None,
        target_weight: str = "visible",
        labels: str | None = None,
        cache_images: bool = False,
        box_scale: float = 3.0,
        train_crop_padding: float | None = None,
        num_joints: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__()
        self.name = str(name)
        self.root = Path(root).expanduser()
        self.source = source
        self.joint_set = get_joint_set(joint_set) if isinstance(joint_set, str) else joint_set
        if num_joints is not None and int(num_joints) != len(self.joint_set):
            raise ValueError(
                f"data.num_joints={num_joints} but joint set {self.joint_set.name!r} has "
                f"{len(self.joint_set)} joints"
            )
        self._codec = codec
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.val_fraction = float(val_fraction)
        self.val_size = None if val_size is None else int(val_size)
        self.split_seed = int(split_seed)
        self.cv_folds = None if cv_folds is None else int(cv_folds)
        self.cv_fold = int(cv_fold)
        self.train_size = None if train_size is None else int(train_size)
        self.augment = dict(augment) if augment is not None else None
        self.target_weight = target_weight
        self.labels = labels
        self.cache_images = bool(cache_images)
        self.box_scale = float(box_scale)
        self.train_crop_padding = None if train_crop_padding is None else float(train_crop_padding)
        self.extra = dict(extra)
        self._records: dict[str, list[PoseRecord]] | None = None
        self.datasets: dict[str, PoseDataset] = {}

    @property
    def num_joints(self) -> int:
        return len(self.joint_set)

    @property
    def codec(self) -> HeatmapCodec:
        if self._codec is None:
            raise ValueError(
                f"data={self.name}: built without a codec (records only); pass the model's "
                "codec: instantiate(cfg.data, codec=module.codec)"
            )
        return self._codec

    @property
    def input_size(self) -> tuple[int, int]:
        return self.codec.input_size

    # ------------------------------------------------------------------ records
    def prepare_data(self) -> None:
        """Generate synthetic data (rank 0 only); real datasets need nothing."""
        self.source.prepare(self.root)

    def records(self) -> dict[str, list[PoseRecord]]:
        """``{"train", "val", "test"}`` -> records, loaded once and split deterministically."""
        if self._records is None:
            train = self.source.load(self.root, "train")
            if self.cv_folds is None:
                test = self.source.load(self.root, "test")
            else:
                train, test = kfold_split(train, self.cv_folds, self.cv_fold, self.split_seed)
            n = len(train)
            n_val = self.val_size if self.val_size is not None else round(self.val_fraction * n)
            if self.val_size is None and self.val_fraction > 0 and n >= 2:
                n_val = max(n_val, 1)
            n_val = min(max(n_val, 0), n)
            order = np.random.default_rng(self.split_seed).permutation(n)
            val_idx = set(order[:n_val].tolist())
            # Keep file order inside each split (reproducible, readable indices).
            self._records = {
                "train": [r for i, r in enumerate(train) if i not in val_idx],
                "val": [r for i, r in enumerate(train) if i in val_idx],
                "test": test,
            }
            if self.train_size is not None:
                self._records["train"] = self._subset(self._records["train"])
            for split in ("train", "test"):  # val may be empty on purpose (val_size=0)
                if not self._records[split]:
                    raise DataError(
                        f"{self.name}: the {split!r} split is empty (records from "
                        f"{self.source.describe(self.root)}: train={n}, test={len(test)}, "
                        f"val carved from train={n_val}); expected at least one example"
                    )
            self._check_joints(train + test)
        return self._records

    def _subset(self, train: list[PoseRecord]) -> list[PoseRecord]:
        """``train_size`` of the ``train`` records, in file order: the first of one fixed
        permutation by ``split_seed``, so a smaller subset is inside every larger one."""
        if not 0 < self.train_size <= len(train):
            raise DataError(
                f"{self.name}: data.train_size={self.train_size}, but the training split has "
                f"{len(train)} records after validation; expected 1 to {len(train)}"
            )
        order = np.random.default_rng([self.split_seed, 1]).permutation(len(train))
        keep = set(order[: self.train_size].tolist())
        return [r for i, r in enumerate(train) if i in keep]

    def _check_joints(self, records: list[PoseRecord]) -> None:
        for rec in records[:1]:
            if rec.keypoints.shape[0] != len(self.joint_set):
                raise DataError(
                    f"{self.name}: records from {self.source.describe(self.root)} have "
                    f"{rec.keypoints.shape[0]} joints, joint set {self.joint_set.name!r} "
                    f"expects {len(self.joint_set)}"
                )

    def make_dataset(self, split: str, train: bool | None = None) -> PoseDataset:
        """A ``PoseDataset`` for ``split``; augmentation only for ``train`` (default: split)."""
        return PoseDataset(
            self.records()[split],
            self.joint_set,
            self.codec,
            train=(split == "train") if train is None else train,
            augment=self.augment,
            target_weight=self.target_weight,
            cache_images=self.cache_images,
            box_scale=self.box_scale,
            train_crop_padding=self.train_crop_padding,
        )

    def setup(self, stage: str | None = None) -> None:
        needed = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
        }.get(stage or "", ("train", "val", "test"))
        for split in needed:
            if split not in self.datasets:
                self.datasets[split] = self.make_dataset(split)

    # ------------------------------------------------------------------ loaders
    def _pin(self) -> bool:
        if not torch.cuda.is_available():
            return False
        trainer = getattr(self, "trainer", None)
        return trainer is None or trainer.strategy.root_device.type == "cuda"

    def _loader(self, split: str, shuffle: bool, drop_last: bool) -> DataLoader:
        if split not in self.datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        ds = self.datasets[split]
        if drop_last and len(ds) < self.batch_size:
            log.warning(
                "%s: train split has %d examples < batch_size %d; keeping the partial batch",
                self.name,
                len(ds),
                self.batch_size,
            )
            drop_last = False
        sampler = None
        if shuffle and getattr(self, "trainer", None) is not None:
            # Shuffle + augmentation keyed on (seed, epoch, index): a resumed fit replays the
            # uninterrupted run exactly (posehybrid.utils.resume), under DDP too.
            sampler = epoch_sampler(ds, self.trainer, self.batch_size)
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self._pin(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False, drop_last=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, drop_last=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, drop_last=False)

    # ------------------------------------------------------------------ for models / CLI
    def train_keypoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Training keypoints for the spatial model's prior histograms.

        Returns:
            kps (N,J,2) float32 in input px under the evaluation geometry (no augmentation),
            valid (N,J) bool (annotated).
        """
        ds = self.datasets.get("train") or self.make_dataset("train", train=False)
        return ds.input_keypoints()

    def eval_geometry(self, split: str = "test") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(inv_affine (N,2,3), keypoints_orig (N,J,2), annotated (N,J))`` of ``split`` under
        the evaluation geometry, without decoding images (``PoseDataset.eval_geometry``)."""
        return self.make_dataset(split, train=False).eval_geometry()

    def summary(self) -> dict[str, Any]:
        """Counts and label statistics of all splits (what ``python -m posehybrid.data`` prints)."""
        recs = self.records()
        everything = [r for split in ("train", "val", "test") for r in recs[split]]
        vis = np.stack([r.visible & r.annotated for r in everything]) if everything else None
        return {
            "dataset": self.name,
            "root": self.source.describe(self.root),
            "splits": {k: len(recs[k]) for k in ("train", "val", "test")},
            "joints": list(self.joint_set.joints),
            "visible_fraction": float(vis.mean()) if vis is not None else 0.0,
        }
