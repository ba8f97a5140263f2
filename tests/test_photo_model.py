"""The photo model that ships inside the package (issue 25): what a user who installs
``colorutils`` and runs ``colorutils colorize photo.jpg`` without ``--model`` gets.

The shipped file loads through the default of the Python API, reports its provenance (recipe,
data set and split, commit, training time, quality figures) and colorizes a real photo; and an
installed wheel, run from a folder with no checkout files, colorizes a photo with it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "colorutils" / "weights"
#: The issue's bound on the shipped file.
MAX_MODEL_BYTES = 5 * 1024 * 1024
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "OMP_NUM_THREADS": "2"}


def _sidecar() -> dict:
    from colorutils import files

    sidecar = files.read_sidecar(files.PHOTO_MODEL)
    assert sidecar is not None, f"no readable sidecar beside {files.PHOTO_MODEL}"
    return sidecar


def _colour_photo() -> np.ndarray:
    """A real colour photo of the sample set (the coffee cup: brown coffee, red saucer)."""
    from colorutils import data, files

    coffee = next(p for p in data.PHOTOS if p.name == "coffee")
    return files.read_image(data.photo_path(coffee))


def test_the_shipped_model_is_small_and_in_the_wheel_s_package_data():
    from colorutils import files

    assert files.PHOTO_MODEL.parent == WEIGHTS
    size = files.PHOTO_MODEL.stat().st_size
    assert 0 < size <= MAX_MODEL_BYTES, f"{files.PHOTO_MODEL.name}: {size:,} bytes"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"colorutils.weights"' in pyproject and "photo_unet.keras" in pyproject
    assert "photo_unet.json" in pyproject


def test_the_shipped_model_reports_what_it_is_and_where_it_came_from():
    from colorutils import experiments, quantize

    sidecar = _sidecar()
    assert sidecar["head"] == "classification" and sidecar["space"] == "lab"
    assert sidecar["grid_size"] == quantize.GRID_SIZE
    assert 0 < sidecar["temperature"] <= 1 and sidecar["lambda"] == experiments.PHOTO_LAMBDA
    assert sidecar["image_size"] == experiments.PHOTO_PRESETS["book"]["image_size"]
    prov = sidecar["provenance"]
    assert prov["recipe"] == "photo" and prov["dataset"].endswith("caltech101")
    assert "CC BY 4.0" in prov["credit"] and "md5" in prov["split_rule"]
    assert prov["split_sizes"] == {"train": 6567, "validation": 828, "test": 830}
    assert len(prov["commit"]) == 40 and prov["date"].startswith("20")
    assert 0 < prov["train_seconds"] < 45 * 60 and prov["images_per_s"] > 0
    # the quality figures on the held-out test split, the model's and gray's
    test = prov["quality"]
    assert set(test) == {"model", "gray"} and prov["test_images"] == 830
    assert test["model"]["colorfulness_ratio"] > test["gray"]["colorfulness_ratio"]
    assert "caltech101 (test)" in prov["quality_sets"]["sets"]


def test_open_colorizer_without_a_path_loads_the_shipped_model_and_colorizes_a_photo():
    from colorutils import colorize, metrics

    model = colorize.open_colorizer()
    size = model.image_size
    assert size == _sidecar()["image_size"] and model.temperature == _sidecar()["temperature"]
    photo = _colour_photo()
    out = colorize.colorize_array(model, photo, size, _sidecar()["temperature"])
    assert out.shape == photo.shape and out.dtype == np.uint8
    truth = photo.astype(np.float32)[None] / 255.0
    ratio = float(metrics.colorfulness_ratio(truth, out.astype(np.float32)[None] / 255.0)[0])
    assert ratio > 0.2, f"the shipped model left the coffee photo nearly gray ({ratio:.2f})"


def test_colorize_without_a_model_uses_the_shipped_one_and_its_temperature(tmp_path):
    Image.fromarray(_colour_photo()).save(tmp_path / "coffee.png")
    result = subprocess.run(
        [sys.executable, "-m", "colorutils.cli", "colorize", str(tmp_path / "coffee.png"),
         "--out", str(tmp_path / "out")], capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.asarray(Image.open(tmp_path / "out" / "coffee_colorized.png"))
    assert out.shape == _colour_photo().shape


def test_the_photo_recipe_exports_a_model_that_colorize_runs_without_a_run_folder(
        photo_folder, tmp_path, capsys):
    """In-process at a tiny size: the recipe chooses its temperature on the validation
    split, the export writes the .keras file and its sidecar, and the file alone (moved away
    from its run folder) is a colorizer at the recorded size and temperature."""
    from colorutils import cli, colorize, experiments, files

    exported = tmp_path / "ship" / "tiny.keras"
    status = cli.main(["train", "--recipe", "photo", "--dataset", f"folder:{photo_folder}",
                       "--runs-dir", str(tmp_path / "runs"), "--scale", "smoke",
                       "--image-size", "16", "--train-images", "16", "--eval-images", "8",
                       "--batch-size", "8", "--export", str(exported), "--credit", "CC0 test"])
    res = capsys.readouterr()
    assert status == 0, res.err
    assert "photo recipe" in res.out and "exported" in res.out
    sidecar = files.read_sidecar(exported)
    assert sidecar["image_size"] == 16 and sidecar["provenance"]["credit"] == "CC0 test"
    sweep = sidecar["provenance"]["validation_temperatures"]
    assert [row["temperature"] for row in sweep] == list(experiments.PHOTO_TEMPERATURES)
    assert sidecar["temperature"] in experiments.PHOTO_TEMPERATURES
    assert sidecar["provenance"]["split_sizes"]["test"] > 0
    run_dir = pathlib.Path(res.out.strip().splitlines()[-1].split(": ", 1)[1])
    # shipped without the optimizer's state: a third of the run's checkpoint (Adam: 2 slots)
    assert exported.stat().st_size < 0.5 * (run_dir / "best.keras").stat().st_size
    model = colorize.open_colorizer(exported)
    assert model.image_size == 16 and model.model.count_params() == sidecar["provenance"]["parameters"]


def test_export_needs_a_recipe_and_a_keras_name():
    res = subprocess.run([sys.executable, "-m", "colorutils.cli", "train", "--export", "m.h5"],
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert res.returncode == 2 and "--export 'm.h5' needs --recipe" in res.stderr, res.stderr


def _setuptools_major() -> int:
    try:
        from importlib.metadata import version

        return int(version("setuptools").split(".")[0])
    except Exception:  # noqa: BLE001 - not installed, or an odd version string
        return 0


def _make_venv(tmp_path: pathlib.Path) -> pathlib.Path:
    """A fresh venv that sees this environment's third-party packages (TensorFlow, ...) but
    not its colorutils: the parent site-packages is a plain path (``.pth``), so the editable
    install's import hook (a ``.pth`` of its own there) never runs."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path(site, "parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.mark.slow
