"""Stage 2: the spatial model trained on top of the frozen part detector."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from posehybrid.models.priors import init_kernels
from posehybrid.models.spatial_model import SpatialModel
from posehybrid.modules.base import PoseModule
from posehybrid.modules.losses import spatial_cross_entropy
from posehybrid.utils.checkpoint import expect_checkpoint

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
REFINES = ("spatial", "detector", "detector_parabola")


def _decode_cfg(decode: dict[str, Any]) -> dict[str, Any]:
    """Validated decode settings; checkpoints written before ``refine`` existed still load."""
    cfg = {"method": "argmax", "refine": "spatial", **decode}
    legacy = cfg.pop("refine_with_detector", None)
    if legacy is not None and "refine" not in decode:
        cfg["refine"] = "detector" if legacy else "spatial"
    if cfg["refine"] not in REFINES:
        raise ValueError(f"stage.decode.refine: got {cfg['refine']!r}, expected one of {REFINES}")
    return cfg


class SpatialModule(PoseModule):
    """Detector (``self.detector``) + :class:`SpatialModel` (``self.spatial``), both given.

    The detector is frozen and kept in eval mode; only the spatial model trains.

    Args:
        spatial: the spatial model with its graph (``model.spatial``: Hydra builds the edge
            list, ``models.graph.build_edges``, and passes it in).
        priors: how :meth:`init_priors` starts the kernels (``model.spatial_priors``:
            ``histogram_pairs``, ``blur_sigma``, ``floor`` of ``models.priors.init_kernels``).
        init: ``{"part_detector": PATH}``: the stage-1 checkpoint to start from.
        loss: ``(logits, target, weight) -> loss`` (default: spatial cross-entropy).
        decode: ``{"method": "argmax"|"soft_argmax", "refine": ...}``: the argmax of the
            spatial output, refined sub-pixel by a parabola through the spatial logits
            (``"spatial"``), by the 3x3 centroid of the detector's map (``"detector"``, design
            §4), or by a parabola through the log of the detector's map around the spatial
            argmax (``"detector_parabola"``: exact for the detector's Gaussian-trained peaks).
            The legacy ``"refine_with_detector": bool`` is read too.
        cache_heatmaps: keep the frozen detector's train/val heat-maps in memory after their
            first epoch, as the paper stored them (needs un-augmented training data: the
            training entry point turns augmentation off when this is set).
        priors_from_data: initialise the kernels in ``setup("fit")`` from the DataModule's
            training keypoints (:meth:`init_priors`); a resumed fit then restores the trained
            kernels over them, since Lightning restores checkpoints after ``setup``.
    """

    stage_name = "spatial"
    train_detector = False

    def __init__(
        self,
        *args: Any,
        spatial: SpatialModel | nn.Module,
        priors: dict[str, Any] | None = None,
        init: dict[str, str | None] | None = None,
        loss: LossFn | None = None,
        decode: dict[str, Any] | None = None,
        cache_heatmaps: bool = False,
        priors_from_data: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.spatial = spatial
        self.edges: list[tuple[int, int]] = list(spatial.edges)
        self.priors = dict(priors or {})
        self.priors_from_data = priors_from_data
        self.loss_fn: LossFn = loss or spatial_cross_entropy
        self.cache_heatmaps = cache_heatmaps and not self.train_detector
        self._cache: dict[str, dict[int, torch.Tensor]] = {}
        self.decode_cfg = _decode_cfg(decode or {})
        self._load_init(init or {})
        self._set_detector_trainable(self.train_detector)

    def _load_init(self, init: dict[str, str | None]) -> None:
        if init.get("part_detector"):
            ckpt, _ = expect_checkpoint(
                init["part_detector"], ("part_detector",), self.joint_set.name
            )
            self.load_state_dict(
                {k: v for k, v in ckpt["state_dict"].items() if k.startswith("detector.")},
                strict=False,
            )

    def _set_detector_trainable(self, trainable: bool) -> None:
        for p in self.detector.parameters():
            p.requires_grad_(trainable)

    # --- priors ------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if stage == "fit" and self.priors_from_data:
            datamodule = self.trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "train_keypoints"):
                raise ValueError(
                    "stage.priors_from_data=true needs a PoseDataModule (trainer.fit(module, "
                    "datamodule=...)) to read the training keypoints from"
                )
            # Priors come from the training keypoints after the inputs' geometric normalisation.
            self.init_priors(*datamodule.train_keypoints())

    def init_priors(self, keypoints: np.ndarray, valid: np.ndarray) -> None:
        """Initialise the kernels from training keypoints (N, J, 2) in *input* px.

        Neighbour pairs get displacement histograms at heat-map resolution, self edges a
        delta, other pairs flat (design §4); ``priors["histogram_pairs"]`` picks which pairs
        get histograms (neighbours | all | none) for the ablation.
        """
        uv = torch.as_tensor(self.codec.to_heatmap(np.asarray(keypoints, dtype=np.float32)))
        ok = torch.as_tensor(np.asarray(valid, dtype=bool))
        k = self.spatial.kernel_size
        kernels = torch.empty(len(self.edges), k, k)
        # One group for the plain model; one per pose type for a mixture (its own histograms).
        for ids, samples, extra_pairs in self.spatial.prior_groups(uv, ok):
            kernels[ids] = init_kernels(
                edges=[self.edges[i] for i in ids],
                keypoints=uv[samples],
                valid=ok[samples],
                kernel_size=k,
                links=self.joint_set.link_indices,
                neighbour_set=extra_pairs,
                **self.priors,
            )
        self.spatial.init_kernels(kernels)

    # --- forward / loss / decode -------------------------------------------------------------
    def heatmaps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.train_detector:
            e = self.detector(image)
        else:
            with torch.no_grad():
                e = self.detector(image)
        return {"detector": e, "spatial": self.spatial(e)}

    def batch_heatmaps(self, batch: dict[str, torch.Tensor], split: str) -> dict[str, torch.Tensor]:
        if not self.cache_heatmaps or split == "test":
            return self.heatmaps(batch["image"])
        cache = self._cache.setdefault(split, {})
        keys = batch["index"].tolist()
        if all(k in cache for k in keys):
            e = torch.stack([cache[k] for k in keys])
        else:
            with torch.no_grad():
                e = self.detector(batch["image"])
            cache.update(zip(keys, e.detach(), strict=True))
        return {"detector": e, "spatial": self.spatial(e)}

    def loss(self, maps: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss_fn(maps["spatial"], batch["heatmaps"], batch["target_weight"])

    def decode(self, maps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        method = self.decode_cfg["method"]
        refine = self.decode_cfg["refine"]
        if refine == "detector":
            return self.codec.decode(maps["spatial"], refine_with=maps["detector"], method=method)
        if refine == "detector_parabola":
            return self.codec.decode(
                maps["spatial"], refine_with=maps["detector"], method=method, refine="parabola"
            )
        return self.codec.decode(maps["spatial"], method=method, log_space=True)

    def on_fit_start(self) -> None:
        # Lightning (2.2+) never calls train() itself: a module keeps the modes it arrives with,
        # and the evaluation loops restore each submodule's flag as they found it. So the
        # frozen parts' eval mode (train() below) is set here, once, for every fit and resume.
        self.train()
        if any(not m.training for m in self.modules()):
            # The eval-mode parts are this stage's design (a frozen detector, frozen batch-norm
            # statistics): Lightning's "modules in eval mode at the start of training" warning,
            # raised next, would only ask the user to check what is intended.
            warnings.filterwarnings(
                "ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training"
            )

    def train(self, mode: bool = True) -> SpatialModule:
        """Train mode, except a frozen detector stays in eval mode (batch-norm statistics
        fixed), as mmdet's ``norm_eval`` does. :meth:`on_fit_start` applies it; Lightning's
        validation and prediction loops then restore these flags submodule by submodule."""
        super().train(mode)
        if mode and not self.train_detector:
            self.detector.eval()
        return self
