"""``colorutils colorize``: what a student colorizing their own photos would notice.

The command runs in a subprocess (``python -m colorutils.cli colorize ...``) on a tiny
classification model trained with :func:`colorutils.train.fit`, so the real run-folder layout
(``config.json`` with the training size, ``best.keras``) is what gets loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN_SIZE = 16
#: Memory budget of one 4000 x 3000 photo: peak RSS above a run on tiny photos, in MiB.
#: The full-resolution arrays cost ~ 4 (L) + 8 (ab) + 3 (input) + 3 (output) bytes/pixel
#: = 216 MiB for 12 Mpx, plus JPEG encoding and TensorFlow's resize buffers (measured: +250 MiB).
LARGE_BUDGET_MIB = 400
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "OMP_NUM_THREADS": "2"}


def _tiny_dataset(n=8, size=TRAIN_SIZE, seed=0):
    import tensorflow as tf

    from colorutils import color

    rng = np.random.default_rng(seed)
    # smooth colour fields: a random colour per quadrant, blurred by upsampling
    coarse = rng.uniform(0.1, 0.9, size=(n, 2, 2, 3)).astype(np.float32)
    rgb = tf.image.resize(coarse, (size, size), method="bilinear")
    l_norm, ab = color.split_lab(color.rgb_to_lab(tf.clip_by_value(rgb, 0.0, 1.0)))
    return tf.data.Dataset.from_tensor_slices((l_norm, {"ab": ab})).batch(4)


def _build_tiny_classifier():
    import keras

    from colorutils import losses, models, quantize

    bins = quantize.ab_bins()
    model = models.zhang_classifier(num_bins=len(bins), width=0.125)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"ab": losses.RebalancedCrossEntropy(bins)})
    return model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from colorutils import train

    folder = tmp_path_factory.mktemp("runs") / "tiny_classifier"
    ds = _tiny_dataset()
    train.fit(_build_tiny_classifier, ds, None, run_dir=str(folder), epochs=1,
              config={"model": "zhang_classifier", "width": 0.125, "image_size": TRAIN_SIZE},
              verbose=0)
    assert (folder / "config.json").is_file() and (folder / "best.keras").is_file()
    return folder


@pytest.fixture(scope="module")
def model(run_dir):
    from colorutils.inference import load_colorizer

    colorizer = load_colorizer(run_dir)
    return colorizer, colorizer.image_size


def _md5(path: pathlib.Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0 * xx], axis=-1) * 200
    return np.clip(base + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)


def _bomb_png(path: pathlib.Path, side: int = 20_000) -> None:
    """A PNG whose header claims ``side`` x ``side`` pixels (400 Mpx: Pillow refuses images
    over twice its MAX_IMAGE_PIXELS as a decompression bomb) with almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit gray
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