def test_an_installed_wheel_colorizes_a_photo_with_no_model_and_no_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    # pyproject.toml asks for setuptools>=77: use this environment's where it has one
    # (offline), else pip's isolated build (from its cache or the package index)
    isolation = [] if _setuptools_major() < 77 else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet",
                    str(ROOT), "-w", str(wheels)], check=True, cwd=tmp_path, timeout=300)
    wheel = next(wheels.glob("colorutils-*.whl"))
    import zipfile
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"colorutils/turing_page/{n}" for n in ("index.html", "turing.js", "turing.css")} \
        <= names, "the Turing-test page (chapter 06 shows it inline on Colab) is not in the wheel"
    venv = _make_venv(tmp_path)
    # no PYTHONPATH anywhere: a checkout on it would count as colorutils "already installed"
    env = {k: v for k, v in ENV.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "--no-index", "--force-reinstall", "--quiet",
                    str(wheel)], check=True, env=env, cwd=tmp_path, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    Image.fromarray(_colour_photo()).save(work / "photo.png")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import colorutils; print(colorutils.__file__)"],
                           capture_output=True, text=True, env=env, cwd=work, check=True)
    assert str(venv) in where.stdout, f"colorutils came from {where.stdout.strip()}"
    result = subprocess.run([str(venv / "bin" / "colorutils"), "colorize", "photo.png",
                             "--out", "colorized"], capture_output=True, text=True, env=env,
                            cwd=work, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.asarray(Image.open(work / "colorized" / "photo_colorized.png"))
    chroma = np.ptp(out.astype(int), axis=-1).mean()
    assert out.shape == _colour_photo().shape and chroma > 3, f"mean chroma {chroma:.1f}"


def test_the_shipped_file_loads_in_older_keras_releases_too(tmp_path):
    """Colab ships Keras 3.13, which refuses the layer arguments Keras 3.15 writes (the
    initializers' input_axes/output_axes, batch normalisation's renorm): the shipped file
    carries none of them at their defaults, and make_portable removes them from a new file
    without changing what the model computes."""
    import json
    import zipfile

    import keras

    from colorutils import files, models

    def newer_keys(path):
        text = zipfile.ZipFile(path).read("config.json").decode()
        config = json.loads(text)
        found = []

        def walk(node):
            if isinstance(node, dict):
                found.extend(k for k, v in node.items()
                             if k in files.NEWER_KERAS_KEYS and v == files.NEWER_KERAS_KEYS[k])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(config)
        return found

    assert newer_keys(files.PHOTO_MODEL) == []
    model = models.build("unet", head="classification", num_bins=8, width=0.125, depth=2)
    path = tmp_path / "m.keras"
    model.save(path)
    before = newer_keys(path)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 1)).astype("float32")
    dropped = files.make_portable(path)
    assert newer_keys(path) == [] and (dropped > 0) == bool(before)
    again = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(again(x, training=False)["ab"], model(x, training=False)["ab"],
                               rtol=1e-6, atol=1e-6)
    assert files.make_portable(path) == 0  # already portable: left as it is
