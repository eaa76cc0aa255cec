"""``python -m posehybrid.predict ckpt=PATH input=IMG_OR_DIR [output=DIR] [flip_test=true]
[scales=[1.0,0.8]] [torso_box=[x1,y1,x2,y2]] [batch_size=8]``.

Predicts keypoints on any images (JPEG/PNG, gray, RGBA, 16 bit; any size): each is letterboxed
to the model input with the evaluation geometry (or cropped around ``torso_box`` like FLIC
training) by :class:`posehybrid.data.image_files.ImageFiles`, predicted in batches by
``trainer.predict`` (the module's ``predict_step``, with its TTA: the same path as the Python
API's :class:`posehybrid.api.Predictor`), and mapped back to original pixels. Per image, into the output folder (default
``outputs/<experiment>/predict/<timestamp>``, the checkpoint's experiment, like eval/export):

* ``<stem>.json``: ``{"image", "width", "height", "joint_set", "stage",
  "joints": {name: {"x", "y", "confidence", "raw_score"}}}`` in original pixels: a folder of
  these is a prediction input of ``python -m posehybrid.score``. ``confidence`` is in [0, 1]
  (:func:`posehybrid.inference.confidence`: the spatial softmax's mass near its peak, or the
  detector map's peak height); ``raw_score`` is the decoded map's value at the peak (for the
  spatial stages a log-space score, unbounded and often negative);
* ``<stem>_overlay.png``: the image (small images upscaled to ``overlay_min_side``) with the
  predicted skeleton and a left/right colour legend.

Unreadable images are named on stderr and skipped; the run goes on and exits 1 at the end if
any failed. Bad arguments give one stderr line and exit 2. stdout gets one JSON summary line.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import posehybrid.utils.resolvers  # noqa: F401  (registers ${ph.*} resolvers)
from posehybrid.inference import (
    TTA,
    inference_trainer,
    pick_device,
    resolve_precision,
    resolve_user_path,
)
from posehybrid.utils.cli import user_errors

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
log = logging.getLogger("posehybrid.predict")


def list_inputs(path: Path) -> list[Path]:
    """One file, or a folder's image files (by suffix, sorted, not recursive)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"input={path}: no such file or directory")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"input={path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def output_stems(files: Sequence[Path]) -> dict[Path, str]:
    """File -> output stem; ``a.jpg`` and ``a.png`` in one folder keep their suffix apart."""
    counts: dict[str, int] = {}
    for f in files:
        counts[f.stem] = counts.get(f.stem, 0) + 1
    return {f: f.stem if counts[f.stem] == 1 else f.name for f in files}


def parse_box(box: Any) -> list[float] | None:
    """``[x1, y1, x2, y2]`` with x2 > x1 and y2 > y1, or None."""
    if box is None:
        return None
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        values = []
    ok = len(values) == 4 and all(math.isfinite(v) for v in values)
    if not ok or values[2] <= values[0] or values[3] <= values[1]:
        raise ValueError(f"torso_box must be [x1, y1, x2, y2] with x2 > x1, y2 > y1; got {box}")
    return values


def prediction_json(
    name: str,
    size: tuple[int, int],
    kps: np.ndarray,
    conf: np.ndarray,
    raw: np.ndarray,
    module: Any,
) -> dict[str, Any]:
    """The per-image record: kps (J,2) original px, conf and raw (J,); ``posehybrid.score``
    reads image + joints."""
    joints = {
        j: {"x": float(kps[i, 0]), "y": float(kps[i, 1]), "confidence": float(conf[i]),
            "raw_score": float(raw[i])}
        for i, j in enumerate(module.joint_set.joints)
    }  # fmt: skip
    return {
        "image": name,
        "width": int(size[0]),
        "height": int(size[1]),
        "joint_set": module.joint_set.name,
        "stage": module.stage_name,
        "joints": joints,
    }


def run(cfg: DictConfig) -> dict[str, Any]:
    """Predict every input image with ``trainer.predict``; returns the summary (``failed``
    names unreadable files)."""
    from torch.utils.data import DataLoader

    from posehybrid.callbacks.prediction_writer import PredictionFiles
    from posehybrid.data.draw import save_image
    from posehybrid.data.image_files import ImageFiles
    from posehybrid.modules.load import load_module
    from posehybrid.plots import skeleton_overlay
    from posehybrid.utils.console import setup_console

    for key in ("ckpt", "input"):
        if not cfg[key]:
            raise ValueError(f"{key}=PATH is required")
    tta = TTA.from_cfg(cfg.flip_test, cfg.scales)
    box = parse_box(cfg.torso_box)
    batch_size = int(cfg.batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    files = list_inputs(resolve_user_path(cfg.input))
    module = load_module(resolve_user_path(cfg.ckpt))
    module.tta = tta
    device = pick_device(cfg.device)
    precision = resolve_precision(str(cfg.precision), device)
    if cfg.output:
        out_dir = resolve_user_path(cfg.output)
        print(f"predict: writing to {out_dir}", file=sys.stderr)
    else:
        out_dir = Path(HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if module.joint_set.name == "flic" and box is None:
        log.warning("a FLIC model was trained on torso-box crops; pass torso_box=[x1,y1,x2,y2]")

    def record(name: str, size: tuple[int, int], kps: Any, conf: Any, raw: Any) -> dict:
        return prediction_json(name, size, kps, conf, raw, module)

    def overlay(path: Path, image: Any, kps: Any) -> None:
        drawn = skeleton_overlay(image, kps, module.joint_set, int(cfg.overlay_min_side))
        save_image(path, drawn)

    writer = PredictionFiles(
        out_dir, files, output_stems(files), record, overlay if cfg.overlay else None
    )
    dataset = ImageFiles(files, module.codec.input_size, module.joint_set, box, cfg.box_scale)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=0)
    setup_console()
    trainer = inference_trainer(device, precision, [writer])
    trainer.predict(module, dataloaders=loader, return_predictions=False)
    failed, written = writer.failed, writer.written
    return {
        "output_dir": str(out_dir),
        "images": written,
        "failed": failed,
        "stage": module.stage_name,
        "joint_set": module.joint_set.name,
        "tta": tta.as_dict(),
        "precision": precision,
    }


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    from posehybrid.utils.runtime import tune_allocator

    tune_allocator()  # as train does: big tensors stay in the process between batches
    with user_errors("predict"):
        summary = run(cfg)
    print(json.dumps(summary))
    if summary["failed"]:
        print(
            f"predict: {len(summary['failed'])} file(s) could not be read: "
            + ", ".join(summary["failed"]),
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
