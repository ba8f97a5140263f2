"""The Colorizer (issue 22): a model's target space and ab bins are read back, never guessed.

Every consumer (``colorutils evaluate``, the quality figures, the Turing pairs) must decode a
YUV or HSV regressor in its own space and a classifier over its own bins; each test compares
with the same decoding done by hand.
"""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorutils import color, data, evaluation, inference, losses, models, quantize, turing
from colorutils.errors import UserError

SIZE = 16
#: The constant output of the test regressor, in its own units (``[-AB_SCALE, AB_SCALE]``).
CHROMA = (40.0, -60.0)


def _constant_model(values):
    """l_norm -> {"ab": the constant ``values`` at every pixel} (zero kernel, set bias)."""
    inp = keras.Input((None, None, 1), name="l_norm")
    conv = keras.layers.Conv2D(len(values), 1, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(list(values)))
    return keras.Model(inp, {"ab": conv(inp)})


def _by_hand(l_norm, space):
    """What a regressor predicting CHROMA in ``space`` means, in Lab ab."""
    chroma = np.broadcast_to(np.float32(CHROMA), tuple(l_norm.shape[:3]) + (2,))
    return losses.chroma_to_ab(l_norm, chroma, space).numpy()


def _regression_run(tmp_path, space):
    """A finished run folder of a regressor compiled in ``space`` (as train.fit leaves it)."""
    run_dir = tmp_path / f"regression_{space}"
    run_dir.mkdir()
    model = models.compile_model(_constant_model(CHROMA), space=space)
    model.save(run_dir / "best.keras")
    (run_dir / "config.json").write_text(json.dumps(
        {"config": {"space": space, "image_size": SIZE}, "seed": 0}))
    (run_dir / "metrics.json").write_text("{}")
    return run_dir, model


def _test_photos(size=SIZE, limit=4):
    return data.to_arrays(data.load("sample", "test", size, batch_size=32, shuffle=False,
                                    limit=limit))[:2]


