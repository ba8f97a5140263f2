"""colorutils.data: sources, pipeline contract, bad input, determinism."""

from __future__ import annotations

import os
import pathlib
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorutils import color, data

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _check_lab_batch(l_norm, targets, size, batch, with_label=False):
    assert l_norm.dtype == tf.float32 and l_norm.shape == (batch, size, size, 1)
    assert targets["ab"].dtype == tf.float32 and targets["ab"].shape == (batch, size, size, 2)
    assert -1.0 - 1e-5 <= float(tf.reduce_min(l_norm)) and float(tf.reduce_max(l_norm)) <= 1 + 1e-5
    ab = targets["ab"].numpy()
    assert ab.min() >= -128 and ab.max() <= 128
    assert np.abs(ab).max() > 5, "ab is (nearly) zero: the targets carry no colour"
    if with_label:
        assert targets["label"].dtype == tf.int32 and targets["label"].shape == (batch,)
    else:
        assert set(targets) == {"ab"}


def _count(ds):
    return sum(int(tf.shape(x)[0]) for x, _ in ds)


def _save_colour(path, size=(40, 30), rgb=(200, 40, 30), seed=0):
    rng = np.random.RandomState(seed)
    img = np.clip(np.asarray(rgb) + rng.randint(-20, 20, (size[1], size[0], 3)), 0, 255)
    Image.fromarray(img.astype(np.uint8)).save(path)


@pytest.fixture()
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path / "cache"))
    data._MEMORY.clear()
    yield tmp_path / "cache"
    data._MEMORY.clear()


# ---------------------------------------------------------------------------------------------
# the embedded sample set
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sample_is_identical_across_two_builds_and_cached(cache_env):
    first = data.build_arrays()
    second = data.build_arrays()
    assert data.fingerprint(first) == data.fingerprint(second)
    cached = data.load_arrays()  # builds and writes the cache file
    assert data.cache_path().is_file() and str(cache_env) in str(data.cache_path())
    data._MEMORY.clear()
    reread = data.load_arrays()  # reads the file
    assert data.fingerprint(reread) == data.fingerprint(cached) == data.fingerprint(first)


def test_sample_sizes_and_labels():
    arrays = data.load_arrays()
    n_photos = len(data.PHOTOS)
    for split in data.SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        expected = data.CROPS_PER_PHOTO[split] * n_photos
        assert images.shape == (expected, data.CROP_SIZE, data.CROP_SIZE, 3)
        assert images.dtype == np.uint8
        assert np.bincount(labels, minlength=n_photos).tolist() == [
            data.CROPS_PER_PHOTO[split]] * n_photos
    # real colour photos: every photo has strongly coloured pixels
    for label in range(n_photos):
        crops = arrays["train_images"][arrays["train_labels"] == label]
        chroma = np.linalg.norm(color.rgb_to_lab(crops[:8]).numpy()[..., 1:], axis=-1)
        assert chroma.max() > 20, data.PHOTOS[label].name


def test_sample_splits_keep_regions_of_each_photo_apart():
    arrays = data.load_arrays()
    for label, photo in enumerate(data.PHOTOS):
        h, w = data.read_photo(photo).shape[:2]
        regions = data.split_regions(h, w)
        for split in data.SPLITS:
            boxes = arrays[f"{split}_boxes"][arrays[f"{split}_labels"] == label]
            for y, x, side in boxes:
                inside = [t <= y and y + side <= b and lft <= x and x + side <= r
                          for t, b, lft, r in regions[split]]
                assert any(inside), f"{photo.name} {split} crop {(y, x, side)} leaves its band"
                others = [box for s in data.SPLITS if s != split for box in regions[s]]
                for t, b, lft, r in others:  # no pixel shared with another split's band
                    assert y + side <= t or y >= b or x + side <= lft or x >= r