UNICODE_NAME = "ünïcødé 写真.jpg"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of awkward inputs: 16 that colorize and 4 that cannot.

    Returns (folder, {relative path: expected (width, height)}, [unreadable relative paths]).
    """
    folder = tmp_path_factory.mktemp("photos")
    expected = {}

    def save(rel, array_or_image, size, **kwargs):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        img = (array_or_image if isinstance(array_or_image, Image.Image)
               else Image.fromarray(array_or_image))
        img.save(path, **kwargs)
        expected[rel] = size

    save("gray.jpg", _photo(30, 40)[..., 0], (40, 30))  # 8-bit gray JPEG
    save("colour.png", _photo(47, 33, 1), (33, 47))  # RGB PNG, odd size
    deep = _photo(24, 36, 2)[..., 1].astype(np.uint16) * 257
    save("deep16.png", deep, (36, 24))  # 16-bit gray PNG
    assert Image.open(folder / "deep16.png").mode.startswith("I")
    save("scans/scan.tif", _photo(20, 30, 3), (30, 20))  # TIFF in a subfolder
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    save("phone.jpg", _photo(20, 40, 4), (20, 40), exif=exif)  # stored 40x20, shown 20x40
    save("cmyk.jpg", Image.fromarray(_photo(26, 34, 5)).convert("CMYK"), (34, 26))
    save("palette.png", Image.fromarray(_photo(22, 28, 6)).convert("P"), (28, 22))
    rgba = np.dstack([_photo(18, 24, 7), np.tile(np.linspace(0, 255, 24, dtype=np.uint8),
                                                 (18, 1))])
    save("rgba.png", rgba, (24, 18))
    la = Image.fromarray(rgba[..., [0, 3]], "LA")
    save("gray_alpha.png", la, (24, 18))
    frames = [Image.fromarray(_photo(16, 20, 8 + i)).convert("P") for i in range(3)]
    save("animated.gif", frames[0], (20, 16), save_all=True, append_images=frames[1:])
    save("one_pixel.png", _photo(1, 1, 9), (1, 1))
    save("thin.png", _photo(3, 2000, 10), (2000, 3))
    save("photo.webp", _photo(30, 30, 11), (30, 30), quality=90)
    save("old.bmp", _photo(17, 19, 12), (19, 17))
    save("float.tif", Image.fromarray(_photo(20, 22, 13)[..., 0].astype(np.float32) / 255, "F"),
         (22, 20))
    save(f"trips/2019/{UNICODE_NAME}", _photo(25, 35, 14), (35, 25))  # nested, unicode
    assert len(expected) == 16
    good_jpeg = (folder / "gray.jpg").read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (folder / "notes.png").write_text("not an image, only named like one")
    _bomb_png(folder / "bomb.png")
    (folder / "readme.txt").write_text("not an image, and not reported")
    return folder, expected, ["empty.jpg", "truncated.jpg", "notes.png", "bomb.png"]


def _colorize(*argv, wrap_rss=False, timeout=120):
    cmd = [sys.executable, "-m", "colorutils.cli", "colorize", *map(str, argv)]
    if wrap_rss:  # report the peak RSS of the command itself (ru_maxrss of the only child)
        cmd = [sys.executable, "-c",
               "import resource, subprocess, sys\n"
               "rc = subprocess.run(sys.argv[1:]).returncode\n"
               "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(rc)", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ENV,
                          timeout=timeout)


@pytest.fixture(scope="module")
def folder_run(run_dir, photos, tmp_path_factory):
    """One CLI run on the photo folder: (result, output folder, checksums before, peak MiB)."""
    folder = photos[0]
    before = {p: _md5(p) for p in folder.rglob("*") if p.is_file()}
    out = tmp_path_factory.mktemp("colorized") / "out"
    res = _colorize(folder, "--model", run_dir, "--out", out, "--compare", wrap_rss=True)
    peak = int(res.stdout.split("PEAK_RSS_KIB")[1].split()[0]) / 1024
    return res, out, before, peak


def _outputs_of(rel: str, out: pathlib.Path, ext: str = ".png"):
    rel = pathlib.PurePath(rel)
    folder = out / rel.parent
    return folder / f"{rel.stem}_colorized{ext}", folder / f"{rel.stem}_compare{ext}"


@pytest.mark.slow
def test_a_folder_of_awkward_files(folder_run, photos):
    """16 colorized, each at its own size, the tree mirrored; 4 skipped with a clear line
    each; exit status 1; the inputs untouched."""
    folder, expected, unreadable = photos
    res, out, before, _ = folder_run
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    skipped = [line for line in lines if line.startswith("skipped")]
    assert len(skipped) == len(unreadable) == 4, res.stderr
    for name in unreadable:
        assert any(name in line and "not a readable image" in line for line in skipped), name
    assert any("decompression bomb" in line for line in skipped if "bomb.png" in line)
    assert "colorized 16 of 20 images" in lines[-1], lines[-1]
    assert "readme.txt" not in res.stderr
    for rel, size in expected.items():
        colorized, comparison = _outputs_of(rel, out)
        with Image.open(colorized) as img:
            assert img.size == size, rel
            assert img.mode == "RGB"
        with Image.open(comparison) as img:
            assert img.size == (2 * size[0] + 8, size[1]), rel
    for name in unreadable:
        assert not _outputs_of(name, out)[0].exists()
    # one output per input, nothing else: no numbered suffixes, the sub-folders mirrored
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    wanted = sorted(p.relative_to(out).as_posix() for rel in expected
                    for p in _outputs_of(rel, out))
    assert written == wanted
    assert (out / "trips" / "2019" / UNICODE_NAME.replace(".jpg", "_colorized.png")).is_file()
    # the inputs are untouched, and nothing was added next to them
    after = {p: _md5(p) for p in folder.rglob("*") if p.is_file()}
    assert after == before


def test_a_second_run_keeps_earlier_outputs_unless_asked(run_dir, tmp_path, capsys):
    """In-process (``cli.main``, what the console script calls): three runs, one start-up."""
    from colorutils import cli

    tree = tmp_path / "in"
    for rel in ("airplane/0000.jpg", "airplane/0001.jpg", "truck/0000.jpg"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo(20, 24, len(rel))).save(tree / rel)
    out = tmp_path / "out"

    def colorize(*extra):
        status = cli.main(["colorize", str(tree), "--model", str(run_dir), "--out", str(out),
                           *extra])
        return status, capsys.readouterr().out

    assert colorize()[0] == 0
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert outputs == ["airplane/0000_colorized.png", "airplane/0001_colorized.png",
                       "truck/0000_colorized.png"]
    marked = out / "truck" / "0000_colorized.png"
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(marked)  # "an earlier output"
    checksum = _md5(marked)
    (out / "airplane" / "0001_colorized.png").unlink()  # as if the first run was interrupted
    status, said = colorize()
    assert status == 0
    assert _md5(marked) == checksum  # kept
    assert (out / "airplane" / "0001_colorized.png").is_file()  # finished
    assert "colorized 1 of 3 images" in said and "2 colorized there before" in said, said
    status, said = colorize("--overwrite")
    assert status == 0 and "colorized 3 of 3 images" in said, said
    assert _md5(marked) != checksum


def test_output_keeps_the_lightness_and_detail(model, photos):
    """The model only adds chroma: the output keeps the input's lightness, pixel for pixel.

    (Up to uint8 rounding and the gamut clipping of a few dark or bright pixels; colorizing at
    the model's 16 px and enlarging the RGB would blur the per-pixel noise of this photo and
    miss by several L units on average.)
    """
    from colorutils.colorize import colorize_array
    from colorutils.files import lightness, read_image

    folder = photos[0]
    gray = read_image(folder / "gray.jpg")
    rgb = colorize_array(model[0], gray, model[1])
    assert rgb.shape == gray.shape + (3,) and rgb.dtype == np.uint8
    error = np.abs(lightness(rgb) - lightness(gray))
    assert error.mean() < 0.5 and np.percentile(error, 95) < 1.5, error.max()


def test_colour_input_is_reduced_to_lightness(model):
    """Two photos with the same lightness but different hues give the same colorization."""
    from colorutils import color
    from colorutils.colorize import colorize_array
    from colorutils.files import lightness

    rng = np.random.default_rng(0)
    L = rng.uniform(40, 70, (24, 32, 1)).astype(np.float32)
    reds = np.asarray(color.lab_to_rgb(np.concatenate([L, np.full_like(L, 20), 0 * L], -1)))
    blues = np.asarray(color.lab_to_rgb(np.concatenate([L, 0 * L, np.full_like(L, -20)], -1)))
    assert np.abs(lightness(reds) - lightness(blues)).max() < 0.05
    out_r = colorize_array(model[0], reds, model[1]).astype(int)
    out_b = colorize_array(model[0], blues, model[1]).astype(int)
    assert np.abs(out_r - out_b).max() <= 1


def test_model_runs_at_training_size_keeping_aspect():
    from colorutils.colorize import model_shape
    from colorutils.files import training_size

    assert model_shape(3000, 4000, 48) == (48, 64)
    assert model_shape(4000, 3000, 48) == (64, 48)
    assert model_shape(7, 9, 16) == (16, 16)
    assert training_size({"config": {"image_size": 48}, "seed": 0}) == 48


@pytest.mark.slow
def test_large_photo_within_memory_budget(run_dir, folder_run, tmp_path):
    """A 4000 x 3000 photo costs less than LARGE_BUDGET_MIB above a run on tiny photos."""
    big = tmp_path / "big.jpg"
    yy, xx = np.mgrid[0:3000, 0:4000].astype(np.float32)
    pixels = np.stack([xx / 4000 * 255, yy / 3000 * 255, (xx + yy) % 255], -1).astype(np.uint8)
    Image.fromarray(pixels).save(big, quality=85)
    del pixels, xx, yy
    res = _colorize(big, "--model", run_dir, "--out", tmp_path / "out", "--format", "jpeg",
                    wrap_rss=True, timeout=240)
    assert res.returncode == 0, res.stderr
    with Image.open(tmp_path / "out" / "big_colorized.jpg") as img:
        assert img.size == (4000, 3000)
        assert img.format == "JPEG"
    peak = int(res.stdout.split("PEAK_RSS_KIB")[1].split()[0]) / 1024
    small = folder_run[3]
    print(f"peak RSS: tiny photos {small:.0f} MiB, 4000x3000 {peak:.0f} MiB "
          f"(+{peak - small:.0f} MiB; budget +{LARGE_BUDGET_MIB} MiB)")
    assert peak - small < LARGE_BUDGET_MIB, (small, peak)


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    """A model of the wrong kind: an RGB image classifier with a plain (non-dict) output."""
    import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    path = tmp_path_factory.mktemp("wrong") / "classifier.keras"
    keras.Model(inputs, keras.layers.Dense(10)(x)).save(path)
    return path


@pytest.mark.parametrize("case", ["missing_model", "temperature_zero", "temperature_above_one",
                                  "output_over_input"])
def test_usage_errors_are_one_line_with_status_2(case, run_dir, tmp_path):
    photo = tmp_path / "in.png"
    Image.fromarray(_photo(20, 20)).save(photo)
    args = [photo, "--model", run_dir, "--out", tmp_path / "out"]
    expect = {"missing_model": "does not exist", "temperature_zero": "outside (0, 1]", "temperature_above_one": "outside (0, 1]",
              "output_over_input": "would overwrite an input"}[case]
    guarded = None
    if case == "missing_model":
        args[2] = tmp_path / "no_such_run"
    elif case == "temperature_zero":
        args += ["--temperature", "0"]
    elif case == "temperature_above_one":
        args += ["--temperature", "1.5"]
    else:  # in.png would be written to out/x_colorized.png, which is itself an input
        guarded = tmp_path / "out" / "in_colorized.png"
        guarded.parent.mkdir()
        Image.fromarray(_photo(10, 10, 5)).save(guarded)
        args = [photo, guarded, *args[1:]]
        checksum = _md5(guarded)
    res = _colorize(*args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("colorutils colorize: error:") and expect in lines[0], lines[0]
    if guarded is not None:
        assert _md5(guarded) == checksum


def test_a_model_of_the_wrong_kind_is_one_line_with_status_2(classifier_file, tmp_path, capsys):
    """In-process (``cli.main`` is what the console script calls): saves a TensorFlow start-up."""
    from colorutils import cli

    photo = tmp_path / "in.png"
    Image.fromarray(_photo(20, 20)).save(photo)
    status = cli.main(["colorize", str(photo), "--model", str(classifier_file),
                       "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and "not a colorization model" in err[0], err
    assert "shape (None, None, None, 3)" in err[0]  # says what it got
    assert not (tmp_path / "out").exists()


def test_run_folder_config_is_what_the_cli_reads(run_dir, tmp_path):
    """Training size, chroma space and bins come from the run folder (also via its .keras
    file); a bare .keras file of a regressor predicts Lab."""
    from colorutils import models, quantize
    from colorutils.files import find_config as read_run_config
    from colorutils.files import training_size
    from colorutils.inference import load_colorizer

    config = json.loads((run_dir / "config.json").read_text())
    assert training_size(config) == TRAIN_SIZE
    assert read_run_config(run_dir / "best.keras") == config
    colorizer = load_colorizer(run_dir / "best.keras")
    assert (colorizer.image_size, colorizer.space) == (TRAIN_SIZE, "lab")
    np.testing.assert_array_equal(colorizer.bins, quantize.ab_bins())
    hsv_run = tmp_path / "regression_hsv"
    hsv_run.mkdir()
    (hsv_run / "config.json").write_text(json.dumps({"config": {"space": "hsv",
                                                                "image_size": 48}}))
    models.regression_cnn(width=0.125).save(hsv_run / "best.keras")
    assert load_colorizer(hsv_run).space == "hsv"
    assert load_colorizer(hsv_run / "best.keras").image_size == 48
    (tmp_path / "elsewhere").mkdir()
    models.regression_cnn(width=0.125).save(tmp_path / "elsewhere" / "model.keras")
    assert load_colorizer(tmp_path / "elsewhere" / "model.keras", image_size=32).space == "lab"


def test_outputs_mirror_the_inputs_and_never_collide(tmp_path):
    """Earlier outputs inside an input folder are not colorized again; the tree is mirrored;
    x.jpg beside x.png keep apart by their suffix, never by a counter."""
    from colorutils.files import find_images, plan_outputs

    for name in ("a/x.jpg", "a/x.png", "b/sub/x.png", "out/x_colorized.png",
                 "out/x_compare.png", "out/keep.png", "c/x.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo(8, 8)).save(tmp_path / name)
    found = find_images([tmp_path], exclude=tmp_path / "out")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in found) == [
        "a/x.jpg", "a/x.png", "b/sub/x.png", "c/x.jpg", "out/keep.png"]
    plan = plan_outputs([tmp_path / "a", tmp_path / "b"], tmp_path / "out2", "jpeg", True)
    named = [(m.relative_to(tmp_path / "out2").as_posix(), c.name) for _, m, c in plan]
    assert named == [("x_jpg_colorized.jpg", "x_jpg_compare.jpg"),
                     ("x_png_colorized.jpg", "x_png_compare.jpg"),
                     ("sub/x_colorized.jpg", "x_compare.jpg")]
    tree = plan_outputs([tmp_path], tmp_path / "out3")
    assert {m.relative_to(tmp_path / "out3").as_posix() for _, m, _ in tree} >= {
        "a/x_jpg_colorized.png", "b/sub/x_colorized.png", "c/x_colorized.png"}
    from colorutils.errors import UserError

    with pytest.raises(UserError, match="would both be written to"):  # two files, one name
        plan_outputs([tmp_path / "a" / "x.jpg", tmp_path / "c" / "x.jpg"], tmp_path / "o")
