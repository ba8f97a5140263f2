"""colorutils.color: accuracy against scikit-image, round trips, gradients, graph safety, errors."""

from __future__ import annotations

import doctest
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from skimage import color as skcolor

from colorutils import color


def _cube_colours() -> np.ndarray:
    """1e6 random colours + the cube's 8 corners + its 12 edges + values at the curve knees."""
    rng = np.random.default_rng(0)
    random = rng.random((1_000_000, 3))
    corners = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    t = np.linspace(0.0, 1.0, 257)
    edges = []
    for axis in range(3):  # an edge varies one channel with the other two at 0 or 1
        for others in itertools.product([0.0, 1.0], repeat=2):
            e = np.empty((t.size, 3))
            e[:, axis] = t
            e[:, [i for i in range(3) if i != axis]] = others
            edges.append(e)
    knees = np.array([0.04045, 0.04045 + 1e-12, 0.0031308, 1e-7]).repeat(3).reshape(-1, 3)
    return np.concatenate([random, corners, *edges, knees])


@pytest.fixture(scope="module")
def colours():
    rgb = _cube_colours()
    return rgb, skcolor.rgb2lab(rgb)


# ----- accuracy ---------------------------------------------------------------------------------

def test_lab_matches_skimage_float64(colours):
    rgb, ref = colours
    assert rgb.shape[0] >= 1_000_000
    ours = color.rgb_to_lab(rgb)
    assert ours.dtype == tf.float64
    assert np.abs(ours.numpy() - ref).max() <= 2e-4


def test_lab_matches_skimage_float32(colours):
    rgb, ref = colours
    ours = color.rgb_to_lab(rgb.astype(np.float32))
    assert ours.dtype == tf.float32
    assert np.abs(ours.numpy() - ref).max() <= 1e-2


def test_lab_in_a_graph_matches_skimage_too(colours):
    """In a graph (tf.data, a model) the conversion is one XLA kernel; uint8 input is
    linearised by a lookup table.  Same accuracy budget as eagerly."""
    rgb, ref = colours
    graph = tf.function(color.rgb_to_lab)
    assert np.abs(graph(tf.constant(rgb.astype(np.float32))).numpy() - ref).max() <= 1e-2
    levels = np.round(rgb * 255.0)
    ours8 = graph(tf.constant(levels.astype(np.uint8))).numpy()
    assert np.abs(ours8 - skcolor.rgb2lab(levels / 255.0)).max() <= 1e-2
    eager8 = color.rgb_to_lab(levels.astype(np.uint8)).numpy()
    assert np.abs(eager8 - skcolor.rgb2lab(levels / 255.0)).max() <= 1e-2


def test_lab_float16_is_computed_in_float32_and_returned_as_float16(colours):
    rgb, ref = colours
    ours = color.rgb_to_lab(rgb[:10_000].astype(np.float16))
    assert ours.dtype == tf.float16
    ref16 = skcolor.rgb2lab(rgb[:10_000].astype(np.float16).astype(np.float64))
    # float16 has ~3 significant digits: 0.06 near L = 100.
    assert np.abs(ours.numpy().astype(np.float64) - ref16).max() <= 0.1
    assert color.rgb_to_lab(tf.constant(rgb[:10], tf.bfloat16)).dtype == tf.bfloat16
    back = color.lab_to_rgb(ours)
    assert back.dtype == tf.float16


def test_lab_round_trip_float64(colours):
    rgb, ref = colours
    back, mask = color.lab_to_rgb(ref, return_mask=True)
    assert np.abs(back.numpy() - rgb).max() <= 1e-6
    assert not mask.numpy().any(), "colours that came from sRGB must be in gamut"


def test_lab_to_rgb_matches_skimage_in_gamut(colours):
    rgb, ref = colours
    ours = color.lab_to_rgb(ref[:100_000].astype(np.float32)).numpy()
    assert np.abs(ours - skcolor.lab2rgb(ref[:100_000])).max() <= 1e-4


