"""PCK against a plain-loop numpy reference, the ≤ boundary, zero torso, and DDP-style merging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posehybrid.data.skeleton import FLIC, LSP
from posehybrid.metrics import DEFAULT_THRESHOLDS, PCK, bbox_lengths, pck_correct, torso_lengths

ALPHAS = (0.05, 0.1, 0.2)


def reference(pred, gt, mask, alphas, torso=(9, 2)):
    """Plain loops: pooled and per-joint PCK, skipping examples with a zero torso."""
    n, j, _ = gt.shape
    correct = np.zeros((len(alphas), j))
    total = np.zeros(j)
    skipped = 0
    for i in range(n):
        a, b = torso
        norm = math.hypot(gt[i, a, 0] - gt[i, b, 0], gt[i, a, 1] - gt[i, b, 1])
        if norm == 0 or not (mask[i, a] and mask[i, b]):
            skipped += 1
            continue
        for k in range(j):
            if not mask[i, k]:
                continue
            total[k] += 1
            d = math.hypot(pred[i, k, 0] - gt[i, k, 0], pred[i, k, 1] - gt[i, k, 1])
            for t, alpha in enumerate(alphas):
                if d <= alpha * norm:
                    correct[t, k] += 1
    return correct, total, skipped


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n, j = 40, 14
    gt = rng.uniform(0, 200, size=(n, j, 2))
    pred = gt + rng.normal(0, 12, size=(n, j, 2))
    mask = rng.random((n, j)) > 0.15
    mask[:, [9, 2]] = True
    gt[3, 2] = gt[3, 9]  # zero-length torso: example 3 is skipped
    mask[5, 9] = False  # torso rests on a masked joint: example 5 is skipped too
    return pred, gt, mask


def test_matches_numpy_reference(data):
    pred, gt, mask = data
    metric = PCK(LSP, thresholds=ALPHAS)
    metric.update(torch.tensor(pred), torch.tensor(gt), torch.tensor(mask))
    correct, total, skipped = reference(pred, gt, mask, ALPHAS)
    assert metric.correct.numpy().tolist() == correct.tolist()
    assert metric.total.numpy().tolist() == total.tolist()
    assert int(metric.skipped) == skipped == 2
    out = metric.compute()
    for t, alpha in enumerate(ALPHAS):
        key = f"{alpha:g}"
        assert float(out[f"pck@{key}"]) == pytest.approx(correct[t].sum() / total.sum())
        assert float(out["curve"][t]) == pytest.approx(correct[t].sum() / total.sum())
        per_joint = correct[t] / total
        for name, value in out[f"joints@{key}"].items():
            assert float(value) == pytest.approx(per_joint[LSP.index(name)])
        head = (per_joint[LSP.index("neck")] + per_joint[LSP.index("head_top")]) / 2
        assert float(out[f"parts@{key}"]["head"]) == pytest.approx(head)
    summary = metric.summary(alphas=(0.1, 0.2))
    assert set(summary) == {"pck@0.1", "pck@0.2", "parts@0.2", "joints@0.2"}
    assert summary["pck@0.2"] == pytest.approx(correct[2].sum() / total.sum())
    assert list(summary["parts@0.2"]) == list(LSP.parts)
    assert isinstance(summary["parts@0.2"]["wrist"], float)


def test_boundary_is_inclusive():
    gt = torch.zeros(1, 14, 2, dtype=torch.float64)
    gt[0, LSP.index("l_shoulder")] = torch.tensor([30.0, 40.0])  # torso = 50 (R-hip at origin)
    pred = gt.clone()
    pred[0, LSP.index("l_wrist")] += torch.tensor([6.0, 8.0])  # exactly 10 = 0.2 * 50
    pred[0, LSP.index("r_wrist")] += torch.tensor(
        [6.0, 8.0 + 1e-9], dtype=torch.float64
    )  # just outside
    metric = PCK(LSP, thresholds=(0.1, 0.2))
    metric.update(pred.float(), gt.float(), torch.ones(1, 14, dtype=torch.bool))
    joints = metric.summary()["joints@0.2"]
    assert joints["l_wrist"] == 1.0
    assert metric.summary(detail=0.1)["joints@0.1"]["l_wrist"] == 0.0
    # float32 cannot hold the 1e-9 offset; check the strict side with float64 directly
    norm = torso_lengths(gt, LSP)
    hits = pck_correct(
        pred,
        gt,
        torch.ones(1, 14, dtype=torch.bool),
        norm,
        torch.tensor([0.2], dtype=torch.float64),
    )
    assert bool(hits[0, 0, LSP.index("l_wrist")])
    assert not bool(hits[0, 0, LSP.index("r_wrist")])


def test_zero_torso_only_example_gives_undefined():
    gt = torch.zeros(2, 14, 2)
    metric = PCK(LSP, thresholds=(0.1, 0.2))
    metric.update(gt, gt, torch.ones(2, 14, dtype=torch.bool))
    assert int(metric.skipped) == 2
    assert int(metric.total.sum()) == 0
    summary = metric.summary()
    assert summary["pck@0.2"] is None
    assert summary["parts@0.2"]["head"] is None


def test_ddp_merge_equals_single(data):
    pred, gt, mask = (torch.tensor(x) for x in data)
    whole = PCK(LSP, thresholds=ALPHAS)
    whole.update(pred, gt, mask)
    left, right = PCK(LSP, thresholds=ALPHAS), PCK(LSP, thresholds=ALPHAS)
    left.update(pred[:17], gt[:17], mask[:17])
    right.update(pred[17:], gt[17:], mask[17:])
    left.merge_state(right)
    for name in ("correct", "total", "skipped"):
        assert torch.equal(getattr(left, name), getattr(whole, name))
    assert left.summary() == whole.summary()


def test_default_thresholds_and_lookup():
    assert len(DEFAULT_THRESHOLDS) == 21
    assert 0.1 in DEFAULT_THRESHOLDS and 0.2 in DEFAULT_THRESHOLDS
    metric = PCK(FLIC)
    thresholds, pooled, parts = metric.curve()
    assert thresholds == list(DEFAULT_THRESHOLDS)
    assert len(pooled) == 21 and set(parts) == set(FLIC.parts)
    with pytest.raises(KeyError, match="available"):
        metric.summary(alphas=(0.15, 0.3))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_threshold_validation(bad):
    with pytest.raises(ValueError, match="outside"):
        PCK(LSP, thresholds=(0.1, bad))


def test_torso_override_and_other_normalisers():
    gt = torch.zeros(1, 14, 2)
    gt[0, LSP.index("neck")] = torch.tensor([0.0, 100.0])  # neck-to-R-hip torso = 100
    gt[0, LSP.index("l_shoulder")] = torch.tensor([0.0, 10.0])  # default torso = 10
    pred = gt.clone()
    pred[0, LSP.index("l_ankle"), 0] += 15.0
    mask = torch.ones(1, 14, dtype=torch.bool)
    default, override = PCK(LSP, (0.2,)), PCK(LSP, (0.2,), torso=("neck", "r_hip"))
    default.update(pred, gt, mask)
    override.update(pred, gt, mask)
    assert default.summary((0.2,))["joints@0.2"]["l_ankle"] == 0.0
    assert override.summary((0.2,))["joints@0.2"]["l_ankle"] == 1.0
    with pytest.raises(ValueError, match="head"):
        PCK(LSP, normaliser="head")
    assert bbox_lengths(gt, mask).tolist() == [100.0]
    bbox = PCK(LSP, (0.2,), normaliser="bbox")  # bbox side 100 -> limit 20
    bbox.update(pred, gt, mask)
    assert bbox.summary((0.2,))["joints@0.2"]["l_ankle"] == 1.0


def test_rejects_bad_shapes():
    metric = PCK(LSP)
    with pytest.raises(ValueError, match=r"\(B, 14, 2\)"):
        metric.update(
            torch.zeros(2, 13, 2), torch.zeros(2, 13, 2), torch.ones(2, 13, dtype=torch.bool)
        )


def _ddp_worker(rank: int, port: int, data, queue) -> None:
    """One gloo rank: update on its half, then report the plain-Python views."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        pred, gt, mask = (torch.tensor(x) for x in data)
        half = slice(0, 17) if rank == 0 else slice(17, None)
        metric = PCK(LSP, thresholds=ALPHAS)
        metric.update(pred[half], gt[half], mask[half])
        queue.put((rank, metric.summary(), metric.curve(), int(metric.total.sum())))
    finally:
        dist.destroy_process_group()


def test_summary_and_curve_sync_across_gloo_processes(data):
    """Under DDP every rank must report the *global* figures (states summed), not its shard;
    and the local states stay local afterwards so accumulation can go on."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_ddp_worker, args=(r, port, data, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    pred, gt, mask = (torch.tensor(x) for x in data)
    whole = PCK(LSP, thresholds=ALPHAS)
    whole.update(pred, gt, mask)
    local_totals = {}
    for rank, summary, curve, local_total in results:
        assert summary == whole.summary(), f"rank {rank} reported its shard"
        assert curve == whole.curve()
        local_totals[rank] = local_total
    assert sum(local_totals.values()) == int(whole.total.sum())
    assert all(0 < t < int(whole.total.sum()) for t in local_totals.values())
