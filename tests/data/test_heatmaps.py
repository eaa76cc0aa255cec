"""Heat-map codec: encode/decode round trip, convention, missing joints, refinement modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posehybrid.data.heatmaps import HeatmapCodec


@pytest.mark.parametrize(
    ("input_size", "heatmap_size", "sigma"),
    [((128, 128), (32, 32), 1.0), ((360, 240), (90, 60), 1.5), ((96, 64), (48, 32), 0.7)],
)
def test_round_trip_subpixel(input_size, heatmap_size, sigma) -> None:
    codec = HeatmapCodec(input_size, heatmap_size, sigma)
    rng = np.random.default_rng(0)
    w_in, h_in = input_size
    kps = np.stack([rng.uniform(0, w_in - 1, 200), rng.uniform(0, h_in - 1, 200)], 1)
    heat, weight = codec.encode(kps.astype(np.float32), np.ones(200))
    assert heat.dtype == np.float32 and heat.shape == (200, heatmap_size[1], heatmap_size[0])
    assert weight.dtype == np.float32 and (weight == 1).all()
    coords, scores = codec.decode(torch.from_numpy(heat)[None])
    assert coords.shape == (1, 200, 2) and scores.shape == (1, 200)
    err = np.abs(coords[0].numpy() - kps) / np.array(codec.stride)  # in output px
    assert err.max() < 0.25
    assert err.max() < 1e-3  # the log-parabola fit is exact for a clean Gaussian


def test_pixel_centre_convention() -> None:
    codec = HeatmapCodec((128, 128), (32, 32), 1.0)
    # u = (x + 0.5) / 4 - 0.5: input x = 1.5 is heat-map pixel 0, x = 5.5 pixel 1.
    heat, _ = codec.encode(np.array([[1.5, 5.5]], np.float32), np.ones(1))
    assert heat[0, 1, 0] == pytest.approx(1.0)
    assert np.unravel_index(heat[0].argmax(), heat[0].shape) == (1, 0)
    np.testing.assert_allclose(codec.to_input(codec.to_heatmap(np.array([3.3, 7.1]))), [3.3, 7.1])


def test_missing_and_outside_joints_get_zero_maps() -> None:
    codec = HeatmapCodec((64, 64), (16, 16), 1.0)
    kps = np.array(
        [[30, 30], [np.nan, 3], [np.inf, 2], [30, 30], [-40, 10], [64 + 4 * 4, 30], [66, 30]],
        np.float32,
    )
    weight = np.array([1, 1, 1, 0, 1, 1, 1], np.float32)
    heat, w = codec.encode(kps, weight)
    assert np.isfinite(heat).all() and np.isfinite(w).all()
    np.testing.assert_array_equal(w, [1, 0, 0, 0, 0, 0, 1])  # last: just outside, within 3σ
    assert (heat[1:6] == 0).all()
    assert heat[0].max() > 0.5 and heat[6].max() > 0


def test_refine_with_uses_argmax_of_one_map_and_centroid_of_other() -> None:
    codec = HeatmapCodec((32, 32), (32, 32), 1.0)  # stride 1: input px == heat-map px
    target = np.array([[10.3, 20.0]], np.float32)
    gauss = torch.from_numpy(codec.encode(target, np.ones(1))[0])[None]
    onehot = torch.zeros_like(gauss)
    onehot[0, 0, 20, 10] = 5.0  # no sub-pixel information in the argmax map
    plain, _ = codec.decode(onehot)
    assert plain[0, 0].tolist() == [10.0, 20.0]
    refined, score = codec.decode(onehot, refine_with=gauss - 0.2)  # negatives are clamped
    assert score[0, 0] == pytest.approx(5.0)
    assert 10.05 < refined[0, 0, 0] < 10.3 and refined[0, 0, 1] == pytest.approx(20.0, abs=1e-4)
    exact, _ = codec.decode(onehot, refine_with=gauss, refine="parabola")
    np.testing.assert_allclose(exact[0].numpy(), target, atol=1e-3)


def test_soft_argmax_on_log_space_maps() -> None:
    codec = HeatmapCodec((128, 128), (32, 32), 1.0)
    kps = np.array([[40.2, 70.9], [90.0, 33.3]], np.float32)
    heat, _ = codec.encode(kps, np.ones(2))
    logits = torch.from_numpy(np.log(heat + 1e-30))[None]  # like the spatial model's output
    coords, _ = codec.decode(logits, method="soft_argmax")
    np.testing.assert_allclose(coords[0].numpy(), kps, atol=0.05)
    with pytest.raises(ValueError, match="unknown decode method"):
        codec.decode(logits, method="nope")


def test_parabola_on_log_space_maps_is_exact() -> None:
    # The spatial model's logits are a log-density: fitting the parabola to them directly (not
    # to their log, which is undefined for negative values) recovers a Gaussian's centre.
    codec = HeatmapCodec((128, 128), (32, 32), 1.0)
    kps = np.array([[40.2, 70.9], [90.0, 33.3], [1.0, 126.0]], np.float32)
    heat, _ = codec.encode(kps, np.ones(3))
    logits = torch.from_numpy(np.log(heat + 1e-30) - 7.0)[None]  # shifted: all negative
    exact, _ = codec.decode(logits, log_space=True)
    np.testing.assert_allclose(exact[0].numpy(), kps, atol=1e-3)
    naive, _ = codec.decode(logits)  # log of clamped negatives: flat, stays on the pixel grid
    assert np.abs(naive[0].numpy() - kps).max() > 0.3


def test_decode_zero_maps_is_finite() -> None:
    codec = HeatmapCodec((64, 64), (16, 16), 1.0)
    for kw in ({}, {"refine_with": torch.zeros(2, 3, 16, 16)}, {"method": "soft_argmax"}):
        coords, scores = codec.decode(torch.zeros(2, 3, 16, 16), **kw)
        assert torch.isfinite(coords).all() and torch.isfinite(scores).all()
