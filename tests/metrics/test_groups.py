"""PCK and kinds of mistake per group (``metrics/groups.py``): each group scored as its own
subset, and the groups adding up to the pooled score."""

from __future__ import annotations

import pytest
import torch

from posehybrid.data.skeleton import LSP
from posehybrid.metrics.error_types import ErrorTypes
from posehybrid.metrics.groups import scores_by_group
from posehybrid.metrics.pck import PCK


def _data(n: int = 30) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    gt = 100 + 40 * torch.rand(n, 14, 2, generator=g, dtype=torch.float64)
    pred = gt + 8 * torch.randn(n, 14, 2, generator=g, dtype=torch.float64)
    return pred, gt, torch.rand(n, 14, generator=g) > 0.1


def test_each_group_is_its_own_subset_and_they_pool_to_the_whole() -> None:
    pred, gt, mask = _data()
    labels = ["back" if i % 3 == 0 else "front" for i in range(len(pred))]
    groups = scores_by_group(pred, gt, mask, labels, LSP)
    assert list(groups) == ["back", "front"] and groups["back"]["n"] == 10
    rows = torch.tensor([i for i, x in enumerate(labels) if x == "back"])
    alone, kinds = PCK(LSP, thresholds=(0.1, 0.2)), ErrorTypes(LSP)
    alone.update(pred[rows], gt[rows], mask[rows])
    kinds.update(pred[rows], gt[rows], mask[rows])
    assert groups["back"]["pck@0.2"] == pytest.approx(float(alone.compute()["pck@0.2"]))
    assert groups["back"]["errors@0.2"] == pytest.approx(kinds.compute()["total"])
    whole = PCK(LSP, thresholds=(0.2,))
    whole.update(pred, gt, mask)
    pooled = sum(g["pck@0.2"] * g["joints"] for g in groups.values())
    assert pooled / sum(g["joints"] for g in groups.values()) == pytest.approx(
        float(whole.compute()["pck@0.2"])
    )
    assert 0.0 < groups["front"]["pck@0.2"] < 1.0  # the data is neither all right nor all wrong


def test_one_label_per_example() -> None:
    pred, gt, mask = _data(4)
    with pytest.raises(ValueError, match="3 labels for 4 examples"):
        scores_by_group(pred, gt, mask, ["a", "b", "c"], LSP)


def test_each_group_splits_its_visible_and_occluded_joints() -> None:
    # two examples, one group each; in "a" the two occluded joints are wrong and every other
    # joint right, so its occluded PCK@0.2 is 0 and its visible PCK@0.2 is 1
    gt = torch.stack([torch.rand(14, 2, dtype=torch.float64) * 10 + 100] * 2)
    gt[:, 9] = torch.tensor([100.0, 80.0], dtype=torch.float64)  # a torso: shoulder above hip
    gt[:, 3] = torch.tensor([100.0, 120.0], dtype=torch.float64)
    pred = gt.clone()
    pred[0, [0, 5]] += 500.0  # far from every joint: misses
    mask = torch.ones(2, 14, dtype=torch.bool)
    visible = torch.ones(2, 14, dtype=torch.bool)
    visible[0, [0, 5]] = False
    groups = scores_by_group(pred, gt, mask, ["a", "b"], LSP, visible)
    a, b = groups["a"]["visibility"], groups["b"]["visibility"]
    assert a["occluded"]["share"] == pytest.approx(2 / 14) and a["occluded"]["good"] == 0.0
    assert a["occluded"]["miss"] == 1.0 and a["visible"]["good"] == 1.0
    assert b["occluded"]["share"] == 0.0 and b["visible"]["good"] == 1.0
    # without the flag every joint is visible
    assert scores_by_group(pred, gt, mask, ["a", "b"], LSP)["a"]["visibility"]["visible"][
        "good"
    ] == pytest.approx(12 / 14)