def test_known_values():
    # white and grays are neutral up to 0.005: the sRGB matrix's rows sum to the D65 white only
    # to 4 digits (the same in scikit-image)
    np.testing.assert_allclose(color.rgb_to_lab([1.0, 1.0, 1.0]).numpy(), [100, 0, 0], atol=5e-3)
    np.testing.assert_allclose(color.rgb_to_lab([0.0, 0.0, 0.0]).numpy(), [0, 0, 0], atol=1e-5)
    # sRGB red, from the CIE formulas (e.g. brucelindbloom.com, D65)
    np.testing.assert_allclose(color.rgb_to_lab([1.0, 0.0, 0.0]).numpy(),
                               [53.24, 80.09, 67.20], atol=0.01)


def test_docstring_examples_run():
    result = doctest.testmod(color, extraglobs={"tf": tf}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_hsv_matches_tensorflow_and_skimage(colours):
    rgb = colours[0][:200_000]
    ours = color.rgb_to_hsv(rgb).numpy()
    assert np.abs(ours - skcolor.rgb2hsv(rgb)).max() <= 1e-9
    ref_tf = tf.image.rgb_to_hsv(rgb.astype(np.float32)).numpy()
    ours32 = color.rgb_to_hsv(rgb.astype(np.float32)).numpy()
    assert np.abs(ours32 - ref_tf).max() <= 1e-5
    hsv = skcolor.rgb2hsv(rgb)
    assert np.abs(color.hsv_to_rgb(hsv).numpy() - skcolor.hsv2rgb(hsv)).max() <= 1e-9
    hsv32 = hsv.astype(np.float32)  # tf.image.hsv_to_rgb computes in float32
    assert np.abs(color.hsv_to_rgb(hsv32).numpy()
                  - tf.image.hsv_to_rgb(hsv32).numpy()).max() <= 1e-6


def test_yuv_matches_tensorflow_and_skimage(colours):
    rgb = colours[0][:200_000]
    ours = color.rgb_to_yuv(rgb).numpy()
    assert np.abs(ours - tf.image.rgb_to_yuv(rgb).numpy()).max() <= 1e-9
    assert np.abs(ours - skcolor.rgb2yuv(rgb)).max() <= 1e-9
    assert np.abs(color.yuv_to_rgb(ours).numpy() - rgb).max() <= 1e-9


# ----- properties --------------------------------------------------------------------------------

_rgb_arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5).map(
    lambda s: (*s, 3)), elements=st.floats(0.0, 1.0))


@settings(max_examples=40, deadline=None)
@given(_rgb_arrays)
def test_property_round_trips_and_ranges(rgb):
    lab = color.rgb_to_lab(rgb).numpy()
    assert lab.shape == rgb.shape
    assert (lab[..., 0] >= -1e-9).all() and (lab[..., 0] <= 100 + 1e-9).all()
    assert (np.abs(lab[..., 1:]) <= 128).all()
    np.testing.assert_allclose(color.lab_to_rgb(lab).numpy(), rgb, atol=1e-6)
    hsv = color.rgb_to_hsv(rgb).numpy()
    assert ((hsv >= 0) & (hsv <= 1)).all() and (hsv[..., 0] < 1).all()
    np.testing.assert_allclose(color.hsv_to_rgb(hsv).numpy(), rgb, atol=1e-9)
    np.testing.assert_allclose(color.yuv_to_rgb(color.rgb_to_yuv(rgb)).numpy(), rgb, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, (4, 3), elements=st.floats(-200, 200, width=32)))
def test_property_lab_to_rgb_clips_and_masks_any_lab(lab):
    rgb, mask = color.lab_to_rgb(lab, return_mask=True)
    rgb = rgb.numpy()
    assert np.isfinite(rgb).all() and (rgb >= 0).all() and (rgb <= 1).all()
    raw = color.lab_to_rgb(lab, clip=False).numpy()
    outside = ((raw < -0.25 / 255) | (raw > 1 + 0.25 / 255)).any(-1)
    np.testing.assert_array_equal(mask.numpy(), outside)


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_property_hue_is_circular(h, s, v):
    """Hue 0 and hue 1 are the same colour: shifting by a full turn changes nothing."""
    a = color.hsv_to_rgb([h, s, v]).numpy()
    b = color.hsv_to_rgb([h + 1.0, s, v]).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)


