"""The embedded sample set: labelled crops of real colour photos that ship inside Python packages.

The book must run offline (in CI, on a laptop on a train), so its default dataset is cut from
ten colour photographs that are installed together with scikit-image, scikit-learn and
matplotlib (credits and licences: ``data/README.md`` and :data:`PHOTOS`).  The label of a crop
is the photo it comes from, so the set doubles as a tiny 10-class classification problem.

Splits keep regions of each photo apart.  Every photo is cut into five equal bands along its
long side, assigned ``train | validation | train | test | train`` (:data:`BAND_LAYOUT`), and
every crop lies entirely inside one band, so no pixel of a validation or test crop was ever
seen in training.  Inside a band, a crop is a square whose side is drawn between 60 % and
100 % of the band's short extent (at least :data:`CROP_SIZE` pixels where the band allows it),
at a random position, and resized to ``CROP_SIZE x CROP_SIZE`` with a Lanczos filter.

The set is built deterministically (a fixed :class:`numpy.random.RandomState` seed per photo;
``RandomState`` streams are frozen by NumPy) in about a second, and cached on first use as an
``.npz`` file under :func:`cache_dir` (``$COLORUTILS_CACHE``, else ``$XDG_CACHE_HOME/colorutils``
or ``~/.cache/colorutils``).  Nothing binary is stored in git.

Sizes: :data:`CROPS_PER_PHOTO` crops per photo and split, i.e. 600 train, 120 validation and
120 test crops of 96 x 96 pixels.

Examples
--------
>>> from colorutils import sample
>>> arrays = sample.load_arrays()          # doctest: +SKIP
>>> arrays["train_images"].shape           # doctest: +SKIP
(600, 96, 96, 3)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import tempfile

import numpy as np

from colorutils import photos, progress

#: Side length (pixels) of the stored crops; ``load("sample", ..., image_size)`` works up to it.
CROP_SIZE = 96
#: Number of crops cut from each photo, per split.
CROPS_PER_PHOTO = {"train": 60, "validation": 12, "test": 12}
#: Split of each of the five equal bands along a photo's long side.
BAND_LAYOUT = ("train", "validation", "train", "test", "train")
#: Smallest crop side as a fraction of the band's short extent.
MIN_CROP_FRACTION = 0.6
#: Base seed of the crop positions (photo ``i`` uses ``SAMPLE_SEED + i``).
SAMPLE_SEED = 2024
#: Bump when the recipe changes: old cache files are then ignored.
SAMPLE_VERSION = 1
SPLITS = ("train", "validation", "test")
CACHE_ENV_VAR = "COLORUTILS_CACHE"


@dataclasses.dataclass(frozen=True)
class Photo:
    """One source photograph of the sample set."""

    name: str  # the class name of its crops
    package: str  # the installed package that ships it
    filename: str
    credit: str
    licence: str
    url: str


#: The photos, in label order.  Only real photographs (no synthetic or grayscale images).
PHOTOS: tuple[Photo, ...] = (
    Photo("astronaut", "skimage", "astronaut.png", "NASA (Eileen Collins)",
          "public domain", "https://flic.kr/p/r9qvLn"),
    Photo("cat", "skimage", "chelsea.png", "Stefan van der Walt (Chelsea the cat)",
          "CC0", "https://scikit-image.org/docs/stable/api/skimage.data.html"),
    Photo("coffee", "skimage", "coffee.png", "Rachel Michetti, courtesy of Pikolo Espresso Bar",
          "CC0", "https://scikit-image.org/docs/stable/api/skimage.data.html"),
    Photo("rocket", "skimage", "rocket.jpg", "SpaceX (DSCOVR launch on Falcon 9)",
          "public domain",
          "https://www.flickr.com/photos/spacexphotos/16511594820/"),
    Photo("motorcycle", "skimage", "motorcycle_left.png",
          "Middlebury 2014 stereo benchmark (Scharstein et al.), left view, downsampled 4x",
          "research use, redistributed with scikit-image",
          "https://vision.middlebury.edu/stereo/data/scenes2014/"),
    Photo("hubble", "skimage", "hubble_deep_field.jpg", "NASA / Hubble eXtreme Deep Field",
          "public domain",
          "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/"),
    Photo("retina", "skimage", "retina.jpg", "Mikael Haggstrom (fundus photograph)",
          "CC0",
          "https://commons.wikimedia.org/wiki/File:Fundus_photograph_of_normal_left_eye.jpg"),
    Photo("china", "sklearn", "china.jpg", "danielbuechele on Flickr (Summer Palace, China)",
          "CC BY 2.0", "https://www.flickr.com/photos/danielbuechele/6061409035/"),
    Photo("flower", "sklearn", "flower.jpg", "vultilion on Flickr",
          "CC BY 2.0", "https://www.flickr.com/photos/vultilion/6056698931/"),
    Photo("grace_hopper", "matplotlib", "grace_hopper.jpg",
          "U.S. Navy (Commodore Grace M. Hopper, 1984)", "public domain",
          "https://commons.wikimedia.org/wiki/File:Commodore_Grace_M._Hopper,_USN_(covered).jpg"),
)
CLASS_NAMES = tuple(p.name for p in PHOTOS)


def photo_path(photo: Photo) -> str:
    """The file of ``photo`` inside its installed package.

    Raises
    ------
    FileNotFoundError
        If the package is not installed or no longer ships the photo.
    """
    try:
        if photo.package == "skimage":
            import skimage.data

            folder = pathlib.Path(skimage.data.__file__).parent
        elif photo.package == "sklearn":
            import sklearn.datasets

            folder = pathlib.Path(sklearn.datasets.__file__).parent / "images"
        elif photo.package == "matplotlib":
            import matplotlib

            folder = pathlib.Path(matplotlib.get_data_path()) / "sample_data"
        else:  # pragma: no cover - a programming error in PHOTOS
            raise ValueError(f"unknown package {photo.package!r}")
    except ImportError as err:
        raise FileNotFoundError(
            f"the sample photo {photo.filename!r} ships with {photo.package}, which is not "
            f"installed; pip install scikit-image scikit-learn matplotlib") from err
    path = folder / photo.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: this version of {photo.package} no longer ships "
            f"{photo.filename!r}; install the versions pinned in pyproject.toml.")
    return str(path)


def read_photo(photo: Photo) -> np.ndarray:
    """The photo as uint8 RGB ``[H, W, 3]`` (:func:`colorutils.photos.read_image`, the reader
    of ``colorutils colorize``; a gray photo on three channels)."""
    image = photos.read_image(photo_path(photo))
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def split_regions(height: int, width: int) -> dict[str, list[tuple[int, int, int, int]]]:
    """The bands of a ``height x width`` photo that each split may crop from.

    The long side is cut into ``len(BAND_LAYOUT)`` equal bands (integer edges); band ``i``
    belongs to split ``BAND_LAYOUT[i]``.

    Returns
    -------
    dict
        split -> list of boxes ``(top, bottom, left, right)`` in pixels (bottom/right exclusive).
    """
    n = len(BAND_LAYOUT)
    long_side = max(height, width)
    edges = [round(i * long_side / n) for i in range(n + 1)]
    regions: dict[str, list[tuple[int, int, int, int]]] = {s: [] for s in SPLITS}
    for split, lo, hi in zip(BAND_LAYOUT, edges[:-1], edges[1:], strict=True):
        box = (0, height, lo, hi) if width >= height else (lo, hi, 0, width)
        regions[split].append(box)
    return regions


def crop_boxes(height: int, width: int, split: str, count: int,
               rng: np.random.RandomState) -> list[tuple[int, int, int]]:
    """``count`` random square crops ``(top, left, side)`` inside the bands of ``split``.

    The band of each crop is drawn uniformly among the split's bands; its side uniformly in
    ``[max(MIN_CROP_FRACTION * m, min(CROP_SIZE, m)), m]`` with ``m`` the band's short extent;
    its position uniformly where it fits.
    """
    bands = split_regions(height, width)[split]
    boxes = []
    for _ in range(count):
        top, bottom, left, right = bands[rng.randint(len(bands))]
        extent = min(bottom - top, right - left)
        lo = max(int(MIN_CROP_FRACTION * extent), min(CROP_SIZE, extent))
        side = rng.randint(lo, extent + 1)
        y = top + rng.randint(bottom - top - side + 1)
        x = left + rng.randint(right - left - side + 1)
        boxes.append((y, x, side))
    return boxes


def build_arrays(crop_size: int = CROP_SIZE, seed: int = SAMPLE_SEED) -> dict[str, np.ndarray]:
    """Cut the sample set from the installed photos (deterministic, ~1 s).

    Returns
    -------
    dict
        ``{split}_images`` uint8 ``[N, crop_size, crop_size, 3]``, ``{split}_labels`` int32
        ``[N]`` (index into ``class_names``) and ``{split}_boxes`` int32 ``[N, 3]``
        (top, left, side in the source photo) for each split, plus ``class_names``.
    """
    from PIL import Image  # start-up: only when the sample set is (re)built

    out: dict[str, list] = {}
    for label, photo in enumerate(progress.bar(PHOTOS, desc="building the sample set",
                                               unit="photo")):
        rgb = read_photo(photo)
        image = Image.fromarray(rgb)
        height, width = rgb.shape[:2]
        rng = np.random.RandomState(seed + label)
        for split in SPLITS:
            for y, x, side in crop_boxes(height, width, split, CROPS_PER_PHOTO[split], rng):
                crop = image.resize((crop_size, crop_size), Image.Resampling.LANCZOS,
                                    box=(x, y, x + side, y + side))
                out.setdefault(f"{split}_images", []).append(np.asarray(crop))
                out.setdefault(f"{split}_labels", []).append(label)
                out.setdefault(f"{split}_boxes", []).append((y, x, side))
    arrays = {
        key: np.asarray(value, dtype=np.uint8 if key.endswith("images") else np.int32)
        for key, value in out.items()
    }
    arrays["class_names"] = np.asarray(CLASS_NAMES)
    return arrays


def cache_dir() -> pathlib.Path:
    """Folder of cached files: ``$COLORUTILS_CACHE``, else ``$XDG_CACHE_HOME/colorutils``,
    else ``~/.cache/colorutils``."""
    if os.environ.get(CACHE_ENV_VAR):
        return pathlib.Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "colorutils"


def cache_path(crop_size: int = CROP_SIZE, seed: int = SAMPLE_SEED) -> pathlib.Path:
    """The ``.npz`` file the sample set is cached in (recipe version, size and seed in the
    name, so a changed recipe never reads a stale file)."""
    return cache_dir() / f"sample-v{SAMPLE_VERSION}-{crop_size}px-seed{seed}.npz"


_MEMORY: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def load_arrays(crop_size: int = CROP_SIZE, seed: int = SAMPLE_SEED,
                cache: bool = True) -> dict[str, np.ndarray]:
    """The sample set as NumPy arrays (see :func:`build_arrays`), built on first use and cached.

    Parameters
    ----------
    cache : bool
        Read/write the ``.npz`` file at :func:`cache_path` (written atomically, so parallel
        processes never read a half-written file).  ``False`` always rebuilds in memory.
    """
    if not cache:
        return build_arrays(crop_size, seed)
    path = cache_path(crop_size, seed)
    key = (str(path), crop_size, seed)
    if key in _MEMORY:
        return _MEMORY[key]
    arrays = None
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError):  # a damaged cache file: rebuild it
            arrays = None
    if arrays is None:
        arrays = build_arrays(crop_size, seed)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is plain data
            os.replace(tmp, path)
        except OSError:  # read-only home: keep the in-memory copy
            pass
    _MEMORY[key] = arrays
    return arrays


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over all arrays (names, shapes and bytes): equal iff two builds are equal."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(key.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.astype(str).tobytes() if value.dtype.kind == "U" else value.tobytes())
    return digest.hexdigest()


def show_split_bands(ncols: int = 5, size: float = 2.6):
    """Figure: every photo with its bands shaded by split and the crop boxes of each split.

    Returns the matplotlib ``Figure``.
    """
    # start-up: pyplot loads only when the figure is drawn
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    colors = {"train": "tab:blue", "validation": "tab:orange", "test": "tab:red"}
    arrays = load_arrays()
    nrows = -(-len(PHOTOS) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.8),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for label, (photo, ax) in enumerate(zip(PHOTOS, axes.flat, strict=False)):
        rgb = read_photo(photo)
        step = max(1, max(rgb.shape[:2]) // 400)  # display at most ~400 px: faster figures
        ax.imshow(rgb[::step, ::step], extent=(0, rgb.shape[1], rgb.shape[0], 0))
        for split, boxes in split_regions(*rgb.shape[:2]).items():
            for top, bottom, left, right in boxes:
                ax.add_patch(Rectangle((left, top), right - left, bottom - top,
                                       color=colors[split], alpha=0.18, lw=0))
            for y, x, side in arrays[f"{split}_boxes"][arrays[f"{split}_labels"] == label]:
                ax.add_patch(Rectangle((x, y), side, side, fill=False, lw=0.6,
                                       edgecolor=colors[split]))
        ax.set_title(f"{label}: {photo.name} ({rgb.shape[1]}x{rgb.shape[0]})", fontsize=8)
    fig.legend(handles=[Patch(color=c, label=s) for s, c in colors.items()],
               loc="outside lower center", ncol=3, fontsize=8)
    fig.suptitle("Sample set: bands (shaded) and crop boxes (outlined) of each split",
                 fontsize=10)
    return fig
