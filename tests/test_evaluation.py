"""colorutils.evaluation: the results table, the baselines, and `colorutils evaluate`."""

from __future__ import annotations

import csv
import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from colorutils import color, evaluation

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZE = 16


def _lab_arrays(n=6, seed=0, size=SIZE):
    rng = np.random.default_rng(seed)
    rgb = rng.uniform(0.05, 0.95, size=(n, size // 4, size // 4, 3)).astype(np.float32)
    rgb = tf.image.resize(rgb, (size, size), method="nearest").numpy()  # some structure
    lab = color.rgb_to_lab(rgb).numpy()
    return color.normalize_l(lab[..., :1]), lab[..., 1:], rgb


def _dataset(l_norm, ab, labels=None, batch=4):
    targets = {"ab": ab} if labels is None else {"ab": ab, "label": labels}
    return tf.data.Dataset.from_tensor_slices((l_norm, targets)).batch(batch)


def test_table_has_one_row_per_method_and_image_and_ground_truth_tops():
    l_norm, ab, _ = _lab_arrays()
    noisy = lambda x: ab[: len(x)] * 0 + 20.0  # noqa: E731 - a constant-colour "model"
    table = evaluation.evaluate({"const": noisy}, (l_norm, ab), mean_ab=[1.0, 2.0])
    assert table.methods == ["const", "gray", "mean_ab", "ground_truth"]
    assert len(table.rows) == 4 * 6
    assert [r["image"] for r in table.rows if r["method"] == "gray"] == list(range(6))
    summary = {r["method"]: r for r in table.summary()}
    gt = summary["ground_truth"]
    assert gt["n"] == 6 and np.isnan(gt["psnr"])  # infinite PSNR reported as n/a
    assert gt["ssim"] == pytest.approx(1.0, abs=1e-4) and gt["auc"] == pytest.approx(1.0)
    assert gt["colorfulness_ratio"] == pytest.approx(1.0, rel=1e-4)
    assert summary["gray"]["colorfulness"] < 1.0
    for name in ("const", "gray", "mean_ab"):
        assert summary[name]["auc"] < 1.0 and summary[name]["ab_distance"] > 0
    assert "auc_rebalanced" not in gt and "correct" not in gt


def test_batched_dataset_limit_labels_classifier_and_images():
    l_norm, ab, rgb = _lab_arrays(n=7)
    labels = np.arange(7) % 2
    keras = pytest.importorskip("keras")
    inp = keras.Input((None, None, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    clf = keras.Model(inp, keras.layers.Dense(2)(x))
    weights, bins = np.array([0.5, 2.0], np.float32), np.array([[0, 0], [40, 40]], np.float32)
    table = evaluation.evaluate(lambda x: np.zeros((len(x), SIZE // 2, SIZE // 2, 2)),
                                _dataset(l_norm, ab, labels), baselines=("gray",),
                                weights=weights, bins=bins, classifier=clf, limit=5,
                                keep_images=True)
    assert table.methods == ["model", "gray"]
    assert len(table.rows) == 10 and table.rows[4]["label"] == 0
    assert {"auc_rebalanced", "correct"} <= set(table.metric_names)
    # a predictor of ab = 0 at half resolution is the gray baseline, upsampled
    np.testing.assert_allclose(table.column("auc", "model"), table.column("auc", "gray"))
    assert set(table.column("correct", "model")) <= {0.0, 1.0}
    assert table.images["model"].shape == (5, SIZE, SIZE, 3)
    assert table.images["model"].dtype == np.uint8
    assert table.images["ground_truth"].shape == (5, SIZE, SIZE, 3)
    best, worst = table.best_and_worst("model", "ab_distance", k=2)
    d = table.column("ab_distance", "model")
    assert d[best[0]] == d.min() and d[worst[0]] == d.max()


def test_mean_ab_comes_from_the_training_data_not_the_test_data():
    l_norm, ab, _ = _lab_arrays()
    train_ab = np.zeros_like(ab)
    train_ab[..., 0] = 30.0
    np.testing.assert_allclose(evaluation.dataset_mean_ab((l_norm, train_ab)), [30.0, 0.0])
    table = evaluation.evaluate(None, (l_norm, ab), baselines=("mean_ab",),
                                train_dataset=_dataset(l_norm, train_ab))
    np.testing.assert_allclose(table.images.get("mean_ab", 0), 0)  # not kept by default
    want = np.linalg.norm(ab - np.array([30.0, 0.0]), axis=-1).mean(axis=(1, 2))
    np.testing.assert_allclose(table.column("ab_distance", "mean_ab"), want, rtol=1e-5)
    skipped = evaluation.evaluate(None, (l_norm, ab), baselines=("mean_ab", "gray"))
    assert skipped.methods == ["gray"] and "mean_ab baseline skipped" in skipped.notes[0]


def test_csv_markdown_and_errors(tmp_path):
    l_norm, ab, _ = _lab_arrays(n=3)
    table = evaluation.evaluate(None, (l_norm, ab), baselines=("gray", "ground_truth"))
    path = table.to_csv(tmp_path / "sub" / "per_image.csv")
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 6 and rows[0]["method"] == "gray" and float(rows[0]["ssim"]) < 1
    assert rows[-1]["psnr"] == ""  # ground truth PSNR: not meaningful
    summary = list(csv.DictReader(open(table.to_csv(tmp_path / "s.csv", summary=True))))
    assert [r["method"] for r in summary] == ["gray", "ground_truth"]
    md = table.table().to_markdown()
    assert md.splitlines()[0].startswith("| method | images | PSNR (dB) ↑") and "n/a" in md
    assert "<strong>" in table._repr_html_()  # the best value of a column is marked
    assert "ground_truth" in table.format()
    with pytest.raises(ValueError, match="unknown baselines"):
        evaluation.evaluate(None, (l_norm, ab), baselines=("grey",))
    with pytest.raises(ValueError, match="limit=0"):
        evaluation.evaluate(None, (l_norm, ab), limit=0)
    with pytest.raises(ValueError, match="clash"):
        evaluation.evaluate({"gray": lambda x: x}, (l_norm, ab))


def test_evaluate_a_keras_model_through_predict_ab():
    if importlib.util.find_spec("colorutils.inference") is None:
        pytest.skip("colorutils.inference not written yet")
    from colorutils import models

    l_norm, ab, _ = _lab_arrays(n=4)
    model = models.regression_cnn(width=0.125)
    table = evaluation.evaluate(model, (l_norm, ab), baselines=())
    assert table.methods == [model.name] and len(table.rows) == 4
    assert np.all(np.isfinite(table.column("psnr", model.name)))


def _run_cli(*args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    # `-c` rather than `-m colorutils.cli`: under -m the module runs as __main__ and its
    # UserError is a different class from the one the handlers raise.
    code = "import sys; from colorutils.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, "evaluate", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_cli_bad_model_path_is_one_line_exit_2(tmp_path):
    res = _run_cli("--model", str(tmp_path / "nope"), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()  # no TensorFlow import before the path check
    assert len(lines) == 1 and "nope" in lines[0] and "does not exist" in lines[0]
    res = _run_cli("--model", str(tmp_path), "--limit", "0", cwd=tmp_path)
    assert res.returncode == 2 and "--limit" in res.stderr


@pytest.mark.slow
def test_cli_evaluates_a_saved_model_and_writes_csv(tmp_path):
    for mod in ("colorutils.inference", "colorutils.data"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} not written yet")
    from colorutils import models

    model = models.regression_cnn(width=0.125)
    model.save(tmp_path / "tiny.keras")
    out = tmp_path / "scores"
    res = _run_cli("--model", str(tmp_path / "tiny.keras"), "--dataset", "sample",
                   "--image-size", "16", "--limit", "5", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "gray" in res.stdout and "ground_truth" in res.stdout
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    methods = [r["method"] for r in rows]
    assert methods.count("tiny.keras") == 5 and methods.count("gray") == 5
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert {r["method"] for r in summary} >= {"tiny.keras", "gray", "mean_ab", "ground_truth"}
    assert summary[0]["auc_rebalanced"]  # weights from the train split via quantize


def test_cli_unknown_dataset_is_one_line_exit_2(tmp_path, capsys):
    from colorutils import cli, models

    models.regression_cnn(width=0.125).save(tmp_path / "tiny.keras")
    status = cli.main(["evaluate", "--model", str(tmp_path / "tiny.keras"), "--dataset",
                       "nosuch:thing", "--image-size", "16"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("colorutils evaluate: error: --dataset 'nosuch:thing'")


def test_find_runs_keeps_finished_colorization_runs_of_the_right_size(tmp_path):
    import json

    from colorutils import files, inference, models

    def run(name, size, finished=True, model=None):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"config": {"image_size": size}}))
        if finished:
            (d / "metrics.json").write_text("{}")
        (model or models.regression_cnn(width=0.125)).save(d / "best.keras")

    run("a_regression", 16)
    run("b_other_size", 32)
    run("c_unfinished", 16, finished=False)
    run("d_classifier", 16, model=models.rgb_classifier(3, width=0.125))
    found, notes = files.find_runs(tmp_path, image_size=16)
    assert list(found) == ["a_regression", "d_classifier"]
    assert any("b_other_size" in n and "32 px" in n for n in notes)
    loaded, notes = inference.load_colorizers(found)
    assert list(loaded) == ["a_regression"] and "d_classifier" in notes[0]
    assert files.find_runs(tmp_path / "missing") == ({}, [])
    assert len(files.find_runs(tmp_path, max_runs=1)[0]) == 1
    assert list(files.find_runs(tmp_path, 16, exclude=("a_",))[0]) == ["d_classifier"]
    # runs one level down (chapter groups) and runs named explicitly
    (tmp_path / "group").mkdir()
    (tmp_path / "a_regression").rename(tmp_path / "group" / "reg")
    assert list(files.find_runs(tmp_path, 16)[0]) == ["d_classifier", "group/reg"]
    found, notes = files.find_runs(tmp_path, 16, names={"r": "group/reg", "m": "nope"})
    assert found == {"r": str(tmp_path / "group" / "reg")} and "m: no finished run" in notes[0]


def test_colorutils_evaluate_is_the_evaluation_function():
    import colorutils

    assert colorutils.evaluate is evaluation.evaluate
    with pytest.raises(AttributeError):
        colorutils.no_such_thing  # noqa: B018


@pytest.mark.slow
@pytest.mark.realdata
def test_baselines_on_real_photos_show_the_metrics_disagree():
    src = pathlib.Path("/work/shared/data/cifar10")
    if not src.is_dir():
        pytest.skip(f"real-data tier: {src} not present")
    from colorutils import data

    test = data.load(f"folder:{src}", "test", 32, 64, shuffle=False, limit=128)
    train = data.load(f"folder:{src}", "train", 32, 64, shuffle=False, augment=False,
                      limit=512)
    weights, bins = evaluation.rebalancing_weights(train)
    summary = {r["method"]: r for r in evaluation.evaluate(
        None, test, train_dataset=train, weights=weights, bins=bins).summary()}
    gray, mean, truth = summary["gray"], summary["mean_ab"], summary["ground_truth"]
    assert truth["auc_rebalanced"] == pytest.approx(1.0) and truth["ssim"] == pytest.approx(1.0)
    # rebalancing weighs up the rare saturated pixels that the baselines get wrong
    assert gray["auc_rebalanced"] < gray["auc"] - 0.01
    assert mean["auc_rebalanced"] < mean["auc"] - 0.01
    # PSNR prefers gray to the mean colour; the ab metrics prefer the mean colour
    assert gray["psnr"] > mean["psnr"]
    assert mean["auc"] > gray["auc"] and mean["ab_distance"] < gray["ab_distance"]
    assert gray["colorfulness"] < 0.5 < truth["colorfulness"]


def test_quality_figures_measure_the_goal_on_colour_photos_only():
    """A gray photo (every |a|, |b| within quantize.GRAY_THRESHOLD) is left out of the goal:
    the gray image reproduces it almost exactly, which would swamp the mean PSNR."""
    import keras

    from colorutils import losses, models, quantize

    rng = np.random.default_rng(0)
    l_norm = rng.uniform(-1, 1, (6, 8, 8, 1)).astype(np.float32)
    ab = rng.uniform(-40, 40, (6, 8, 8, 2)).astype(np.float32)
    ab[[1, 4]] = rng.uniform(-3, 3, (2, 8, 8, 2))  # two gray photos (within 5 Lab units)
    assert quantize.colour_photos(ab).numpy().tolist() == [True, False, True, True, False, True]
    inp = keras.Input((None, None, 1), name="l_norm")
    const = keras.layers.Conv2D(2, 1, kernel_initializer="zeros",
                                bias_initializer=keras.initializers.Constant([8.0, -6.0]))
    model = models.compile_model(keras.Model(inp, {"ab": const(inp)}), space="lab")
    pred = losses.chroma_to_ab(l_norm, np.broadcast_to(np.float32([8.0, -6.0]), ab.shape),
                               "lab").numpy()
    keep = [0, 2, 3, 5]
    figures = evaluation.quality_figures(model, l_norm, ab)
    assert (figures["photos"], figures["gray_photos"]) == (4, 2)
    expected = evaluation.quality_of(l_norm[keep], ab[keep], pred[keep])
    gray = evaluation.quality_of(l_norm[keep], ab[keep], np.zeros_like(ab[keep]))
    np.testing.assert_allclose(figures["model"]["psnr"], expected["psnr"], rtol=1e-5)
    np.testing.assert_allclose(figures["goal"].psnr_gap, expected["psnr"] - gray["psnr"],
                               rtol=1e-4)
    decoded = evaluation.quality_against_gray(l_norm, ab, pred)  # a colorization given as ab
    assert decoded["goal"] == figures["goal"] and decoded["gray_photos"] == 2
    every = evaluation.quality_figures(model, l_norm, ab, colour_only=False)
    assert (every["photos"], every["gray_photos"]) == (6, 0)
    assert every["goal"].psnr_gap < figures["goal"].psnr_gap - 1, (
        "the gray photos should cost the model PSNR against the gray image")
    with pytest.raises(ValueError, match="all 2 photos are gray"):
        evaluation.quality_figures(model, l_norm[[1, 4]], ab[[1, 4]])
