"""colorutils.quantize: the gamut bins, soft encoding, prior, rebalancing and decoding."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from colorutils import color, quantize


def brute_force_soft(ab, bins, k, sigma):
    """Reference: float64 distances to every bin, sort, Gaussian weights (one pixel at a time
    would be the original layer; the matrix form gives the same numbers)."""
    ab = np.asarray(ab, np.float64).reshape(-1, 2)
    bins = np.asarray(bins, np.float64)
    d2 = ((ab[:, None, :] - bins[None]) ** 2).sum(-1)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    dk = np.take_along_axis(d2, idx, 1)
    w = np.exp(-(dk - dk[:, :1]) / (2 * sigma**2))
    w /= w.sum(1, keepdims=True)
    z = np.zeros_like(d2)
    np.put_along_axis(z, idx, w, 1)
    return z


# ------------------------------------------------------------------------------------ bins

def test_grid10_has_262_srgb_bins_on_multiples_of_10():
    bins = quantize.ab_bins()
    assert bins.shape == (262, 2)
    assert bins.dtype == np.float32
    np.testing.assert_array_equal(bins % 10, 0)
    assert len(np.unique(bins, axis=0)) == len(bins)
    # the sRGB range of a, b: about [-86, 98] x [-108, 94] -> centres [-90, 100] x [-110, 90]
    np.testing.assert_array_equal(bins.min(0), [-90, -110])
    np.testing.assert_array_equal(bins.max(0), [100, 90])


def test_every_srgb_colour_falls_in_a_bin_and_bins_hold_srgb_colours():
    rng = np.random.default_rng(0)
    rgb = np.concatenate([rng.uniform(0, 1, (200_000, 3)),
                          np.array(np.meshgrid(*[[0, 1]] * 3)).reshape(3, -1).T])
    ab = color.rgb_to_lab(tf.constant(rgb, tf.float64)).numpy()[:, 1:]
    cells = np.round(ab / 10) * 10
    bins = {tuple(b) for b in quantize.ab_bins(10)}
    assert {tuple(c) for c in cells} <= bins
    # the converse, up to sampling: random colours reach most of the bins, and an
    # independent, denser sampling of the cube faces gives exactly the same set
    assert len({tuple(c) for c in cells}) > 0.9 * len(bins)
    t = np.linspace(0, 1, 300)
    u, v = (g.ravel() for g in np.meshgrid(t, t))
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            p = np.empty((u.size, 3))
            others = [a for a in range(3) if a != axis]
            p[:, axis], p[:, others[0]], p[:, others[1]] = value, u, v
            faces.append(p)
    ab = color.rgb_to_lab(tf.constant(np.concatenate(faces), tf.float64)).numpy()[:, 1:]
    dense = {tuple(c) for c in np.round(ab / 10) * 10}
    assert dense == bins


def test_out_of_gamut_cells_are_not_bins():
    bins = {tuple(b) for b in quantize.ab_bins()}
    assert (0.0, 0.0) in bins
    for cell in [(100.0, 100.0), (-100.0, -100.0), (-90.0, 90.0), (120.0, 0.0)]:
        assert cell not in bins


def test_coarser_grids_have_fewer_bins_and_grid_size_for_inverts():
    counts = {g: len(quantize.ab_bins(g)) for g in (5, 10, 20, 40)}
    assert counts[5] > counts[10] > counts[20] > counts[40]
    for g, q in counts.items():
        assert quantize.grid_size_for(q) == g
    with pytest.raises(ValueError, match="313"):
        quantize.grid_size_for(313)  # Zhang et al.'s count is not an sRGB grid
    with pytest.raises(ValueError, match="grid_size"):
        quantize.ab_bins(0)


def test_ab_bins_returns_a_copy():
    b = quantize.ab_bins()
    b[:] = 0
    assert quantize.ab_bins().any()


def test_bins_to_grid_places_values_at_their_cells():
    bins = quantize.ab_bins(20)
    values = np.arange(len(bins), dtype=float)
    grid, (a0, a1, b0, b1) = quantize.bins_to_grid(values, bins)
    assert np.sum(np.isfinite(grid)) == len(bins)
    i = 7
    col = int((bins[i, 0] - a0) // 20)
    row = int((bins[i, 1] - b0) // 20)
    assert grid[row, col] == i
    assert (a1 - a0) / 20 == grid.shape[1] and (b1 - b0) / 20 == grid.shape[0]


# ------------------------------------------------------------------------------ encoding

@pytest.mark.parametrize("grid,k,sigma", [(10, 10, 5.0), (10, 5, 5.0), (20, 3, 8.0),
                                          (5, 10, 2.5)])
def test_soft_encode_matches_brute_force_knn(grid, k, sigma):
    bins = quantize.ab_bins(grid)
    rng = np.random.default_rng(grid + k)
    ab = rng.uniform(-115, 115, (3, 17, 19, 2)).astype(np.float32)
    z = quantize.soft_encode(ab, bins, k=k, sigma=sigma).numpy()
    assert z.shape == (3, 17, 19, len(bins))
    ref = brute_force_soft(ab, bins, k, sigma).reshape(z.shape)
    np.testing.assert_allclose(z, ref, atol=2e-5)


def test_soft_targets_sum_to_one_and_peak_at_the_nearest_bin():
    bins = quantize.ab_bins()
    rng = np.random.default_rng(1)
    ab = color.rgb_to_lab(rng.uniform(0, 1, (4000, 3)).astype(np.float32))[:, 1:]
    z = quantize.soft_encode(ab, bins).numpy()
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.count_nonzero(z, axis=-1) <= quantize.SOFT_K)
    nearest = np.argmin(((ab.numpy()[:, None] - bins[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(np.argmax(z, -1), nearest)
    np.testing.assert_array_equal(quantize.nearest_bin(ab, bins).numpy(), nearest)
    # at a bin centre the nearest bin takes by far the largest weight
    z0 = quantize.soft_encode(bins[:5], bins).numpy()
    assert np.all(z0[np.arange(5), np.arange(5)] > 0.5)


def test_soft_encode_k1_is_one_hot_and_works_in_a_dataset_map():
    bins = quantize.ab_bins()
    ab = np.random.default_rng(2).uniform(-60, 60, (2, 8, 8, 2)).astype(np.float32)
    z = quantize.soft_encode(ab, bins, k=1).numpy()
    assert set(np.unique(z)) == {0.0, 1.0}
    ds = tf.data.Dataset.from_tensor_slices(ab).map(lambda x: quantize.soft_encode(x, bins))
    np.testing.assert_allclose(np.stack(list(ds.as_numpy_iterator())),
                               quantize.soft_encode(ab, bins).numpy(), atol=1e-6)


def test_soft_encode_rejects_bad_arguments():
    bins = quantize.ab_bins()
    with pytest.raises(ValueError, match="k=0"):
        quantize.soft_encode(np.zeros((1, 2)), bins, k=0)
    with pytest.raises(ValueError, match="sigma"):
        quantize.soft_encode(np.zeros((1, 2)), bins, sigma=0)
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        quantize.soft_encode(np.zeros((4, 3)), bins)


# ---------------------------------------------------------------------- prior, weights

def _dataset(images):
    ab = tf.constant(np.asarray(images, np.float32))
    l_norm = tf.zeros(ab.shape[:-1] + (1,))
    return tf.data.Dataset.from_tensor_slices((l_norm, {"ab": ab})).batch(2)


def test_empirical_prior_counts_colour_pixels_and_skips_gray_images():
    bins = quantize.ab_bins()
    red = np.broadcast_to([60.0, 40.0], (8, 8, 2))
    blue = np.broadcast_to([10.0, -50.0], (8, 8, 2))
    gray = np.zeros((8, 8, 2))  # masked: every |a|, |b| <= 5
    nearly_gray = np.full((8, 8, 2), 2.0)
    ds = _dataset([red, red, red, blue, gray, gray, nearly_gray])
    prior, counts, n = quantize.empirical_prior(ds, bins, sigma=0, return_counts=True)
    assert n == 4
    assert counts.sum() == 4 * 64
    i_red = int(quantize.nearest_bin(np.array([60.0, 40.0]), bins))
    i_blue = int(quantize.nearest_bin(np.array([10.0, -50.0]), bins))
    i_gray = int(quantize.nearest_bin(np.zeros(2), bins))
    assert prior[i_red] == pytest.approx(0.75) and prior[i_blue] == pytest.approx(0.25)
    assert prior[i_gray] == 0
    smooth = quantize.empirical_prior(ds, bins)  # sigma 5: mass leaks to the neighbours
    assert smooth.sum() == pytest.approx(1.0)
    assert np.argmax(smooth) == i_red
    assert np.count_nonzero(smooth > 1e-6) > 2
    assert smooth[i_red] < 0.75


def test_empirical_prior_rejects_an_all_gray_dataset():
    with pytest.raises(ValueError, match="gray"):
        quantize.empirical_prior(_dataset([np.zeros((4, 4, 2))] * 2), quantize.ab_bins())


def test_rebalancing_weights_have_unit_expectation_and_grow_with_rarity():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.full(262, 0.3))
    for lam in (0.0, 0.25, 0.5, 0.9):
        w = quantize.rebalance_weights(p, lam)
        assert np.sum(p * w) == pytest.approx(1.0)
        order = np.argsort(p)  # from rarest to most common
        assert np.all(np.diff(w[order]) <= 1e-12)
        assert w[order[0]] > w[order[-1]]
    np.testing.assert_allclose(quantize.rebalance_weights(p, 1.0), 1.0)
    # lambda bounds the largest weight: rare colours get at most Q / lambda times
    w = quantize.rebalance_weights(p, 0.5)
    assert w.max() <= 2 * 262 + 1e-9
    with pytest.raises(ValueError, match="lam"):
        quantize.rebalance_weights(p, 1.5)
    with pytest.raises(ValueError, match="sums to 1"):
        quantize.rebalance_weights(p * 2)


# ----------------------------------------------------------------------------- decoding

def test_decoding_a_one_hot_returns_the_bin_centre():
    bins = quantize.ab_bins()
    probs = np.eye(len(bins), dtype=np.float32)[[0, 17, 140, 261]]
    for method in ("annealed_mean", "mean", "mode"):
        ab = quantize.decode(probs, bins, method=method, from_logits=False).numpy()
        np.testing.assert_allclose(ab, bins[[0, 17, 140, 261]], atol=1e-4)
    logits = np.where(probs > 0, 0.0, -1e4).astype(np.float32)
    np.testing.assert_allclose(quantize.decode(logits, bins).numpy(), bins[[0, 17, 140, 261]],
                               atol=1e-4)


def test_annealed_mean_goes_from_mean_at_t1_to_mode_as_t_vanishes():
    bins = quantize.ab_bins()
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (5, 6, len(bins))).astype(np.float32)
    mean = quantize.decode(logits, bins, "mean").numpy()
    mode = quantize.decode(logits, bins, "mode").numpy()
    np.testing.assert_allclose(quantize.decode(logits, bins, "annealed_mean", 1.0).numpy(),
                               mean, atol=1e-4)
    np.testing.assert_allclose(quantize.decode(logits, bins, "annealed_mean", 1e-3).numpy(),
                               mode, atol=1e-2)
    dist = [np.abs(quantize.decode(logits, bins, "annealed_mean", t).numpy() - mode).mean()
            for t in (1.0, 0.38, 0.1)]
    assert dist[0] > dist[1] > dist[2]
    # a bimodal distribution: the mean falls between the modes (the "brown" average)
    i, j = 30, 230
    two = np.full(len(bins), -1e4, np.float32)
    two[[i, j]] = 0.0
    np.testing.assert_allclose(quantize.decode(two, bins, "mean").numpy(),
                               (bins[i] + bins[j]) / 2, atol=1e-3)


def test_decode_rejects_bad_arguments():
    bins = quantize.ab_bins()
    with pytest.raises(ValueError, match="method"):
        quantize.decode(np.zeros((1, 262)), bins, method="median")
    with pytest.raises(ValueError, match="temperature"):
        quantize.decode(np.zeros((1, 262)), bins, temperature=0.0)
    with pytest.raises(ValueError, match="grid_size_for"):
        quantize.decode(np.zeros((1, 77)), bins)


def test_smooth_chroma_keeps_flat_chroma_and_removes_speckle():
    flat = np.broadcast_to(np.float32([20, -30]), (2, 24, 24, 2))
    np.testing.assert_allclose(quantize.smooth_chroma(flat, 2.0).numpy(), flat, atol=1e-4)
    noisy = np.random.default_rng(5).normal(0, 20, (2, 24, 24, 2)).astype(np.float32)
    out = quantize.smooth_chroma(noisy, 1.5).numpy()
    assert out.shape == noisy.shape
    assert out.std() < 0.4 * noisy.std()
    assert quantize.smooth_chroma(noisy, None) is not None
    np.testing.assert_array_equal(quantize.smooth_chroma(noisy, None).numpy(), noisy)
    with pytest.raises(ValueError, match="sigma"):
        quantize.smooth_chroma(noisy, -1)