# ----- gradients ---------------------------------------------------------------------------------

def _grid(n=11):
    g = np.linspace(0.0, 1.0, n)  # includes 0 and 1, and the curve knees' neighbourhoods
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_lab_gradients_are_finite_on_a_grid_including_0_and_1(dtype):
    rgb = tf.constant(np.concatenate([_grid(), [[0.04045] * 3, [0.0031308] * 3]]), dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(rgb)
        lab = color.rgb_to_lab(rgb)
        outputs = [lab, color.lab_to_rgb(lab, clip=False), color.rgb_to_hsv(rgb),
                   color.rgb_to_yuv(rgb)]
        # one row of each pixel's Jacobian per output channel (pixels are independent)
        rows = [out[:, k] for out in outputs for k in range(3)]
    for row in rows:
        assert np.isfinite(tape.gradient(row, rgb).numpy()).all()
    dL = tape.gradient(rows[0], rgb).numpy()
    assert (dL > 0).all()  # L grows with every channel, also at 0 and 1: the gradient flows


def test_lab_to_rgb_gradients_finite_for_black_white_and_out_of_gamut():
    lab = tf.constant([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 80.0, -80.0],
                       [50.0, 120.0, 120.0], [-5.0, 0.0, 0.0], [30.0, -128.0, 127.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(lab)
        rgb, _ = color.lab_to_rgb(lab, clip=False, return_mask=True)
        rows = [rgb[:, k] for k in range(3)]
    for row in rows:
        assert np.isfinite(tape.gradient(row, lab).numpy()).all()


# ----- input contract ----------------------------------------------------------------------------

def test_uint8_input_equals_float_divided_by_255():
    rgb8 = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    lab = color.rgb_to_lab(rgb8)
    assert lab.dtype == tf.float32
    np.testing.assert_allclose(lab.numpy(), skcolor.rgb2lab(rgb8), atol=1e-3)
    np.testing.assert_allclose(lab.numpy(), color.rgb_to_lab(rgb8 / 255.0).numpy(), atol=1e-4)
    rgb16 = rgb8.astype(np.uint16) * 257  # 16-bit PNGs: 255 * 257 = 65535
    np.testing.assert_allclose(color.rgb_to_lab(rgb16).numpy(), lab.numpy(), atol=1e-3)


def test_float_0_255_raises_and_names_the_fix():
    img = np.random.default_rng(2).random((8, 8, 3)) * 255.0
    with pytest.raises(ValueError, match=r"up to 25\d\.\d.*divide by 255 or pass uint8"):
        color.rgb_to_lab(img)
    for fn in (color.rgb_to_hsv, color.rgb_to_yuv):
        with pytest.raises(ValueError, match="divide by 255"):
            fn(img)
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        color.rgb_to_lab(img / 127.5 - 1.0)
    with pytest.raises(ValueError, match="clip"):
        color.rgb_to_lab(np.full((2, 3), 1.05))
    with pytest.raises(ValueError, match="NaN"):
        color.rgb_to_lab(np.full((2, 3), np.nan))
    color.rgb_to_lab(np.full((2, 3), 1.0 + 0.5e-3))  # within tolerance
    color.rgb_to_lab(img, validate=False)  # the check can be switched off deliberately


def test_bad_range_fails_in_graph_mode_with_the_same_advice():
    fn = tf.function(color.rgb_to_lab)
    with pytest.raises(tf.errors.InvalidArgumentError, match="divide by 255 or pass uint8"):
        fn(tf.constant([[200.0, 10.0, 10.0]]))
    np.testing.assert_allclose(fn(tf.constant([[1.0, 1.0, 1.0]])).numpy(), [[100, 0, 0]],
                               atol=5e-3)


def test_wrong_shapes_and_dtypes_raise():
    with pytest.raises(ValueError, match="3 channels.*alpha"):
        color.rgb_to_lab(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="3 channels.*grayscale"):
        color.rgb_to_lab(np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match="scalar"):
        color.rgb_to_lab(0.5)
    with pytest.raises(ValueError, match="int32"):
        color.rgb_to_lab(np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match="lab must have 3 channels"):
        color.lab_to_rgb(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="float"):
        color.lab_to_rgb(np.zeros((2, 3), np.uint8))


# ----- graph safety -------------------------------------------------------------------------------

def test_inside_tf_data_map_and_keras_layer():
    rgb8 = np.random.default_rng(3).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    expected = color.rgb_to_lab(rgb8).numpy()
    ds = tf.data.Dataset.from_tensor_slices(rgb8).map(
        color.rgb_to_lab, num_parallel_calls=tf.data.AUTOTUNE).batch(6)
    # In a graph the conversion is one XLA kernel: the same formulas, other float32 rounding
    # (both within 1e-2 of scikit-image: test_lab_in_a_graph_matches_skimage_too)
    np.testing.assert_allclose(next(iter(ds)).numpy(), expected, atol=5e-4)

    ds_bad = tf.data.Dataset.from_tensor_slices(rgb8.astype(np.float32)).map(color.rgb_to_lab)
    with pytest.raises(tf.errors.InvalidArgumentError, match="divide by 255"):
        next(iter(ds_bad))

    xla = tf.function(color.rgb_to_lab, jit_compile=True)  # compiles (assertions dropped)
    np.testing.assert_allclose(xla(rgb8.astype(np.float32) / 255.0).numpy(), expected,
                               atol=1e-3)

    class ToLab(keras.layers.Layer):
        def call(self, x):
            return color.rgb_to_lab(x)

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, ToLab()(inputs))
    out = model.predict(rgb8.astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(out, expected, atol=1e-4)


# ----- gamut --------------------------------------------------------------------------------------

def test_gamut_mask_flags_out_of_gamut_lab():
    lab = np.array([
        [50.0, 0.0, 0.0],  # mid gray: in gamut
        [53.24, 80.09, 67.20],  # sRGB red: in gamut (on the boundary)
        [5.0, 80.0, -80.0],  # very dark and very saturated: out
        [95.0, -100.0, 0.0],  # very light green beyond sRGB: out
        [50.0, 0.0, -120.0],  # blue beyond sRGB: out
    ], np.float32)
    rgb, mask = color.lab_to_rgb(lab, return_mask=True)
    np.testing.assert_array_equal(mask.numpy(), [False, False, True, True, True])
    assert mask.dtype == tf.bool and mask.shape == (5,)
    raw = color.lab_to_rgb(lab, clip=False).numpy()
    assert ((raw[2:] < 0) | (raw[2:] > 1)).any(-1).all()  # clip=False shows how far out
    assert ((rgb.numpy() >= 0) & (rgb.numpy() <= 1)).all()


# ----- normalisation and recombination -------------------------------------------------------------

def test_normalisation_is_invertible_and_maps_l_to_unit_interval():
    L = np.array([0.0, 50.0, 100.0])
    np.testing.assert_allclose(color.normalize_l(L), [-1, 0, 1])
    np.testing.assert_allclose(color.denormalize_l(color.normalize_l(L)), L)


def test_split_lab_and_recombine_round_trip():
    rgb = np.random.default_rng(4).random((2, 8, 8, 3)).astype(np.float32)
    l_norm, ab = color.split_lab(color.rgb_to_lab(rgb))
    assert l_norm.shape == (2, 8, 8, 1) and ab.shape == (2, 8, 8, 2)
    assert float(tf.reduce_min(l_norm)) >= -1 and float(tf.reduce_max(l_norm)) <= 1
    np.testing.assert_allclose(color.recombine(l_norm, ab).numpy(), rgb, atol=1e-4)
    np.testing.assert_allclose(color.recombine(l_norm[0], ab[0]).numpy(), rgb[0], atol=1e-4)


def test_recombine_resizes_low_resolution_ab_and_keeps_full_resolution_l():
    rgb = np.random.default_rng(5).random((2, 16, 16, 3)).astype(np.float32)
    l_norm, _ = color.split_lab(color.rgb_to_lab(rgb))
    ab_small = tf.tile(tf.constant([[[[20.0, -30.0]]]]), [2, 4, 4, 1])  # 4x4 constant ab
    out = color.recombine(l_norm, ab_small)
    assert out.shape == (2, 16, 16, 3)
    lab_out = color.rgb_to_lab(out).numpy()
    raw = color.lab_to_rgb(tf.concat([color.denormalize_l(l_norm),
                                      tf.broadcast_to([20.0, -30.0], (2, 16, 16, 2))], -1),
                           clip=False).numpy()
    in_gamut = ((raw >= 0) & (raw <= 1)).all(-1)
    assert in_gamut.mean() > 0.5
    # where the target colour is displayable, L is the true full-resolution L and ab the
    # upsampled constant
    np.testing.assert_allclose(lab_out[..., 0][in_gamut],
                               color.denormalize_l(l_norm).numpy()[..., 0][in_gamut], atol=1e-2)
    np.testing.assert_allclose(lab_out[..., 1:][in_gamut], np.broadcast_to([20, -30], (
        int(in_gamut.sum()), 2)), atol=1e-2)
    # a varying low-res ab is interpolated like tf.image.resize(bilinear)
    ab_var = tf.random.stateless_uniform((2, 4, 4, 2), (0, 1), -20, 20)
    manual = color.lab_to_rgb(tf.concat([color.denormalize_l(l_norm),
                                         tf.image.resize(ab_var, (16, 16))], -1))
    np.testing.assert_allclose(color.recombine(l_norm, ab_var).numpy(), manual.numpy(),
                               atol=1e-6)


def test_recombine_inside_tf_function_with_unknown_sizes():
    fn = tf.function(color.recombine, input_signature=[
        tf.TensorSpec([None, None, None, 1]), tf.TensorSpec([None, None, None, 2])])
    out = fn(tf.zeros((1, 8, 8, 1)), tf.zeros((1, 2, 2, 2)))
    assert out.shape == (1, 8, 8, 3)
    np.testing.assert_allclose(out.numpy(), color.lab_to_rgb([50.0, 0.0, 0.0]).numpy()
                               * np.ones((1, 8, 8, 3)), atol=1e-6)


# ----- ab-plane figures (colorutils.viz) -------------------------------------------------------------

def test_ab_plane_marks_the_gamut_and_orients_b_upwards():
    from colorutils import viz

    rgb, inside = viz.ab_plane(50.0, extent=100.0, resolution=41)
    assert rgb.shape == (41, 41, 3) and inside.shape == (41, 41)
    assert inside[20, 20]  # a = b = 0: gray, in gamut
    assert not inside[0, 0] and not inside[-1, -1]  # corners (|a| = |b| = 100) are not
    np.testing.assert_allclose(rgb[20, 20], color.lab_to_rgb([50.0, 0.0, 0.0]).numpy(),
                               atol=1e-6)
    assert (rgb[~inside] == 1.0).all()  # out of gamut painted white
    # the top rows are +b (yellow, b = 40 in row 12): more red + green than blue
    top = rgb[12][inside[12]]
    assert top.size and (top[:, :2].mean(-1) > top[:, 2]).all()
    # the gamut shrinks towards black
    assert viz.ab_plane(10.0, 100.0, 41)[1].mean() < inside.mean()


def test_ab_figures_have_titles_and_labels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from colorutils import viz

    fig = viz.plot_ab_gamut([30, 70], resolution=21)
    assert len(fig.axes) == 2 and all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    assert "in gamut" in fig.axes[0].get_title()
    ab = np.random.default_rng(6).normal(0, 10, (5, 8, 8, 2))
    fig2 = viz.plot_ab_histogram(ab, bin_size=10)
    assert fig2.axes[0].get_xlabel().startswith("a") and "log" in fig2.axes[0].get_title()
    with pytest.raises(ValueError, match="empty"):
        viz.plot_ab_histogram(np.zeros((0, 2)))
    photo = np.random.default_rng(7).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    fig3 = viz.plot_color_spaces(photo)
    titles = [ax.get_title() for ax in fig3.axes]
    for name in ("Lab: L", "Lab: a", "HSV: H (circular)", "YUV: U", "RGB: B"):
        assert name in titles
    with pytest.raises(ValueError, match="divide by 255"):
        viz.plot_color_spaces(photo.astype(np.float32))
    plt.close("all")
