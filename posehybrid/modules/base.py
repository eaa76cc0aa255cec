"""What the three stage modules share: the models Hydra built and passed in, decoding to
original pixels, one PCK per split, and the checkpoint block that names the stage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from posehybrid.data.heatmaps import HeatmapCodec
from posehybrid.data.skeleton import JointSet, get_joint_set
from posehybrid.metrics.candidates import CandidateRecall, peak_candidates
from posehybrid.metrics.error_types import ErrorTypes
from posehybrid.metrics.pck import PCK
from posehybrid.metrics.per_image import PerImagePCK
from posehybrid.modules.confidence import confidence
from posehybrid.modules.tta import NO_TTA, TTA, tta_heatmaps


def to_original(coords: torch.Tensor, inv_affine: torch.Tensor) -> torch.Tensor:
    """Map (B, J, 2) input-pixel coordinates to original image pixels with (B, 2, 3) affines.

    Always at least float32, also under bf16 autocast (test and predict steps at
    ``bf16-mixed``), which would run the matmul in bf16: its 8-bit mantissa rounds a 300 px
    coordinate to a multiple of 2 px, a 700 px one to 4 px."""
    dtype = torch.promote_types(coords.dtype, torch.float32)
    with torch.autocast(device_type=coords.device.type, enabled=False):
        c, a = coords.to(dtype), inv_affine.to(dtype)
        return c @ a[:, :, :2].transpose(1, 2) + a[:, None, :, 2]


# Constructor arguments that are objects, not settings: never stored as hyper-parameters (a
# checkpoint is rebuilt from the model config stored beside them; see modules/load.py).
OBJECT_ARGS = ("codec", "detector", "spatial", "optimizer", "scheduler", "loss")


class PoseModule(pl.LightningModule):
    """Base LightningModule. Subclasses set ``stage_name`` and implement ``heatmaps`` and
    ``loss``.

    Args:
        joint_set: joint-set name (``"lsp"``, ``"flic"``), stored in checkpoints.
        codec: the one heat-map codec (``model.codec``); the DataModule gets this same object.
        detector: the part detector, (B,3,H,W) -> (B,J,h,w) (``model.part_detector``).
        optimizer / scheduler: Hydra ``_partial_`` callables, or None when built for inference.
        pck_thresholds: the PCK curve's α values.

    Every other constructor argument (of this class and the stage subclasses) is saved as a
    hyper-parameter (``save_hyperparameters``; plain containers, so checkpoints load with
    ``weights_only=True``); the objects in :data:`OBJECT_ARGS` are not.
    """

    stage_name: str = "base"

    def __init__(
        self,
        joint_set: str,
        codec: HeatmapCodec,
        detector: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        pck_thresholds: list[float] | None = None,
    ) -> None:
        super().__init__()
        # collects the stage subclasses' arguments too (Lightning walks the __init__ frames)
        self.save_hyperparameters(ignore=list(OBJECT_ARGS), logger=False)
        self.joint_set: JointSet = get_joint_set(joint_set)
        self.codec = codec
        self.detector = detector
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        kwargs = {} if pck_thresholds is None else {"thresholds": pck_thresholds}
        self.val_pck = PCK(self.joint_set, **kwargs)
        # per image too: the ablation's paired intervals (metrics/paired.py)
        self.test_pck = PerImagePCK(self.joint_set, **kwargs)
        # which mistakes the wrong joints are (jitter, left/right inversion, miss) at PCK@0.2
        self.test_errors = ErrorTypes(self.joint_set)
        self.test_summary: dict[str, Any] | None = None
        self.test_per_image: dict[str, Any] | None = None  # PerImagePCK.per_image()
        self.test_curve: dict[str, Any] | None = None
        # Test-time options (eval and predict set them before trainer.test/predict): the
        # augmentation, and whether to keep the per-sample test predictions for figures.
        self.tta: TTA = NO_TTA
        self.keep_test_outputs = False
        self.test_outputs: dict[str, torch.Tensor] | None = None
        self._test_parts: list[dict[str, torch.Tensor]] = []
        self.candidates: CandidateRecall | None = None  # track_candidates (eval) sets it

    # --- what subclasses provide -------------------------------------------------------------
    def heatmaps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B,3,H,W) -> {"detector": (B,J,h,w), optionally "spatial": (B,J,h,w) log-space}."""
        raise NotImplementedError

    # --- shared behaviour --------------------------------------------------------------------
    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heatmaps(image)

    def decode(self, maps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Heat-maps -> (coords (B,J,2) in input px, scores (B,J))."""
        return self.codec.decode(maps["detector"])

    def predict_keypoints(
        self, image: torch.Tensor, inv_affine: torch.Tensor, tta: TTA | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The inference path (``predict``, the Python API): (B,3,H,W) images + (B,2,3) inverse
        affines -> keypoints (B,J,2) in original px, raw scores (B,J) (the decoded map's value
        at the peak: log-space for the spatial stages) and :func:`confidence` (B,J), with
        ``tta`` (default: the module's ``tta``)."""
        keypoints, scores, maps = self._keypoints(image, inv_affine, tta)
        return keypoints, scores, confidence(self, maps)

    def _keypoints(
        self, image: torch.Tensor, inv_affine: torch.Tensor, tta: TTA | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Keypoints (B,J,2) original px, raw scores (B,J) and the maps they came from."""
        maps = tta_heatmaps(self, image, self.tta if tta is None else tta)
        coords, scores = self.decode(maps)
        return to_original(coords, inv_affine.to(coords)), scores, maps

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        """A batch of :class:`posehybrid.data.image_files.ImageFiles` -> keypoints (B,J,2)
        original px, raw_score and confidence (B,J), and the batch's ``index`` and ``ok``."""
        kps, raw, conf = self.predict_keypoints(batch["image"], batch["inv_affine"])
        return {"keypoints": kps, "raw_score": raw, "confidence": conf, "index": batch["index"],
                "ok": batch["ok"]}  # fmt: skip

    def loss(self, maps: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The stage's training loss on the output of :meth:`heatmaps`."""
        raise NotImplementedError

    def batch_heatmaps(self, batch: dict[str, torch.Tensor], split: str) -> dict[str, torch.Tensor]:
        """:meth:`heatmaps` for a batch of ``split``; a hook so stages can cache work."""
        return self.heatmaps(batch["image"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.batch_heatmaps(batch, "train"), batch)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def _eval_step(
        self, batch: dict[str, torch.Tensor], metric: PCK, split: str
    ) -> dict[str, torch.Tensor]:
        maps = self.batch_heatmaps(batch, split)
        coords, _ = self.decode(maps)
        metric.update(
            to_original(coords, batch["inv_affine"]), batch["keypoints_orig"], batch["annotated"]
        )
        return maps

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        maps = self._eval_step(batch, self.val_pck, "val")
        self.log("val/loss", self.loss(maps, batch), on_epoch=True, on_step=False)

    def on_test_epoch_start(self) -> None:
        self._test_parts = []

    def track_candidates(self, ks: Sequence[int]) -> None:
        """Also score, in the next tests, the best of each map's top-k peaks for every k in
        ``ks`` (``metrics/candidates.py``): ``test_summary["candidates"]``."""
        self.candidates = CandidateRecall(self.joint_set, ("detector", "spatial"), ks)

    def _update_candidates(
        self,
        candidates: CandidateRecall,
        maps: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
    ) -> None:
        """Each map's top-k peaks (B, J, k, 2), in original px through the batch's inverse
        affines, into ``candidates``."""
        k = max(candidates.ks)
        for name in candidates.maps:
            if name not in maps:
                continue
            uv, valid = peak_candidates(maps[name], k)  # (B, J, k, 2) heat-map px
            b, j = uv.shape[:2]
            xy = to_original(self.codec.to_input(uv).flatten(1, 2), batch["inv_affine"])
            gt, mask = batch["keypoints_orig"], batch["annotated"]
            candidates.update(name, xy.view(b, j, k, 2), valid, gt, mask)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """PCK of one test batch through the inference path's maps and decode, with ``tta`` (identity:
        the validation path's maps and decode);
        with ``keep_test_outputs`` the batch's predictions are kept for ``test_outputs``."""
        pred, _, maps = self._keypoints(batch["image"], batch["inv_affine"])  # no confidence
        self.test_pck.update(pred, batch["keypoints_orig"], batch["annotated"], batch["index"])
        self.test_errors.update(pred, batch["keypoints_orig"], batch["annotated"], batch["visible"])
        if self.candidates is not None:
            self._update_candidates(self.candidates, maps, batch)
        if self.keep_test_outputs:
            kept = {"pred": pred, "gt": batch["keypoints_orig"], "mask": batch["annotated"],
                    "visible": batch["visible"], "index": batch["index"]}  # fmt: skip
            self._test_parts.append({k: v.detach().cpu() for k, v in kept.items()})

    def _log_summary(self, prefix: str, summary: dict[str, Any]) -> None:
        def num(v: float | None) -> float:
            return float("nan") if v is None else float(v)

        self.log_dict(
            {
                f"{prefix}/pck@0.1": num(summary["pck@0.1"]),
                f"{prefix}/pck@0.2": num(summary["pck@0.2"]),
            },
            prog_bar=True,
        )
        self.log_dict({f"{prefix}/parts@0.2/{p}": num(v) for p, v in summary["parts@0.2"].items()})

    def on_validation_epoch_end(self) -> None:
        self._log_summary("val", self.val_pck.summary())
        self.val_pck.reset()

    def on_test_epoch_end(self) -> None:
        if self.keep_test_outputs and self._test_parts:
            # pred/gt (N,J,2) original px, mask/visible (N,J) bool, index (N,) into the test split
            self.test_outputs = {
                k: torch.cat([part[k] for part in self._test_parts]) for k in self._test_parts[0]
            }
        skipped = int(self.test_pck.compute()["skipped"])  # synced over processes
        self.test_summary = {**self.test_pck.summary(), "skipped_zero_torso": skipped}
        errors = self.test_errors.compute()
        self.test_summary[f"errors@{errors['alpha']:g}"] = errors
        self.test_errors.reset()
        self.test_per_image = self.test_pck.per_image()
        if self.candidates is not None:
            self.test_summary["candidates"] = self.candidates.summary()
            self.candidates.reset()
        thresholds, pooled, parts = self.test_pck.curve()
        self.test_curve = {"thresholds": thresholds, "total": pooled, "parts": parts}
        self._log_summary("test", self.test_summary)
        # the kinds too, for comparing runs in the loggers (W&B, TensorBoard, CSV), and PCK of
        # the visible and of the occluded joints apart (the `good` kind of each)
        alpha = f"{errors['alpha']:g}"
        logged = {f"test/errors@{alpha}/{kind}": v for kind, v in errors["total"].items()}
        logged |= {
            f"test/pck@{alpha}/{name}": g["good"] for name, g in errors["visibility"].items()
        }
        self.log_dict({k: float("nan") if v is None else v for k, v in logged.items()})
        self.test_pck.reset()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # update, not replace: callbacks (DataFingerprint, ModelRecord) add their own keys first
        checkpoint.setdefault("posehybrid", {}).update(
            stage=self.stage_name, joint_set=self.joint_set.name
        )

    def _configure(self, params: Any) -> Any:
        if self.optimizer_factory is None:
            raise RuntimeError(f"{type(self).__name__} was built without an optimizer")
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            # Training lengths are optimiser steps (trainer.max_steps), whatever the dataset
            # size, so schedules are stepped per step too.
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def configure_optimizers(self) -> Any:
        return self._configure([p for p in self.parameters() if p.requires_grad])