@pytest.mark.parametrize("space", ["yuv", "hsv"])
def test_evaluate_command_scores_a_regressor_in_its_own_space(space, tmp_path, capsys):
    from colorutils import cli

    run_dir, _ = _regression_run(tmp_path, space)
    out = tmp_path / "scores"
    status = cli.main(["evaluate", "--model", str(run_dir), "--dataset", "sample",
                       "--limit", "4", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    rows = [r for r in csv.DictReader(open(out / "per_image.csv")) if r["method"] == run_dir.name]
    l_norm, ab = _test_photos()
    hand = evaluation.evaluate({"hand": lambda x: _by_hand(x, space)}, (l_norm, ab),
                               baselines=())
    as_lab = evaluation.evaluate({"lab": lambda x: _by_hand(x, "lab")}, (l_norm, ab),
                                 baselines=())
    for metric in ("psnr", "auc", "colorfulness"):
        got = np.array([float(r[metric]) for r in rows])
        np.testing.assert_allclose(got, hand.column(metric, "hand"), rtol=1e-4, atol=1e-5)
        assert not np.allclose(got, as_lab.column(metric, "lab"), rtol=1e-3), (
            f"{metric}: decoding as Lab gives the same numbers; the test cannot tell")


@pytest.mark.parametrize("space", ["yuv", "hsv"])
def test_quality_figures_decode_a_regressor_in_its_own_space(space, tmp_path):
    run_dir, trained = _regression_run(tmp_path, space)
    l_norm, ab = _test_photos()
    expected = evaluation.quality_of(l_norm, ab, _by_hand(l_norm, space))
    for model in (inference.load_colorizer(run_dir), trained):  # loaded, and in the session
        figures = evaluation.quality_figures(model, l_norm, ab)["model"]
        for key, value in figures.items():
            np.testing.assert_allclose(value, expected[key], rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("space", ["yuv", "hsv"])
def test_turing_pairs_decode_a_regressor_in_its_own_space(space, tmp_path):
    run_dir, _ = _regression_run(tmp_path, space)
    real, fake = turing.make_pairs(inference.load_colorizer(run_dir), "sample", SIZE, 2,
                                   limit=4)
    big_l, big_ab = _test_photos(2 * SIZE)
    pick = [0, 3]  # two photos evenly over the first four
    small_l = tf.image.resize(big_l[pick], (SIZE, SIZE), antialias=True)
    hand_ab = tf.image.resize(_by_hand(small_l, space), (2 * SIZE, 2 * SIZE), method="bilinear")
    np.testing.assert_allclose(fake, color.recombine(big_l[pick], hand_ab).numpy(), atol=1e-4)
    np.testing.assert_allclose(real, color.recombine(big_l[pick], big_ab[pick]).numpy(),
                               atol=1e-6)


def _zhang_313_bins():
    """313 centres on the grid-10 lattice, 51 of them outside sRGB, like Zhang et al.'s
    ``pts_in_hull.npy`` (whose exact set is not shipped): no grid size gives this count."""
    inside = quantize.ab_bins(10)
    known = {tuple(b) for b in inside.tolist()}
    lattice = np.array([(a, b) for a in range(-120, 121, 10) for b in range(-120, 121, 10)
                        if (float(a), float(b)) not in known], np.float32)
    distance = np.abs(lattice[:, None, :] - inside[None]).sum(-1).min(1)
    outside = lattice[np.lexsort((lattice[:, 1], lattice[:, 0], distance))][:51]
    return np.concatenate([inside, outside]).astype(np.float32)


def _logits_313():
    logits = np.full(313, -30.0, np.float32)
    logits[300], logits[10] = 2.0, 1.0  # mass on an out-of-sRGB bin and an in-gamut one
    return logits


def _decoded_by_hand(logits, bins, temperature, shape):
    x = tf.constant(np.broadcast_to(logits, shape + (len(bins),)))
    return quantize.decode(x, bins, "annealed_mean", temperature=temperature).numpy()


def test_a_classifier_over_zhangs_313_bins_is_decoded_through_the_colorizer(tmp_path):
    bins = _zhang_313_bins()
    assert len(bins) == 313
    with pytest.raises(ValueError, match="num_bins=313"):
        quantize.grid_size_for(313)  # the channel count alone cannot give these bins
    model = models.compile_model(_constant_model(_logits_313()), bins=bins)
    model.save(tmp_path / "zhang.keras")
    colorizer = inference.load_colorizer(tmp_path / "zhang.keras", image_size=SIZE)
    assert colorizer.kind == "classification"
    np.testing.assert_array_equal(colorizer.bins, bins)
    l_norm = np.zeros((2, SIZE, SIZE, 1), np.float32)
    expected = _decoded_by_hand(_logits_313(), bins, quantize.TEMPERATURE, (2, SIZE, SIZE))
    np.testing.assert_allclose(colorizer.predict_ab(l_norm), expected, atol=1e-3)
    np.testing.assert_allclose(inference.predict_ab(model, l_norm), expected, atol=1e-3)


def test_a_sidecar_gives_a_keras_file_its_bins_size_and_decoding(tmp_path):
    bins = _zhang_313_bins()
    _constant_model(_logits_313()).save(tmp_path / "photo.keras")  # not compiled: no record
    with pytest.raises(UserError, match="313 logits but no ab bins"):
        inference.load_colorizer(tmp_path / "photo.keras", image_size=SIZE)
    (tmp_path / "photo.json").write_text(json.dumps(
        {"image_size": SIZE, "bins": bins.tolist(), "temperature": 0.2, "smooth_sigma": None,
         "provenance": {"dataset": "a test"}}))
    colorizer = inference.load_colorizer(tmp_path / "photo.keras")
    assert colorizer.image_size == SIZE and colorizer.temperature == 0.2
    assert colorizer.provenance["dataset"] == "a test"
    l_norm = np.zeros((1, SIZE, SIZE, 1), np.float32)
    np.testing.assert_allclose(colorizer.predict_ab(l_norm),
                               _decoded_by_hand(_logits_313(), bins, 0.2, (1, SIZE, SIZE)),
                               atol=1e-3)
    (tmp_path / "photo.json").write_text(json.dumps({"image_size": SIZE, "grid_sise": 10}))
    with pytest.raises(UserError, match="grid_sise"):
        inference.load_colorizer(tmp_path / "photo.keras")


def test_compile_model_in_yuv_trains_on_yuv_targets():
    net = models.compile_model(models.unet("regression", width=0.125, depth=2), space="yuv")
    ds = data.load("sample", "train", SIZE, batch_size=4, shuffle=False, augment=False, limit=4)
    l_norm, targets = next(iter(models.targets_for(net, ds)))
    _, lab_targets = next(iter(ds))
    np.testing.assert_allclose(targets["ab"],
                               losses.chroma_targets(l_norm, lab_targets["ab"], "yuv"), atol=1e-4)
    assert not np.allclose(targets["ab"], lab_targets["ab"], atol=1.0)


def _smooth_photo(seed, size=40):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (2, 2, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BILINEAR))


def test_a_folder_source_of_tif_and_webp_files_trains(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(8):
        suffix = (".tif", ".webp", ".TIFF", ".webp")[i % 4]
        Image.fromarray(_smooth_photo(i)).save(folder / f"p{i}{suffix}", lossless=True)
    source = f"folder:{folder}"
    assert sum(data.info(source).split_sizes.values()) == 8  # every file is listed
    webp = str(folder / "p1.webp")
    np.testing.assert_array_equal(data.decode_file(webp).numpy(),
                                  np.asarray(Image.open(webp).convert("RGB")))
    train = data.load(source, "train", SIZE, batch_size=4, shuffle=False)
    net = models.compile_model(models.unet("regression", width=0.125, depth=2))
    history = net.fit(models.targets_for(net, train), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
