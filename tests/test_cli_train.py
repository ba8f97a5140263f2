"""``colorutils train``: what a user training a colorizer without a notebook would notice.

Through a subprocess (``python -m colorutils.cli``), on a small folder of generated photos at
16 px with the narrowest U-Net: train, colorize with the run folder the command printed,
rerun to continue (every epoch counted once), the book's best recipe end to end, and bad
values answered in one line with exit status 2.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "OMP_NUM_THREADS": "2"}
TINY = ["--scale", "smoke", "--image-size", "16", "--width", "0.125", "--train-images", "16",
        "--eval-images", "8", "--batch-size", "8"]


def _cli(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "colorutils.cli", *map(str, argv)],
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=timeout)


def _run_folder(res) -> pathlib.Path:
    out = getattr(res, "stdout", None) or res.out  # a subprocess, or capsys
    last = out.strip().splitlines()[-1]
    assert last.startswith("run folder (for colorize --model): "), out
    return pathlib.Path(last.split(": ", 1)[1])


@pytest.fixture(scope="module")
def trained(photo_folder, tmp_path_factory):
    """One epoch of `colorutils train`: (result, run folder, runs root)."""
    runs = tmp_path_factory.mktemp("runs")
    res = _cli("train", "--dataset", f"folder:{photo_folder}", "--epochs", 1, "--runs-dir",
               runs, *TINY)
    assert res.returncode == 0, res.stderr
    return res, _run_folder(res), runs


@pytest.mark.slow
def test_train_then_colorize_with_the_folder_it_printed(trained, photo_folder, tmp_path):
    res, run_dir, runs = trained
    assert run_dir.is_dir() and run_dir.is_relative_to(runs)
    assert "unet_classification seed 0: trained, 1 epoch" in res.stdout
    assert json.loads((run_dir / "history.json").read_text())["epoch"] == [1]
    assert "Traceback" not in res.stderr and "epoch 1/1" not in res.stderr  # not a terminal
    out = tmp_path / "colorized"
    colorized = _cli("colorize", photo_folder / "meadow", "--model", run_dir, "--out", out)
    assert colorized.returncode == 0, colorized.stderr
    assert len(list(out.glob("*_colorized.png"))) == 16


@pytest.mark.slow
def test_rerunning_continues_and_counts_every_epoch_once(trained, photo_folder):
    _, run_dir, runs = trained
    res = _cli("train", "--dataset", f"folder:{photo_folder}", "--epochs", 2, "--runs-dir", runs,
               *TINY)
    assert res.returncode == 0, res.stderr
    assert _run_folder(res) == run_dir
    assert "trained, 2 epochs" in res.stdout
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [1, 2]
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 2


@pytest.mark.slow
def test_another_configuration_in_the_same_folder_is_refused(trained, photo_folder, capsys):
    """In-process (``cli.main``, what the console script calls): one start-up saved."""
    from colorutils import cli

    _, run_dir, _ = trained
    before = (run_dir / "config.json").read_text()
    wider = [a if a != "0.125" else "0.25" for a in TINY]  # --width 0.25
    status = cli.main(["train", "--dataset", f"folder:{photo_folder}", "--run-dir", str(run_dir),
                       "--epochs", "1", *wider])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and "another configuration" in err[0] and "--run-dir" in err[0], err
    assert "width (was 0.125, now 0.25)" in err[0]
    assert (run_dir / "config.json").read_text() == before


@pytest.mark.slow
def test_the_best_recipe_end_to_end(photo_folder, tmp_path, capsys):
    """In-process (``cli.main``): the full-scale code path at a tiny size."""
    from colorutils import cli

    status = cli.main(["train", "--recipe", "best", "--dataset", f"folder:{photo_folder}",
                       "--runs-dir", str(tmp_path), "--epochs", "1", *TINY])
    res = capsys.readouterr()
    assert status == 0, res.err
    run_dir = _run_folder(res)
    assert run_dir.parts[-3:] == ("classification", "classification_lam0.7", "seed0")
    report = json.loads((run_dir / "report.json").read_text())
    assert report["epochs"] == 1 and report["images_per_s"] > 0
    for who in ("model", "gray"):
        assert set(report["quality"][who]) == {"psnr", "auc", "colorfulness_ratio"}
    assert report["quality"]["gray"]["colorfulness_ratio"] < 1e-3  # gray: no colour
    assert report["decoding"]["temperature"] > 0 and report["rebalancing_lambda"] < 1
    assert set(report["goal"]["met"]) == {"ratio", "psnr", "auc"} and "goal" in res.out
    assert "training images/s" in res.out and "PSNR" in res.out and "AuC" in res.out


@pytest.mark.parametrize("argv, expect", [
    (["--epochs", "-1"], "--epochs -1 must be an integer >= 1"),
    (["--epochs", "two"], "invalid int value: 'two'"),
    (["--image-size", "5"], "--image-size 5 must be an integer >= 16"),
    (["--image-size", "20"], "a multiple of 8"),
    (["--lambda", "0"], "--lambda 0 is outside (0, 1]"),
    (["--lambda", "1.5"], "--lambda 1.5 is outside (0, 1]"),
    (["--dataset", "folder:/no/such/folder"], "no such folder"),
    (["--recipe", "best", "--model", "unet"], "drop --model"),
    (["--width", "0"], "--width 0 must be a positive number"),
])
def test_bad_values_are_one_line_with_status_2(argv, expect):
    """Answered before TensorFlow loads (about a second each)."""
    res = _cli("train", *argv)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0], res.stderr
    assert lines[0].startswith("colorutils train: error:")


@pytest.mark.parametrize("argv, expect", [
    (["--model", "resnet"], "--model 'resnet' is not a model of the zoo; use one of"),
    (["--model", "zhang_classifier", "--head", "regression"], "has only a classification head"),
    (["--model", "regression_cnn", "--lambda", "0.5"], "rebalances a classification head"),
    (["--dataset", "kaggle:dogs"], "is not understood"),
])
def test_bad_models_and_sources_are_one_line_with_status_2(argv, expect, capsys):
    from colorutils import cli

    status = cli.main(["train", *argv, "--runs-dir", "/nonexistent/never/written"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and expect in err[0], err