def test_sample_pipeline_contract_lab_and_rgb():
    ds = data.load("sample", "train", 24, batch_size=8, with_label=True)
    l_norm, targets = next(iter(ds))
    _check_lab_batch(l_norm, targets, 24, 8, with_label=True)
    assert set(targets["label"].numpy()) <= set(range(len(data.PHOTOS)))
    rgb, label = next(iter(data.load("sample", "test", 16, batch_size=5, output="rgb")))
    assert rgb.dtype == tf.float32 and rgb.shape == (5, 16, 16, 3)
    assert 0.0 <= float(tf.reduce_min(rgb)) and float(tf.reduce_max(rgb)) <= 1.0
    assert label.dtype == tf.int32 and label.shape == (5,)
    # L and ab are the Lab conversion of the same pixels
    l2, t2 = next(iter(data.load("sample", "test", 16, batch_size=5)))
    lab = color.rgb_to_lab(rgb)
    np.testing.assert_allclose(l2.numpy(), color.normalize_l(lab[..., :1]).numpy(), atol=1e-5)
    np.testing.assert_allclose(t2["ab"].numpy(), lab[..., 1:].numpy(), atol=1e-3)


def test_eval_split_is_complete_and_ordered_train_is_shuffled():
    ds = data.load("sample", "validation", 16, batch_size=32, output="rgb")
    labels = np.concatenate([y.numpy() for _, y in ds])
    assert len(labels) == 120
    again = np.concatenate([y.numpy() for _, y in data.load("sample", "validation", 16,
                                                            batch_size=7, output="rgb")])
    np.testing.assert_array_equal(labels, again)


