"""A checkpoint's stored model config may only name allow-listed classes: ``load_module`` (eval,
predict, export, the Python API) refuses anything else before instantiating any of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from posehybrid.modules.load import load_module
from posehybrid.utils.checkpoint import CheckpointError
from tests.test_export import tiny_checkpoint


def _rewrite(path: Path, edit) -> Path:
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, path)
    return path


def test_the_configs_own_targets_load(tmp_path: Path) -> None:
    module = load_module(tiny_checkpoint(tmp_path / "ok.ckpt", stage="joint"))
    assert module.codec.input_size == (64, 64)


@pytest.mark.parametrize(
    "where",
    [
        ("part_detector",),
        ("part_detector", "norm"),
        ("codec",),
        ("spatial",),
        ("spatial", "edges"),
        ("spatial", "edges", "links"),
    ],
)
def test_a_foreign_target_is_refused(tmp_path: Path, where: tuple[str, ...]) -> None:
    marker = tmp_path / "ran"

    def edit(ckpt: dict) -> None:
        node = ckpt["posehybrid"]["model"]
        for key in where:
            node = node[key]
        node["_target_"] = "pathlib.Path.touch"  # would create the marker file if built
        node["self"] = str(marker)

    path = _rewrite(tiny_checkpoint(tmp_path / "bad.ckpt", stage="joint"), edit)
    with pytest.raises(CheckpointError, match=r"pathlib\.Path\.touch.*not an allowed class"):
        load_module(path)
    assert not marker.exists()


def _legacy(ckpt: dict, codec: bool) -> None:
    """Rewrite ``ckpt`` as posehybrid wrote checkpoints before the models were passed in: an
    ``init_kwargs`` block with the module's edges and the model config without the graph
    (and, before the codec node, without ``codec``), no hyper-parameters."""
    block = ckpt["posehybrid"]
    model = block.pop("model")
    spatial = dict(model["spatial"])
    edges = [list(e) for e in _built_edges(spatial)]
    for key in ("edges", "heatmap_size"):
        spatial.pop(key)
    graph = {**model.pop("spatial_graph"), **model.pop("spatial_priors")}
    model_cfg = {**model, "spatial": spatial, "spatial_graph": graph}
    if not codec:
        model_cfg.pop("codec")
    hp = ckpt.pop("hyper_parameters")
    block["init_kwargs"] = {"joint_set": hp["joint_set"], "model_cfg": model_cfg,
                            "edges": edges, "decode": hp["decode"]}  # fmt: skip


def _built_edges(spatial: dict) -> list[tuple[int, int]]:
    from hydra.utils import instantiate

    return instantiate(spatial["edges"])


@pytest.mark.parametrize("codec", [True, False])
def test_checkpoints_from_before_the_models_were_passed_in_still_load(
    tmp_path: Path, codec: bool
) -> None:
    new = load_module(tiny_checkpoint(tmp_path / "new.ckpt"))
    path = _rewrite(tiny_checkpoint(tmp_path / "old.ckpt"), lambda c: _legacy(c, codec))
    assert "init_kwargs" in torch.load(path, weights_only=True)["posehybrid"]
    old = load_module(path)
    assert old.codec.input_size == (64, 64) and old.codec.heatmap_size == (16, 16)
    assert old.edges == new.edges and old.decode_cfg == new.decode_cfg
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = new(image), old(image)
    assert torch.equal(a["spatial"], b["spatial"])


def test_a_checkpoint_without_a_model_config_is_refused(tmp_path: Path) -> None:
    path = _rewrite(tiny_checkpoint(tmp_path / "bare.ckpt"), lambda c: c["posehybrid"].pop("model"))
    with pytest.raises(CheckpointError, match="holds no model config"):
        load_module(path)


def test_joint_checkpoints_with_the_old_learning_rate_keys_still_load(tmp_path: Path) -> None:
    def old_keys(ckpt: dict) -> None:
        hp = ckpt["hyper_parameters"]
        hp.pop("param_groups")
        hp["detector_lr"], hp["spatial_lr"] = 2e-3, 3e-2

    path = _rewrite(tiny_checkpoint(tmp_path / "old.ckpt", stage="joint"), old_keys)
    assert "detector_lr" in torch.load(path, weights_only=True)["hyper_parameters"]
    old = load_module(path)
    assert old.param_groups == {"detector": {"lr": 2e-3}, "spatial": {"lr": 3e-2}}
    old.optimizer_factory = torch.optim.Adam  # inference builds carry no optimiser
    groups = old.configure_optimizers().param_groups
    assert [g["lr"] for g in groups] == [2e-3, 3e-2]
    assert groups[0]["params"] == list(old.detector.parameters())
