"""Photo files for the ``colorize`` command: read, reduce to lightness, save, find, name.

A colorization model sees only the lightness ``L`` of a photo.  This module turns photo files
into that input and the results back into files, within a bounded memory:

* :func:`read_image` decodes JPEG, PNG, 16-bit PNG, TIFF, ... with the EXIF orientation
  applied, and :func:`lightness` reduces any gray or colour photo to CIE L* at full
  resolution, converting in bands of about :data:`BAND_PIXELS` pixels (:func:`bands`), so the
  temporary memory does not grow with the photo;
* :func:`gray_version` (what the model sees, as RGB), :func:`side_by_side` and
  :func:`save_image` (PNG or JPEG at :data:`JPEG_QUALITY`) make the outputs;
* :func:`find_inputs` expands files and folders, :func:`output_paths` names the outputs and
  :func:`plan_outputs` lays them out: the input tree mirrored under the output folder
  (``in/airplane/0000.jpg`` -> ``out/airplane/0000_colorized.png``, one output per input),
  never over an input.

TensorFlow is imported through :func:`import_tf_quietly`, only when a conversion needs it, so
that the command answers argument errors in one line before TensorFlow starts.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
from collections.abc import Iterable

import numpy as np

from colorutils import files
from colorutils.errors import UserError, first_line

__all__ = ["IMAGE_SUFFIXES", "BAND_PIXELS", "OUTPUT_SUFFIX", "JPEG_QUALITY",
           "PNG_COMPRESS_LEVEL", "import_tf_quietly", "UnreadableImageError", "read_image",
           "bands", "lightness", "gray_version", "side_by_side", "save_image", "output_paths",
           "read_lightness", "save_result", "find_inputs", "find_images", "Planned",
           "plan_outputs"]

#: File name endings searched for inside input folders (explicit file inputs may have any).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")
#: Pixels per band of the full-resolution colour conversions (bounds their temporary memory).
BAND_PIXELS = 1 << 20
#: File name endings of the outputs.
OUTPUT_SUFFIX = {"png": ".png", "jpeg": ".jpg"}
JPEG_QUALITY = 95
#: zlib level of PNG outputs: 1 encodes a 512 px photo about 4x faster than Pillow's default 6
#: for files about 10 % larger (the same pixels: PNG is lossless); encoding was the slowest
#: stage of colorizing a photo (benchmarks/bench_colorize.py).
PNG_COMPRESS_LEVEL = 1


def import_tf_quietly():
    """Import TensorFlow and Keras without their start-up chatter on stderr.

    The command promises one-line errors; TensorFlow prints several INFO lines to file
    descriptor 2 while it loads (before Python's logging can filter them).  They are captured
    and shown only if the import itself fails.
    """
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return sys.modules["tensorflow"], sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (e.g. some embedded interpreters)
        import keras
        import tensorflow as tf

        return tf, keras
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            import keras
            import tensorflow as tf
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tf, keras


class UnreadableImageError(OSError):
    """A file that Pillow cannot decode (not an image, truncated, corrupt)."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a photo file with its EXIF orientation applied.

    Returns uint8 ``[H, W]`` (8-bit gray), uint16 ``[H, W]`` (16-bit gray), or uint8
    ``[H, W, 3]`` (anything else: palette, RGB, CMYK, and transparent images composited on
    white).  16-bit colour PNGs are reduced to 8 bits by Pillow.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    UnreadableImageError
        If the file is not a readable image (with Pillow's reason).
    """
    from PIL import Image, ImageOps  # start-up: Pillow loads with the first photo

    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        # what Pillow raises for a file that is not a complete, sane image
        reason = first_line(err)
        raise UnreadableImageError(f"not a readable image ({reason})") from err
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(img).astype(np.uint16)
    if img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if img.mode == "I" or arr.max(initial=0) > 1.0 else 1.0
        return np.clip(np.round(arr / scale * 65535.0), 0, 65535).astype(np.uint16)
    if img.mode in ("L", "1"):
        return np.asarray(img.convert("L"))
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"))


def bands(height: int, width: int):
    """Row slices of at most about :data:`BAND_PIXELS` pixels covering an image."""
    rows = max(1, BAND_PIXELS // max(width, 1))
    for r0 in range(0, height, rows):
        yield slice(r0, min(r0 + rows, height))


def lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* (0..100, float32 ``[H, W]``) of a uint8/uint16 gray or uint8/float RGB image.

    Gray levels go through a lookup table built with :func:`colorutils.color.rgb_to_lab`
    (exact, one table entry per level); colour images are converted in bands of
    :data:`BAND_PIXELS` pixels, so the temporary memory does not grow with the photo.
    """
    import_tf_quietly()
    from colorutils import color  # start-up: after the quiet TensorFlow import

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        if image.dtype == np.uint8:
            levels = np.arange(256, dtype=np.float32) / 255.0
        elif image.dtype == np.uint16:
            levels = np.arange(65536, dtype=np.float32) / 65535.0
        else:
            raise ValueError(f"a gray image must be uint8 or uint16, got {image.dtype}; "
                             "convert with (x * 255).round().astype('uint8').")
        table = np.asarray(color.rgb_to_lab(np.repeat(levels[:, None], 3, axis=1)))[:, 0]
        return table.astype(np.float32)[image]
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image shape {image.shape}: expected [H, W] gray or [H, W, 3] RGB.")
    if image.dtype != np.uint8:
        image = image.astype(np.float32)
        if image.size and (image.min() < 0.0 or image.max() > 1.0):
            raise ValueError("a float RGB image must lie in [0, 1]; divide by 255 or pass uint8.")
    out = np.empty(image.shape[:2], np.float32)
    for band in bands(*image.shape[:2]):
        lab = color.rgb_to_lab(np.ascontiguousarray(image[band]), validate=False)
        out[band] = np.asarray(lab)[..., 0]
    return out


def gray_version(image: np.ndarray) -> np.ndarray:
    """The photo as the model sees it: its lightness with ``a = b = 0``, uint8 RGB [H, W, 3]."""
    import_tf_quietly()
    from colorutils import color  # start-up: after the quiet TensorFlow import

    L = lightness(image)
    out = np.empty(L.shape + (3,), np.uint8)
    zeros = np.zeros((1, 1, 2), np.float32)
    for band in bands(*L.shape):
        out[band] = color.to_uint8(color.recombine(color.normalize_l(L[band][..., None]), zeros))
    return out


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Two uint8 RGB images of equal height, separated by a white gap."""
    height = left.shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def save_image(rgb: np.ndarray, path: str | os.PathLike, fmt: str = "png") -> None:
    """Write uint8 RGB as PNG (zlib level :data:`PNG_COMPRESS_LEVEL`) or JPEG (quality
    :data:`JPEG_QUALITY`), atomically: a killed process or a full disk never leaves a partial
    file under ``path`` (:func:`colorutils.files.atomic_path`).

    Raises
    ------
    colorutils.files.WriteError
        If the file cannot be written (naming it, with the system's reason).
    """
    from PIL import Image  # start-up: Pillow loads with the first photo

    img = Image.fromarray(rgb)
    with files.atomic_path(path) as tmp:
        if fmt == "jpeg":
            img.save(tmp, format="JPEG", quality=JPEG_QUALITY)
        else:
            img.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def read_lightness(path: str | os.PathLike):
    """``(L, None)`` of a photo file (:func:`read_image`, :func:`lightness`), or
    ``(None, reason)`` if it cannot be read."""
    try:
        return lightness(read_image(path)), None
    except OSError as err:  # UnreadableImageError, FileNotFoundError, a permission error
        return None, first_line(err)


def save_result(result, output: pathlib.Path, compare_output: pathlib.Path | None = None,
                fmt: str = "png", overwrite: bool = False) -> pathlib.Path:
    """Save a colorized photo (``rgb``, or ``(rgb, gray)`` with ``compare_output``: then the
    side-by-side comparison too), keeping files that exist unless ``overwrite``."""
    output = pathlib.Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise files.WriteError(err.errno, err.strerror, str(output.parent)) from None
    rgb, gray = result if compare_output is not None else (result, None)
    if overwrite or not output.exists():
        save_image(rgb, output, fmt)
    if compare_output is not None and (overwrite or not pathlib.Path(compare_output).exists()):
        save_image(side_by_side(gray, rgb), compare_output, fmt)
    return output


def output_paths(relative: str | os.PurePath, out_dir: str | os.PathLike, fmt: str = "png",
                 tag: str | None = None) -> tuple[pathlib.Path, pathlib.Path]:
    """``(colorized, comparison)`` paths of an input at ``relative`` (its path inside the input
    folder, or its file name) under ``out_dir``.

    ``a/x.jpg`` -> ``out_dir/a/x_colorized.<ext>`` and ``out_dir/a/x_compare.<ext>``; ``tag``
    replaces the stem ``x`` (:func:`plan_outputs` uses ``x_jpg`` when ``x.jpg`` and ``x.png``
    sit side by side).

    >>> [p.as_posix() for p in output_paths("airplane/0000.jpg", "out")]
    ['out/airplane/0000_colorized.png', 'out/airplane/0000_compare.png']
    """
    ext = OUTPUT_SUFFIX[fmt]
    relative = pathlib.PurePath(relative)
    folder = pathlib.Path(out_dir) / relative.parent
    stem = tag or relative.stem
    return folder / f"{stem}_colorized{ext}", folder / f"{stem}_compare{ext}"


def find_inputs(inputs: Iterable[str | os.PathLike], exclude: str | os.PathLike | None = None
                ) -> list[tuple[pathlib.Path, pathlib.PurePath]]:
    """Expand files and folders into ``[(photo, its path relative to its input)]``.

    A folder is searched recursively for :data:`IMAGE_SUFFIXES` (hidden files and folders
    skipped) and each photo keeps its path inside it (``airplane/0000.jpg``); a file given
    explicitly keeps its name, whatever its suffix (and whether or not it exists: reading
    reports it).  Earlier outputs found inside ``exclude`` (the output folder), named
    ``*_colorized.*`` or ``*_compare.*``, are left out, so a second run does not colorize its
    own outputs.  A photo reached twice is listed once.
    """
    excluded = pathlib.Path(exclude).resolve() if exclude is not None else None
    found: list[tuple[pathlib.Path, pathlib.PurePath]] = []
    seen: set[pathlib.Path] = set()
    for item in inputs:
        p = pathlib.Path(item).expanduser()
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in IMAGE_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if excluded is not None:
                files = [f for f in files if not _is_earlier_output(f, excluded)]
            pairs = [(f, pathlib.PurePath(f.relative_to(p))) for f in files]
        else:
            pairs = [(p, pathlib.PurePath(p.name))]
        for f, relative in pairs:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append((f, relative))
    return found


def find_images(inputs: Iterable[str | os.PathLike],
                exclude: str | os.PathLike | None = None) -> list[pathlib.Path]:
    """The photos of :func:`find_inputs`, without their relative paths."""
    return [f for f, _ in find_inputs(inputs, exclude)]


#: One photo of a plan: ``(source, colorized output, comparison output)``.
Planned = tuple[pathlib.Path, pathlib.Path, pathlib.Path]


def _named(found, out_dir, fmt) -> list[Planned]:
    """Mirrored output names; ``x.jpg`` beside ``x.png`` become ``x_jpg_...``, ``x_png_...``."""
    first = [output_paths(rel, out_dir, fmt)[0] for _, rel in found]
    clash = {t for t in first if first.count(t) > 1} if len(set(first)) < len(first) else set()
    plan = []
    for (f, rel), target in zip(found, first, strict=True):
        tag = f"{rel.stem}_{rel.suffix.lstrip('.').lower()}" if target in clash else None
        plan.append((f, *output_paths(rel, out_dir, fmt, tag)))
    targets: dict[pathlib.Path, pathlib.Path] = {}
    for f, main, _ in plan:
        if main in targets:
            raise UserError(f"inputs {targets[main]} and {f} would both be written to {main}; "
                            "colorize them into separate --out folders.")
        targets[main] = f
    return plan


def plan_outputs(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
                 fmt: str = "png", compare: bool = False) -> list[Planned]:
    """The photos to colorize and their outputs, the input tree mirrored under ``out_dir``.

    One output per input (:func:`output_paths`); checked for every photo before anything is
    written.

    Raises
    ------
    UserError
        If no photo is found, two inputs would share an output (two explicit files of the same
        name from different folders), or an output path is an input.
    """
    out_dir = pathlib.Path(out_dir).expanduser()
    if fmt not in OUTPUT_SUFFIX:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(OUTPUT_SUFFIX)}.")
    inputs = list(inputs)
    found = find_inputs(inputs, exclude=out_dir)
    if not found:
        raise UserError(f"no images found in {', '.join(map(str, inputs))} (looked for "
                        f"{', '.join(IMAGE_SUFFIXES)}).")
    plan = _named(found, out_dir, fmt)
    inputs_resolved = {f.resolve() for f, _ in found}
    for _f, main, comp in plan:
        for target in (main, comp) if compare else (main,):
            if target.resolve() in inputs_resolved:
                raise UserError(f"output {target} would overwrite an input; choose another "
                                "--out (outputs are never written over inputs).")
    return plan


def _is_earlier_output(path: pathlib.Path, out_dir: pathlib.Path) -> bool:
    return (path.resolve().is_relative_to(out_dir)
            and path.stem.endswith(("_colorized", "_compare")))