def test_same_seed_same_batches_other_seed_other_batches():
    def first(seed):
        x, y = next(iter(data.load("sample", "train", 16, batch_size=16, seed=seed,
                                   output="rgb")))
        return x.numpy(), y.numpy()

    a, b, c = first(3), first(3), first(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_train_augments_eval_does_not():
    # two epochs of the same dataset: train crops/flips differ, eval images are identical;
    # a pass depends only on the seed and the epoch (what makes a resumed run exact)
    train = data.load("sample", "train", 16, batch_size=600, shuffle=False, output="rgb")
    e1, again = [x.numpy() for x, _ in train.take(1)], [x.numpy() for x, _ in train.take(1)]
    data.set_epoch(1)
    try:
        e2 = [x.numpy() for x, _ in train.take(1)]
    finally:
        data.set_epoch(0)
    assert not np.array_equal(e1[0], e2[0])
    np.testing.assert_array_equal(e1[0], again[0])
    test = data.load("sample", "test", 16, batch_size=200, output="rgb")
    np.testing.assert_array_equal(next(iter(test))[0].numpy(), next(iter(test))[0].numpy())


def test_limit_takes_every_class_and_repeat_repeats():
    ds = data.load("sample", "train", 16, batch_size=10, limit=30, with_label=True,
                   shuffle=False)
    labels = np.concatenate([t["label"].numpy() for _, t in ds])
    assert len(labels) == 30 and len(set(labels)) >= 8
    rep = data.load("sample", "test", 16, batch_size=16, limit=20, repeat=True)
    assert _count(rep.take(5)) == 80


def test_info_and_label_counts_of_sample():
    i = data.info("sample")
    assert i.num_classes == len(data.PHOTOS) == len(i.class_names)
    assert i.split_sizes == {"train": 600, "validation": 120, "test": 120}
    assert data.label_counts("sample", "test") == {p.name: 12 for p in data.PHOTOS}


# ---------------------------------------------------------------------------------------------
# decode_file and the folder source
# ---------------------------------------------------------------------------------------------

def test_decode_file_gray_rgba_16bit(tmp_path):
    Image.fromarray(np.full((5, 6), 90, np.uint8)).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(data.decode_file(str(tmp_path / "gray.png")).numpy(),
                                  np.full((5, 6, 3), 90))
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[:2, :, 3] = 200, 255  # top opaque red, bottom transparent
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    out = data.decode_file(str(tmp_path / "rgba.png")).numpy()
    assert out.shape == (4, 4, 3)
    assert out[0, 0].tolist() == [200, 0, 0] and out[3, 0].tolist() == [255, 255, 255]
    v16 = (np.arange(24).reshape(2, 4, 3) * 2500).astype(np.uint16)
    tf.io.write_file(str(tmp_path / "deep.png"), tf.io.encode_png(tf.constant(v16)))
    np.testing.assert_array_equal(data.decode_file(str(tmp_path / "deep.png")).numpy(),
                                  np.round(v16 / 257.0))
    jpg = tmp_path / "c.jpg"
    _save_colour(jpg)
    graph = tf.function(data.decode_file)(tf.constant(str(jpg)))
    assert graph.dtype == tf.uint8 and graph.shape == (30, 40, 3)


@pytest.fixture()
def messy_folder(tmp_path):
    """class/file folder: 4 good images (RGB JPEG, gray PNG, RGBA PNG, 16-bit PNG) + 3 bad."""
    root = tmp_path / "photos"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    _save_colour(root / "cats" / "good.jpg")
    Image.fromarray(np.full((20, 30), 120, np.uint8)).save(root / "cats" / "gray.png")
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 180, 255
    Image.fromarray(rgba).save(root / "dogs" / "alpha.png")
    deep = (np.random.RandomState(1).rand(24, 24, 3) * 65535).astype(np.uint16)
    tf.io.write_file(str(root / "dogs" / "deep.png"), tf.io.encode_png(tf.constant(deep)))
    good = (root / "cats" / "good.jpg").read_bytes()
    (root / "cats" / "corrupt.jpg").write_bytes(good[: len(good) // 2])  # truncated
    (root / "dogs" / "empty.jpg").write_bytes(b"")
    (root / "dogs" / "notes.png").write_text("this is not a picture\n")
    return root


def test_folder_with_bad_files_loads_the_good_ones_and_names_the_bad(messy_folder):
    source = f"folder:{messy_folder}"
    i = data.info(source)
    assert i.class_names == ("cats", "dogs") and sum(i.split_sizes.values()) == 7
    seen = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for split in data.SPLITS:
            if i.split_sizes[split] == 0:
                continue
            try:
                ds = data.load(source, split, 16, batch_size=8, with_label=True)
            except ValueError as err:  # a split holding only bad files
                assert "none of the" in str(err)
                continue
            for l_norm, targets in ds:
                assert l_norm.shape[1:] == (16, 16, 1) and targets["ab"].shape[1:] == (16, 16, 2)
                seen += int(l_norm.shape[0])
    assert seen == 4
    bad = [w for w in caught if issubclass(w.category, data.BadImagesWarning)]
    text = " ".join(str(w.message) for w in bad)
    for name in ("corrupt.jpg", "empty.jpg", "notes.png"):
        assert name in text
    assert "truncated" in text and "empty file" in text and "not a JPEG" in text
    # one warning per load, naming the count: the derived splits hold all 3 bad files
    counts = [int(str(w.message).split("skipped ")[1].split()[0]) for w in bad]
    assert sum(counts) == 3


def test_folder_bad_files_in_one_warning_with_count(tmp_path):
    root = tmp_path / "train" / "a"
    root.mkdir(parents=True)
    for k in range(3):
        _save_colour(root / f"ok{k}.png", seed=k)
    for k in range(7):
        (root / f"bad{k}.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    with pytest.warns(data.BadImagesWarning) as record:
        n = _count(data.load(f"folder:{tmp_path}", "train", 8, batch_size=4))
    assert n == 3 and len(record) == 1
    msg = str(record[0].message)
    assert "skipped 7 of 10" in msg and "bad0.jpg" in msg and "and 2 more" in msg


def test_folder_split_layout_and_derived_splits(tmp_path):
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        for cls, rgb in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            (tmp_path / split / cls).mkdir(parents=True)
            for k in range(n):
                _save_colour(tmp_path / split / cls / f"{k}.jpg", rgb=rgb, seed=k)
    i = data.info(f"folder:{tmp_path}")
    assert i.class_names == ("blue", "red")
    assert i.split_sizes == {"train": 12, "validation": 4, "test": 6}
    x, y = next(iter(data.load(f"folder:{tmp_path}", "test", 8, batch_size=6, output="rgb")))
    # label follows the folder: red images have r > b
    red = x.numpy()[..., 0].mean(axis=(1, 2)) > x.numpy()[..., 2].mean(axis=(1, 2))
    np.testing.assert_array_equal(red, y.numpy() == 1)
    # class/file layout: splits derived by hashing names, disjoint, deterministic
    flat = tmp_path / "flat"
    for cls in ("a", "b"):
        (flat / cls).mkdir(parents=True)
        for k in range(30):
            (flat / cls / f"img{k}.jpg").write_bytes(b"")
    listing = data.list_folder(str(flat))
    files = {s: {p for p, _ in listing.files[s]} for s in data.SPLITS}
    assert sum(len(v) for v in files.values()) == 60 and len(files["train"]) > 30
    assert not (files["train"] & files["validation"] or files["train"] & files["test"])
    assert data.list_folder(str(flat)).files == listing.files


def test_filter_gray_drops_gray_pictures(tmp_path):
    for split in ("train", "val", "test"):
        (tmp_path / split / "x").mkdir(parents=True)
    for k in range(3):
        _save_colour(tmp_path / "train" / "x" / f"colour{k}.png", seed=k)
        Image.fromarray(np.full((30, 40), 60 * k + 30, np.uint8)).save(
            tmp_path / "train" / "x" / f"gray{k}.png")
    # nearly gray: |a|, |b| <= 5 everywhere (kept only without the filter)
    Image.fromarray(np.full((30, 40, 3), (128, 126, 125), np.uint8)).save(
        tmp_path / "train" / "x" / "grayish.png")
    source = f"folder:{tmp_path}"
    assert _count(data.load(source, "train", 8, output="rgb")) == 7
    assert _count(data.load(source, "train", 8, output="rgb", filter_gray=True)) == 3


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'tfds:imagenet'.*'sample'"):
        data.load("imagenet", "train", 16)
    with pytest.raises(ValueError, match="split='valid'"):
        data.load("sample", "valid", 16)
    with pytest.raises(ValueError, match="image_size=0"):
        data.load("sample", "train", 0)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.load(f"folder:{tmp_path / 'missing'}", "train", 16)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no image files"):
        data.load(f"folder:{tmp_path / 'empty'}", "train", 16)
    (tmp_path / "loose").mkdir()
    for k in range(12):
        _save_colour(tmp_path / "loose" / f"{k}.jpg", seed=k)
    assert data.info(f"folder:{tmp_path / 'loose'}").notes.startswith("layout file")
    with pytest.raises(ValueError, match="with_label=True"):
        data.load(f"folder:{tmp_path / 'loose'}", "train", 16, with_label=True)


# ---------------------------------------------------------------------------------------------
# TFDS
# ---------------------------------------------------------------------------------------------

def test_unknown_tfds_name_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no dataset 'no_such_dataset_xyz'"):
        data.load("tfds:no_such_dataset_xyz", "train", 16, data_dir=str(tmp_path))


_FAKE_GENCODE = """
import os

class VersionError(Exception):
    pass

if os.environ.get("TEMPORARILY_DISABLE_PROTOBUF_VERSION_CHECK") != "true":
    raise VersionError("Detected incompatible Protobuf Gencode/Runtime versions: gencode "
                       "6.31.1 runtime 5.29.6.")
LOADED = True
"""


def test_protos_newer_than_protobuf_load_with_a_warning_and_the_check_restored(tmp_path,
                                                                                monkeypatch):
    """Colab pairs tensorflow-metadata 1.21.0 (protobuf 6.31.1 gencode) with protobuf 5.29.6:
    the import must still work, say so, and leave protobuf's check on for everything else."""
    (tmp_path / "fake_gencode_pb2.py").write_text(_FAKE_GENCODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(data.PROTOBUF_CHECK_ENV_VAR, raising=False)
    with pytest.warns(RuntimeWarning, match="without protobuf's version check"):
        module = data.import_protos("fake_gencode_pb2")
    assert module.LOADED
    assert data.PROTOBUF_CHECK_ENV_VAR not in os.environ


def test_other_import_errors_of_protos_are_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "fake_broken_pb2.py").write_text("raise ImportError('really broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="really broken"):
        data.import_protos("fake_broken_pb2")


def test_offline_tfds_fails_fast_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv(data.OFFLINE_ENV_VAR, "1")
    start = time.perf_counter()
    with pytest.raises(data.DatasetNotAvailableError) as err:
        data.load("tfds:cifar10", "train", 16, data_dir=str(tmp_path))
    assert time.perf_counter() - start < 30
    msg = str(err.value)
    assert "data_dir" in msg and "folder:PATH" in msg and str(tmp_path) in msg
    # info() does not download either: it reports classes, no sizes
    i = data.info("tfds:cifar10", data_dir=str(tmp_path))
    assert i.num_classes == 10 and i.split_sizes == {}


def test_offline_tfds_without_forcing_uses_the_probe(tmp_path, monkeypatch):
    monkeypatch.delenv(data.OFFLINE_ENV_VAR, raising=False)
    start = time.perf_counter()
    if data.network_available():
        pytest.skip("this machine reaches storage.googleapis.com: load would download")
    with pytest.raises(data.DatasetNotAvailableError, match="offline"):
        data.load("tfds:cifar10", "test", 16, data_dir=str(tmp_path))
    assert time.perf_counter() - start < 30


def test_network_probe_returns_within_seconds_when_unreachable(monkeypatch):
    monkeypatch.delenv(data.OFFLINE_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "NETWORK_PROBE", ("unreachable.invalid", 443))
    start = time.perf_counter()
    assert data.network_available(timeout=2.0) is False
    assert time.perf_counter() - start < 5


def _tiny_tfds_builder():
    import tensorflow_datasets as tfds

    class ColorutilsTinyImages(tfds.core.GeneratorBasedBuilder):
        """Test-only dataset: train and test splits (no validation), RGB and gray images."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(names=["red", "green"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(20), "test": self._generate_examples(6)}

        def _generate_examples(self, n):
            for i in range(n):
                rgb = (220, 40, 40) if i % 2 == 0 else (40, 200, 40)
                img = np.zeros((18 + i % 4, 24, 3), np.uint8) + np.asarray(rgb, np.uint8)
                yield i, {"image": img, "label": i % 2}

    return ColorutilsTinyImages


@pytest.mark.slow
def test_tfds_source_reads_a_prepared_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv(data.OFFLINE_ENV_VAR, "1")  # prepared: must not need the network
    import tensorflow_datasets as tfds

    _tiny_tfds_builder()
    tfds.builder("colorutils_tiny_images", data_dir=str(tmp_path)).download_and_prepare()
    source = "tfds:colorutils_tiny_images"
    i = data.info(source, data_dir=str(tmp_path))
    assert i.class_names == ("red", "green")
    assert i.split_sizes == {"train": 18, "validation": 2, "test": 6}
    total = 0
    for split in data.SPLITS:
        for l_norm, targets in data.load(source, split, 12, batch_size=4, with_label=True,
                                         data_dir=str(tmp_path)):
            _check_lab_batch(l_norm, targets, 12, int(l_norm.shape[0]), with_label=True)
            a = targets["ab"].numpy()[..., 0].mean(axis=(1, 2))
            np.testing.assert_array_equal(a > 0, targets["label"].numpy() == 0)  # red: a > 0
            total += int(l_norm.shape[0])
    assert total == 26


# ---------------------------------------------------------------------------------------------
# real data tier (../shared/data), skipped when absent
# ---------------------------------------------------------------------------------------------

@pytest.mark.realdata
@pytest.mark.parametrize("name,layout", [("cifar10", "class/file"),
                                         ("clothing10", "split/class/file")])
def test_real_folder(name, layout):
    root = SHARED / name
    if not root.is_dir():
        pytest.skip(f"{root} is absent: the real-data tier needs ../shared/data/{name}")
    source = f"folder:{root}"
    i = data.info(source)
    assert i.num_classes == 10 and layout in i.notes
    assert min(i.split_sizes.values()) > 100
    for split in ("train", "test"):
        ds = data.load(source, split, 32, batch_size=16, with_label=True, limit=32)
        batches = list(ds)
        assert sum(int(b[0].shape[0]) for b in batches) == 32
        _check_lab_batch(*batches[0], 32, 16, with_label=True)
        labels = np.concatenate([t["label"].numpy() for _, t in batches])
        assert len(set(labels)) >= 5 and labels.max() < 10
    if os.environ.get("COLORUTILS_FULL_REALDATA"):  # opt-in: decode every file once
        assert _count(data.load(source, "test", 32, batch_size=256)) == i.split_sizes["test"]


def test_throughput_counts_images_and_split_band_figure():
    ds = data.load("sample", "test", 16, batch_size=10, output="rgb")
    result = data.throughput(ds, warmup=2)
    assert result["images"] == 100 and result["images_per_s"] > 0
    assert data.throughput(ds, batches=3, warmup=0)["images"] == 30
    import matplotlib

    matplotlib.use("Agg")
    fig = data.show_split_bands()
    assert fig._suptitle.get_text() and len(fig.axes) >= len(data.PHOTOS)


def test_reduced_size_jpeg_decoding_keeps_short_side_and_content(tmp_path):
    rng = np.random.RandomState(0)
    smooth = tf.image.resize(rng.rand(1, 10, 12, 3) * 255, (200, 240)).numpy()[0]
    Image.fromarray(smooth.astype(np.uint8)).save(tmp_path / "big.jpg", quality=95)
    path = str(tmp_path / "big.jpg")
    assert data.decode_file(path).shape == (200, 240, 3)
    assert data.decode_file(path, min_side=100).shape == (100, 120, 3)  # 1/2 scale
    assert data.decode_file(path, min_side=40).shape == (50, 60, 3)  # 1/4: 50 >= 40
    assert data.decode_file(path, min_side=101).shape == (200, 240, 3)  # 1/2 would be < 101
    full = data.resize_short_side(data.decode_file(path), 40).numpy()
    fast = data.resize_short_side(data.decode_file(path, min_side=40), 40).numpy()
    assert fast.shape == full.shape
    assert 10 * np.log10(255**2 / np.mean((full - fast) ** 2)) > 30  # PSNR in dB


@pytest.mark.parametrize("budget, cached", [(None, True), (1, False)])
def test_load_caches_in_memory_only_within_the_budget(tmp_path, monkeypatch, budget, cached):
    """A split that fits MEMORY_CACHE_BYTES is read once; a larger one is read every epoch
    (seen here by deleting the files between two epochs)."""
    folder = tmp_path / "photos" / "train" / "things"
    folder.mkdir(parents=True)
    for i in range(6):
        Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    if budget is not None:
        monkeypatch.setattr(data, "MEMORY_CACHE_BYTES", budget)
    assert (data.cache_bytes(6, 16) <= data.MEMORY_CACHE_BYTES) == cached
    ds = data.load(f"folder:{tmp_path / 'photos'}", "train", 16, batch_size=4, shuffle=False)
    n = _count(ds)
    assert n == data.info(f"folder:{tmp_path / 'photos'}").split_sizes["train"] > 0
    for path in folder.iterdir():
        path.unlink()
    assert _count(ds) == (n if cached else 0)
