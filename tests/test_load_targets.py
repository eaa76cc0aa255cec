"""A checkpoint's stored model config may only name allow-listed classes: ``load_module`` (eval,
predict, export, the Python API) refuses anything else before instantiating any of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from posehybrid.modules.load import check_targets, load_module, with_codec
from posehybrid.utils.checkpoint import CheckpointError
from tests.test_export import tiny_checkpoint


def _rewrite(path: Path, edit) -> Path:
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt["posehybrid"]["init_kwargs"]["model_cfg"])
    torch.save(ckpt, path)
    return path


def test_the_configs_own_targets_load(tmp_path: Path) -> None:
    module = load_module(tiny_checkpoint(tmp_path / "ok.ckpt", stage="joint"))
    assert module.codec.input_size == (64, 64)


@pytest.mark.parametrize(
    "where", [("part_detector",), ("part_detector", "norm"), ("codec",), ("spatial",)]
)
def test_a_foreign_target_is_refused(tmp_path: Path, where: tuple[str, ...]) -> None:
    marker = tmp_path / "ran"

    def edit(model_cfg: dict) -> None:
        node = model_cfg
        for key in where:
            node = node[key]
        node["_target_"] = "pathlib.Path.touch"  # would create the marker file if built
        node["self"] = str(marker)

    path = _rewrite(tiny_checkpoint(tmp_path / "bad.ckpt", stage="joint"), edit)
    with pytest.raises(CheckpointError, match=r"pathlib\.Path\.touch.*not an allowed class"):
        load_module(path)
    assert not marker.exists()


def test_checkpoints_from_before_the_codec_node_still_load(tmp_path: Path) -> None:
    path = _rewrite(tiny_checkpoint(tmp_path / "old.ckpt"), lambda cfg: cfg.pop("codec"))
    module = load_module(path)
    assert module.codec.input_size == (64, 64) and module.codec.heatmap_size == (16, 16)
    kwargs = with_codec({"model_cfg": {"input_size": [8, 8], "heatmap_size": [2, 2], "sigma": 1}})
    check_targets(kwargs, "x")  # the added node is allowed
