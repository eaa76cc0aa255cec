"""Dataset summary CLI: ``python -m posehybrid.data data=NAME [data.root=DIR] [show=N]``.

Prints exactly one JSON object on stdout::

    {"dataset", "root", "splits": {"train", "val", "test"}, "joints", "visible_fraction"
     [, "show": PNG path]}

Everything else (logs, warnings) goes to stderr. ``show=N`` also writes a grid of N training
samples *after augmentation* with the skeleton drawn (left blue, right red, centre green), to
``show_path`` or the Hydra run directory. Bad input -> one line on stderr, exit code 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from posehybrid.data.records import DataError

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")
log = logging.getLogger("posehybrid.data")


def write_grid(dm: Any, n: int, path: Path, split: str = "train", seed: int = 0) -> Path:
    """Draw ``n`` samples of ``split`` (training augmentation on for ``train``) into a PNG."""
    from posehybrid.data.draw import draw_skeleton, image_grid, save_image, to_uint8

    ds = dm.make_dataset(split)
    if len(ds) == 0:
        raise DataError(f"{dm.name}: the {split!r} split is empty; nothing to show")
    torch.manual_seed(seed)  # the dataset seeds its augmentation RNG from torch's seed
    idx = np.random.default_rng(seed).choice(len(ds), size=min(n, len(ds)), replace=False)
    w, h = ds.input_size
    up = max(1, 256 // max(w, h))  # upscale small inputs so the grid is readable
    tiles = []
    for i in idx:
        s = ds[int(i)]
        img = to_uint8(s["image"].numpy())
        if up > 1:
            img = np.repeat(np.repeat(img, up, axis=0), up, axis=1)
        kps = (s["keypoints"].numpy() + 0.5) * up - 0.5  # pixel-centre convention
        tiles.append(
            draw_skeleton(
                img,
                kps,
                ds.joint_set,
                visible=s["visible"].numpy(),
                annotated=s["annotated"].numpy(),
            )
        )
    return save_image(path, image_grid(tiles, ncols=int(np.ceil(np.sqrt(len(tiles))))))


def run(cfg: DictConfig) -> dict[str, Any]:
    """Build the DataModule from ``cfg.data``, summarise it, and optionally draw samples."""
    dm = hydra.utils.instantiate(cfg.data, codec=hydra.utils.instantiate(cfg.model.codec))
    dm.prepare_data()
    summary = dm.summary()
    if int(cfg.show or 0) > 0:
        path = cfg.show_path
        if not path:
            path = Path(HydraConfig.get().runtime.output_dir) / "samples.png"
        out = write_grid(dm, int(cfg.show), Path(path), cfg.show_split, cfg.seed)
        log.info("wrote %d samples to %s", int(cfg.show), out)
        print(f"samples: {out}", file=sys.stderr)
        summary["show"] = str(out)
    return summary


def _fail(message: str) -> None:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(2)


@hydra.main(config_path=CONF_DIR, config_name="data_cli", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        summary = run(cfg)
    except DataError as err:
        _fail(str(err))
    except InstantiationException as err:
        # Hydra wraps constructor errors; show the cause, which names the bad value.
        cause = err.__cause__ or err
        _fail(f"cannot build data={cfg.data.get('name', '?')}: {cause}")
    except (FileNotFoundError, NotADirectoryError, PermissionError) as err:
        _fail(f"{err.filename or err}: {err.strerror or err} (expected a readable dataset path)")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
