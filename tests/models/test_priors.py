"""Displacement-histogram priors: sign convention, normalisation, pair selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posehybrid.models.graph import build_edges
from posehybrid.models.priors import delta_kernel, displacement_histograms, init_kernels
from posehybrid.models.spatial_model import SpatialModel

K = 21
C = K // 2


def offset_keypoints(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3 joints on a 32x24 map: joint 1 always 5 px right of joint 0, joint 2 3 px below it."""
    rng = np.random.default_rng(seed)
    kp = np.zeros((n, 3, 2))
    kp[:, 0] = rng.uniform([6, 6], [20, 16], size=(n, 2))
    kp[:, 1] = kp[:, 0] + [5, 0]
    kp[:, 2] = kp[:, 0] + [0, 3]
    return kp, np.ones((n, 3), dtype=bool)


def test_histogram_peak_position_and_normalisation() -> None:
    kp, valid = offset_keypoints()
    h = displacement_histograms(kp, valid, [(1, 0), (0, 1), (2, 0)], K, blur_sigma=1.0)
    assert h.shape == (3, K, K)
    # cross-correlation convention: displacement d = kp_A - kp_v sits at kernel pixel c - d
    # (row = y, col = x)
    peaks = [divmod(int(k.argmax()), K) for k in h]
    assert peaks == [(C, C - 5), (C, C + 5), (C - 3, C)]
    assert torch.allclose(h.amax(dim=(-2, -1)), torch.ones(3))  # max-normalised
    assert h.min() >= 1e-3 - 1e-9  # floored


def test_delta_response_peaks_at_p_plus_displacement() -> None:
    # A delta of joint 0 at p must make joint 1's message peak at p + (5, 0) and joint 2's at
    # p + (0, 3): the kernel sign matches the model's convolution convention.
    kp, valid = offset_keypoints()
    edges = [(1, 0), (2, 0), (0, 0)]
    kernels = init_kernels(edges, kp, valid, K, histogram_pairs="all", blur_sigma=0.7)
    m = SpatialModel(3, edges, (32, 24), K, bias_init=1e-6)
    m.init_kernels(kernels)
    e = torch.zeros(1, 3, 24, 32)
    px, py = 11, 9
    e[0, 0, py, px] = 1.0
    for method in ("fft", "direct"):
        s = m(e, method=method)
        assert divmod(int(s[0, 1].argmax()), 32) == (py, px + 5)
        assert divmod(int(s[0, 2].argmax()), 32) == (py + 3, px)
        assert divmod(int(s[0, 0].argmax()), 32) == (py, px)


def test_subpixel_displacements_split_mass() -> None:
    kp = np.array([[[10.0, 10.0], [12.5, 10.0]]])
    h = displacement_histograms(kp, np.ones((1, 2), bool), [(1, 0)], K, blur_sigma=0, floor=0)
    # d = (2.5, 0) -> columns c-2 and c-3 share the mass equally
    assert h[0, C, C - 2] == pytest.approx(1.0) and h[0, C, C - 3] == pytest.approx(1.0)
    assert h.sum() == pytest.approx(2.0)


def test_invalid_samples_ignored_and_empty_edge_flat() -> None:
    kp, valid = offset_keypoints(50)
    kp[:10, 1] = kp[:10, 0] + [-7, 2]  # outliers, marked invalid
    valid[:10, 1] = False
    valid[:, 2] = False  # joint 2 never valid
    h = displacement_histograms(kp, valid, [(1, 0), (2, 0)], K, blur_sigma=0.5, floor=1e-3)
    assert h[0, C - 2, C + 7] == pytest.approx(1e-3)  # outliers left no trace
    assert torch.all(h[1] == 1e-3)  # no data: flat at the floor


def test_init_kernels_pair_selection() -> None:
    kp, valid = offset_keypoints()
    links = [(0, 1)]
    edges = build_edges(3, links, mode="full")
    idx = {e: i for i, e in enumerate(edges)}
    k_n = init_kernels(edges, kp, valid, K, histogram_pairs="neighbours", neighbour_set=links)
    k_a = init_kernels(edges, kp, valid, K, histogram_pairs="all", neighbour_set=links)
    k_0 = init_kernels(edges, None, None, K, histogram_pairs="none", neighbour_set=links)
    delta = delta_kernel(K)
    for kernels in (k_n, k_a, k_0):
        for a in range(3):
            assert torch.equal(kernels[idx[(a, a)]], delta)  # self edges: a pure delta
    # neighbours (both directions) get histograms ...
    for e in ((1, 0), (0, 1)):
        assert divmod(int(k_n[idx[e]].argmax()), K) != (0, 0)
        assert k_n[idx[e]].max() == 1.0 and k_n[idx[e]].std() > 0
        assert torch.all(k_0[idx[e]] == k_0[idx[e]][0, 0])
    # ... other pairs are flat unless "all"
    for e in ((2, 0), (0, 2), (1, 2), (2, 1)):
        assert torch.all(k_n[idx[e]] == 1e-3)
        assert k_a[idx[e]].std() > 0
    # the `links` alias equals neighbour_set
    assert torch.equal(init_kernels(edges, kp, valid, K, links=links), k_n)
    assert torch.all(init_kernels([(2, 0)], kp, valid, K, "neighbours", flat_value=0.5) == 0.5)


def test_init_kernels_errors() -> None:
    with pytest.raises(ValueError, match="histogram_pairs"):
        init_kernels([(0, 1)], None, None, K, histogram_pairs="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs keypoints"):
        init_kernels([(0, 1)], None, None, K, histogram_pairs="all")
    with pytest.raises(ValueError, match="odd"):
        displacement_histograms(np.zeros((1, 2, 2)), np.ones((1, 2), bool), [(0, 1)], 8)
