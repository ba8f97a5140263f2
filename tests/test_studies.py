"""The chapter 02/03 study: one definition of each run, reused rather than retrained."""

import json
import os

import numpy as np
import pytest

from colorutils import data, experiments, quantize, settings


@pytest.fixture()
def study(tmp_path):
    cfg = settings.resolve("smoke", run_root=str(tmp_path), image_size=16, batch_size=8,
                           epochs=1, train_images=16, width=0.125)
    return experiments.ClassificationStudy(cfg, quantize.ab_bins(), output_stride=4,
                                       run_eagerly=True)


def test_config_names_everything_that_defines_a_run(study):
    lab = study.config("regression_lab", "regression")
    hsv = study.config("regression_hsv", "regression", space="hsv")
    assert lab["num_bins"] == len(quantize.ab_bins()) and lab["image_size"] == 16
    assert lab["hue_seam"] is None and hsv["hue_seam"] is not None
    assert study.config("c", "classification", lam=0.5) != study.config("c", "classification")


def test_trains_once_then_reuses_the_finished_run(study):
    first = study.train("classification", "classification", seed=0, lam=1.0)
    model = first.model
    assert not first.loaded and first.seconds > 0 and first.history["epoch"] == [1]
    assert model.output["ab"].shape[-1] == len(study.bins)
    run_dir = study.run_dir("classification", 0)
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f)["config"]["arm"] == "classification"
    stamp = os.path.getmtime(os.path.join(run_dir, "metrics.json"))
    reused = study.train("classification", "classification", seed=0, lam=1.0)
    again = reused.model
    assert reused.loaded and reused.run_dir == run_dir
    assert os.path.getmtime(os.path.join(run_dir, "metrics.json")) == stamp  # not retrained
    x = np.zeros((1, 16, 16, 1), np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0)["ab"],
                               model.predict(x, verbose=0)["ab"], atol=1e-5)


def test_regression_in_another_space_and_bad_heads(study):
    model = study.train("regression_yuv", "regression", seed=0, space="yuv").model
    assert model.output["ab"].shape[-1] == 2
    with pytest.raises(ValueError, match="head"):
        study.train("x", "segmentation", seed=0)
    with pytest.raises(ValueError, match="space"):
        study.train("x", "classification", seed=0, space="hsv")


def test_to_arrays_collects_a_split():
    l_norm, ab = data.to_arrays(data.load("sample", "test", 16, batch_size=8, limit=20))
    assert l_norm.shape == (20, 16, 16, 1) and ab.shape == (20, 16, 16, 2)
    assert l_norm.min() >= -1 and l_norm.max() <= 1
    with pytest.raises(ValueError, match="empty"):
        data.to_arrays(data.load("sample", "test", 16, batch_size=8).take(0))


@pytest.mark.slow
def test_a_general_study_trains_a_joint_model_and_a_classifier_from_their_recipes(tmp_path,
                                                                                 capsys):
    cfg = settings.resolve("smoke", run_root=str(tmp_path), image_size=32, batch_size=8,
                           epochs=1, train_images=16, width=0.125)
    study = experiments.Study(cfg, run_name="t_{arm}_seed{seed}", config={"chapter": "test"},
                          run_eagerly=True)
    joint = experiments.Arm("joint", "fusion_net", dict(num_bins=None, num_classes=10, width=0.125,
                                                    global_size=32), alpha=0.5)
    run = study.train(joint, seed=1)  # the study loads the labels the "label" head needs
    assert run.run_dir == cfg.run_dir("t_joint_seed1") and not run.loaded
    assert "label_loss" in run.history and run.model.loss["ab"].space == "lab"
    assert "joint seed 1: trained, 1 epoch" in capsys.readouterr().out  # one line, no log
    with open(os.path.join(run.run_dir, "config.json")) as f:
        stored = json.load(f)["config"]
    assert stored["chapter"] == "test" and stored["model"] == "fusion_net"
    assert stored["kwargs"]["num_classes"] == 10 and stored["image_size"] == 32
    again = study.load(joint, seed=1)
    assert again.loaded and again.history == run.history

    rgb = experiments.Arm("rgb", "rgb_classifier", dict(num_classes=10, width=0.125))
    classifier = study.train(rgb, seed=0)  # RGB input: the study loads RGB photos
    assert classifier.model.inputs[0].shape[-1] == 3 and "accuracy" in classifier.history
    with pytest.raises(FileNotFoundError, match=r"study\.train\(arm, seed\)"):
        study.load(rgb, seed=5)
