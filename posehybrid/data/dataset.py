"""``PoseDataset``: records -> the batch dict of docs/architecture.md (one sample at a time)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from posehybrid.data.geometry import (
    apply_affine,
    crop_affine,
    invert_affine,
    joints_box_affine,
    prescale,
)
from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.images import image_size, read_image
from posehybrid.data.records import PoseRecord
from posehybrid.data.skeleton import JointSet
from posehybrid.data.transforms import AugmentConfig, PoseTransform
from posehybrid.utils.resume import SharedEpoch, sample_rng

TARGET_WEIGHTS = ("visible", "annotated")


class PoseDataset(Dataset):
    """Pose samples with Gaussian heat-map targets.

    Args:
        records: the split's examples.
        joint_set: joint names / flip pairs (must match the records' J).
        codec: heat-map codec; its ``input_size`` is the network input size.
        train: random augmentation on (evaluation: deterministic base geometry only).
        augment: ``AugmentConfig`` or dict of its fields (used when ``train``).
        target_weight: which joints train the detector: ``"visible"`` (annotated and not
            occluded) or ``"annotated"`` (occluded joints too). Joints that leave the heat-map
            by more than 3 sigma always get weight 0.
        cache_images: keep decoded images in memory ("decode once"; per worker process).
            Images that the geometry shrinks a lot are cached prescaled (see ``prescale``).
        box_scale: FLIC crop size as a multiple of the torso box.
        train_crop_padding: training crop of records without a torso box (LSP, LSPet): a
            square this many times the longer side of the annotated joints' box, around its
            centre (``geometry.joints_box_affine``), before augmentation. None: train on the
            evaluation geometry (the whole image). Evaluation never uses it.
        prescale_margin: stored resolution relative to the input scale, room for zoom-in.

    Each item is a dict: image (3,H,W) float32 [0,1], heatmaps (J,h,w) float32, target_weight
    (J,) float32, keypoints (J,2) float32 input px, keypoints_orig (J,2) float32 original px,
    visible (J,) bool, annotated (J,) bool, inv_affine (2,3) float32, index () int64. For a
    flipped training sample every per-joint array is in the swapped label order, so
    ``inv_affine @ keypoints == keypoints_orig`` holds for every sample.

    Randomness: with ``seed`` set (the DataModule's training sampler sets it, see
    ``posehybrid.utils.resume``) every augmentation is drawn from ``sample_rng(seed, epoch,
    index)``, so a resumed run replays the uninterrupted run's augmentations exactly and the
    result does not depend on ``num_workers``. Without it, one RNG per process.
    """

    def __init__(
        self,
        records: Sequence[PoseRecord],
        joint_set: JointSet,
        codec: HeatmapCodec,
        train: bool = False,
        augment: AugmentConfig | Mapping | None = None,
        target_weight: str = "visible",
        cache_images: bool = False,
        box_scale: float = 3.0,
        train_crop_padding: float | None = None,
        prescale_margin: float = 1.5,
    ) -> None:
        if target_weight not in TARGET_WEIGHTS:
            raise ValueError(
                f"target_weight must be one of {TARGET_WEIGHTS}, got {target_weight!r}"
            )
        self.records = list(records)
        for rec in self.records[:1]:
            if rec.keypoints.shape != (len(joint_set), 2):
                raise ValueError(
                    f"records have keypoints {rec.keypoints.shape}, joint set {joint_set.name!r} "
                    f"expects ({len(joint_set)}, 2)"
                )
        self.joint_set = joint_set
        self.codec = codec
        self.input_size = codec.input_size
        self.train = train
        self.target_weight = target_weight
        self.cache_images = cache_images
        self.box_scale = box_scale
        self.train_crop_padding = train_crop_padding
        self.prescale_margin = prescale_margin
        self.transform = PoseTransform(self.input_size, joint_set, train=train, augment=augment)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._rng: np.random.Generator | None = None
        self._pid: int | None = None
        self.seed: int | None = None  # set: per-sample RNGs keyed on (seed, epoch, index)
        self._epoch = SharedEpoch(0)  # shared memory: persistent workers see set_epoch too

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next samples belong to (called by ``EpochSampler``)."""
        self._epoch.set(epoch)

    def __len__(self) -> int:
        return len(self.records)

    # ------------------------------------------------------------------ geometry
    def base_affine(self, index: int, size: Sequence[int] | None = None) -> np.ndarray:
        """(2,3) evaluation geometry of record ``index`` (original px -> input px).

        The image size comes from ``size``, the record, or the file header (no decode).
        """
        rec = self.records[index]
        if rec.torso_box is None and size is None:
            size = rec.image_size or image_size(rec.image_path)
        return crop_affine(rec, self.input_size, size, self.box_scale)

    def input_keypoints(self) -> tuple[np.ndarray, np.ndarray]:
        """All records' keypoints under the evaluation geometry.

        Returns:
            kps (N,J,2) float32 input px, annotated (N,J) bool.
        """
        j = len(self.joint_set)
        kps = np.zeros((len(self.records), j, 2), np.float32)
        ann = np.zeros((len(self.records), j), bool)
        for i, rec in enumerate(self.records):
            kps[i] = apply_affine(self.base_affine(i), rec.keypoints)
            ann[i] = rec.annotated & np.isfinite(rec.keypoints).all(axis=1)
        return np.nan_to_num(kps), ann

    def eval_geometry(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What scoring needs of every record, without decoding an image.

        Returns:
            inv_affine (N,2,3) float64 input px -> original px (evaluation geometry),
            keypoints (N,J,2) float32 original px, annotated (N,J) bool: the ``inv_affine``,
            ``keypoints_orig`` and ``annotated`` of the un-augmented samples.
        """
        inv = np.stack([invert_affine(self.base_affine(i)) for i in range(len(self.records))])
        kps = np.stack([np.nan_to_num(r.keypoints).astype(np.float32) for r in self.records])
        ann = np.stack([r.annotated & np.isfinite(r.keypoints).all(axis=1) for r in self.records])
        return inv, kps, ann

    def train_affine(self, index: int, base: np.ndarray) -> np.ndarray:
        """The geometry augmentation starts from: the joints' box crop for training records
        without a torso box when ``train_crop_padding`` is set, else ``base``."""
        rec = self.records[index]
        if not self.train or self.train_crop_padding is None or rec.torso_box is not None:
            return base
        crop = joints_box_affine(
            rec.keypoints, rec.annotated, self.input_size, self.train_crop_padding
        )
        return base if crop is None else crop

    # ------------------------------------------------------------------ loading
    def _worker_setup(self) -> None:
        """Per-process RNG (distinct per DataLoader worker, reproducible under a fixed seed)."""
        self._pid = os.getpid()
        seed = torch.initial_seed() % (2**63)  # main: the global seed; worker: base + id
        self._rng = np.random.default_rng(seed)
        self.transform.seed(int(seed % (2**32)))
        # No cv2.setNumThreads() here: in a forked worker it can hang forever joining the
        # parent's (no longer existing) OpenCV pool threads. Per-sample ops are tiny anyway.

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stored image, original->stored affine, base affine) for one record."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit
        image = read_image(self.records[index].image_path)
        h, w = image.shape[:2]
        base = self.train_affine(index, self.base_affine(index, (w, h)))
        stored_img, stored = prescale(image, base, self.prescale_margin)
        out = (stored_img, stored, base)
        if self.cache_images:
            self._cache[index] = out
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._pid != os.getpid():
            self._worker_setup()
        rec = self.records[index]
        image, stored, base = self._load(index)
        rng = self._rng
        if self.train and self.seed is not None:
            rng = sample_rng(self.seed, self._epoch.get(), index)
            # albumentations keeps its own generator: reseed it from the sample's too.
            self.transform.seed(int(rng.integers(2**32)))
        res = self.transform(image, rec.keypoints, base, stored, rng)
        perm = res.perm
        visible = rec.visible[perm]
        annotated = rec.annotated[perm] & np.isfinite(rec.keypoints[perm]).all(axis=1)
        use = visible if self.target_weight == "visible" else annotated
        heatmaps, weight = self.codec.encode(res.keypoints, use & annotated)
        # HWC uint8 -> CHW float in numpy: a small torch op per sample costs more in overhead.
        img = res.image.transpose(2, 0, 1).astype(np.float32)
        img *= np.float32(1.0 / 255.0)
        return {
            "image": torch.from_numpy(img),
            "heatmaps": torch.from_numpy(heatmaps),
            "target_weight": torch.from_numpy(weight),
            "keypoints": torch.from_numpy(np.nan_to_num(res.keypoints)),
            "keypoints_orig": torch.from_numpy(
                np.nan_to_num(rec.keypoints[perm]).astype(np.float32)
            ),
            "visible": torch.from_numpy(visible & annotated),
            "annotated": torch.from_numpy(annotated),
            "inv_affine": torch.from_numpy(res.inv_affine.astype(np.float32)),
            "index": torch.tensor(index, dtype=torch.int64),
        }
