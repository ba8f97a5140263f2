"""Colorize your own photos: the ``colorutils colorize`` command and its Python API.

A colorization model sees only the lightness ``L`` of a photo and predicts the two chroma
channels ``ab`` (CIE Lab, :mod:`colorutils.color`).  Human vision is far more sensitive to
detail in lightness than in chroma, which is why JPEG subsamples chroma and why
colorization papers run the network at a small size and upsample its ``ab`` only
(Zhang, Isola and Efros 2016, section 2; Iizuka, Simo-Serra and Ishikawa 2016, section 3.5):

1. read the photo (JPEG, PNG, 16-bit PNG, TIFF, ...; EXIF orientation applied) and keep its
   full-resolution lightness ``L`` (a colour photo is first reduced to its lightness);
2. resize ``L`` (area-preserving, antialiased) so that the shorter side is the model's training
   size ``S`` (a multiple of :data:`SIZE_MULTIPLE`, aspect ratio kept) and predict ``ab`` there
   with :func:`colorutils.inference.predict_ab` (annealed mean at temperature ``T`` for
   classification models);
3. upsample ``ab`` bilinearly to the photo's ``H x W`` and recombine it with the *true*
   full-resolution ``L`` (:func:`colorutils.color.recombine`): the output has the input's size
   and all of its detail.

Memory: the photo is never held as float RGB.  The full-resolution arrays are ``L`` (4 bytes
per pixel), the upsampled ``ab`` (8 bytes), the decoded input (<= 6 bytes) and the output
(3 bytes); the colour conversions run in bands of about :data:`BAND_PIXELS` pixels.  A
4000 x 3000 photo therefore needs a few hundred MB on top of TensorFlow itself
(``tests/test_cli_colorize.py`` measures and bounds it).

A folder is colorized as a pipeline (:func:`colorize_paths`): photos are read and reduced to
``L`` by two threads ahead of the model, consecutive photos of one model-side shape share one
forward pass (:func:`colorize_batch`, up to :data:`BATCH_PHOTOS` photos or
:data:`BATCH_PIXELS` full-resolution pixels), and the outputs are encoded by a writer thread
while the next batch runs.  The outputs mirror the input tree under the output folder
(:func:`colorutils.files.plan_outputs`); an output already there is kept unless
``overwrite`` (``--overwrite``), so a second run finishes what the first left.

Python API: :func:`open_colorizer`, :func:`colorize_array`, :func:`colorize_batch`,
:func:`colorize_file`, :func:`colorize_paths`; the command line calls :func:`colorize_command`.  Reading, reducing and writing
photo files is :mod:`colorutils.files` (its functions are re-exported here: ``read_image``,
``lightness``, ``gray_version``, ``find_images``, ...).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import math
import os
import pathlib
import sys
from collections.abc import Iterable, Sequence

import numpy as np

from colorutils import files
from colorutils.errors import UserError
from colorutils.files import (
    PHOTO_MODEL,
    bands,
    import_tf_quietly,
    lightness,
    output_paths,
    plan_outputs,
    read_image,
    read_lightness,
    save_result,
)

__all__ = [
    "SIZE_MULTIPLE",
    "BATCH_PHOTOS",
    "BATCH_PIXELS",
    "MAX_SIZE",
    "MAX_ASPECT",
    "check_temperature",
    "check_size",
    "open_colorizer",
    "model_shape",
    "colorize_batch",
    "colorize_lightness",
    "colorize_array",
    "colorize_file",
    "ColorizeReport",
    "colorize_paths",
    "colorize_command",
]


#: The model-side image dimensions are rounded to a multiple of this (U-Nets halve 4 times).
SIZE_MULTIPLE = 16
#: Photos sharing one forward pass at most (:func:`colorize_paths`).
BATCH_PHOTOS = 16
#: Full-resolution pixels of one batch at most: its ``L`` arrays take 4 bytes a pixel, so a
#: batch holds at most 64 MB of them (a 12-Mpx photo is a batch of its own).
BATCH_PIXELS = 1 << 24
#: Largest ``--size``: the model runs at most at ``MAX_SIZE x MAX_ASPECT * MAX_SIZE`` pixels.
MAX_SIZE = 1024
#: Longest model-side side, in sizes: a 3 x 5000 px strip runs at ``16 x MAX_ASPECT * size``;
#: the forward pass has at most ``MAX_ASPECT * size**2`` pixels whatever the photo's shape.
MAX_ASPECT = 4


# --------------------------------------------------------------------------- checks


def check_temperature(temperature: float | None) -> float:
    """The annealed-mean temperature to use: ``None`` -> :data:`colorutils.quantize.TEMPERATURE`;
    a UserError unless in ``(0, 1]`` (``T -> 0`` is the mode, ``T = 1`` the mean)."""
    if temperature is None:
        import_tf_quietly()  # start-up: quietly, colorutils.quantize imports TensorFlow
        from colorutils.quantize import TEMPERATURE

        return float(TEMPERATURE)
    t = float(temperature)
    if not (math.isfinite(t) and 0.0 < t <= 1.0):
        raise UserError(
            f"--temperature {temperature!r} is outside (0, 1]; use e.g. 0.38 (the book's "
            "default), smaller for more vivid colours, 1 for the mean."
        )
    return t


def check_size(size: int | None) -> int | None:
    """``None`` or a model-side size from :data:`SIZE_MULTIPLE` to :data:`MAX_SIZE`."""
    if size is None:
        return None
    if int(size) != size or not SIZE_MULTIPLE <= size <= MAX_SIZE:
        raise UserError(
            f"--size {size!r} must be an integer from {SIZE_MULTIPLE} to {MAX_SIZE} (the side "
            "length the model runs at, e.g. its training image size; the limit bounds memory)."
        )
    return int(size)


# --------------------------------------------------------------------------- model


def open_colorizer(model_path: str | os.PathLike | None = None, size: int | None = None):
    """:func:`colorutils.inference.load_colorizer` for the command line: the path is checked
    before TensorFlow loads (quietly), so that a typo is one line at once.  ``size`` (checked
    by the caller, :func:`check_size`) overrides the recorded training size.  No
    ``model_path``: the photo model shipped with the package (:data:`PHOTO_MODEL`).

    Returns
    -------
    colorutils.inference.Colorizer
        The model with its size (``size``, else the recorded training size), target space,
        bins and decoding defaults.
    """
    path = pathlib.Path(PHOTO_MODEL if model_path is None else model_path).expanduser()
    if not path.exists():
        raise UserError(f"--model {str(path)!r} does not exist; give a run folder "
                        "(e.g. runs/book/sample/<name>) or a .keras file.")
    import_tf_quietly()
    from colorutils import inference  # start-up: after the quiet TensorFlow import

    return inference.load_colorizer(path, image_size=size)


# --------------------------------------------------------------------------- images


def model_shape(height: int, width: int, size: int, model=None) -> tuple[int, int]:
    """Model-side ``(h, w)``: shorter side ``size``, aspect ratio kept, multiples of 16, the
    longer side at most :data:`MAX_ASPECT` times ``size`` (then the shorter one is smaller).

    A model with a fixed input size (e.g. a fusion net's global path) gets exactly that size.

    >>> model_shape(3, 5000, 32)
    (16, 128)
    """
    if model is not None:
        fixed = tuple(model.inputs[0].shape[1:3])
        if all(isinstance(d, int) for d in fixed):
            return int(fixed[0]), int(fixed[1])
    scale = min(size / min(height, width), MAX_ASPECT * size / max(height, width))

    def snap(n):
        return max(SIZE_MULTIPLE, int(round(n * scale / SIZE_MULTIPLE)) * SIZE_MULTIPLE)

    return snap(height), snap(width)


def _recombined(L: np.ndarray, ab_small, return_gray: bool):
    """The photo of lightness ``L`` with the model-side ``ab`` enlarged to it: uint8 RGB (and
    the gray rendering of ``L``), converted in bands of :data:`BAND_PIXELS` pixels."""
    tf, _ = import_tf_quietly()
    from colorutils import color  # start-up: after the quiet TensorFlow import

    height, width = L.shape
    ab = tf.image.resize(tf.convert_to_tensor(ab_small, tf.float32)[None], (height, width),
                         method="bilinear")[0]
    rgb = np.empty((height, width, 3), np.uint8)
    gray = np.empty((height, width, 3), np.uint8) if return_gray else None
    for band in bands(height, width):
        l_norm = color.normalize_l(L[band][None, :, :, None])
        rgb[band] = color.to_uint8(color.recombine(l_norm, ab[band][None])[0])
        if return_gray:
            gray[band] = color.to_uint8(color.recombine(l_norm, tf.zeros_like(ab[band][None]))[0])
    del ab
    return (rgb, gray) if return_gray else rgb


def colorize_batch(model, lightnesses: Sequence[np.ndarray], size: int,
                   temperature: float | None = None, *, method: str = "annealed_mean",
                   space: str | None = None, return_gray: bool = False) -> list:
    """Colorize several full-resolution lightness maps, one forward pass per model shape.

    Each ``L`` (float32 ``[H, W]``, 0..100) is resized to its model-side shape
    (:func:`model_shape`); maps of the same shape are stacked and predicted together
    (:func:`colorutils.inference.predict_ab`, graph-compiled), then each prediction is
    enlarged to its photo and recombined with the true ``L``.

    Returns
    -------
    list
        One uint8 RGB ``[H, W, 3]`` per input, in order (``(rgb, gray)`` if ``return_gray``).
    """
    tf, _ = import_tf_quietly()
    from colorutils import color, inference  # start-up: after the quiet TensorFlow import

    temperature = None if temperature is None else check_temperature(temperature)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, L in enumerate(lightnesses):
        groups.setdefault(model_shape(*np.shape(L), size, model), []).append(i)
    out: list = [None] * len(lightnesses)
    for shape, members in groups.items():
        small = tf.concat([tf.image.resize(np.asarray(lightnesses[i], np.float32)[None, :, :, None],
                                           shape, method="area", antialias=True)
                           for i in members], axis=0)
        ab_small = inference.predict_ab(model, color.normalize_l(small), method=method,
                                        temperature=temperature, space=space,
                                        batch_size=BATCH_PHOTOS)
        for j, i in enumerate(members):
            out[i] = _recombined(np.asarray(lightnesses[i], np.float32), ab_small[j],
                                 return_gray)
    return out


def colorize_lightness(model, L: np.ndarray, size: int, temperature: float | None = None, *,
                       method: str = "annealed_mean", space: str | None = None,
                       return_gray: bool = False):
    """Colorize a full-resolution lightness map ``L`` (float32 ``[H, W]``, 0..100).

    Returns uint8 RGB ``[H, W, 3]`` (and the gray rendering of ``L``, uint8 ``[H, W, 3]``,
    if ``return_gray``).  See the module docstring for the three steps.
    """
    return colorize_batch(model, [L], size, temperature, method=method, space=space,
                          return_gray=return_gray)[0]


def colorize_array(model, image: np.ndarray, size: int, temperature: float | None = None, *,
                   method: str = "annealed_mean", space: str | None = None,
                   return_gray: bool = False):
    """Colorize one photo given as an array; the output keeps the input's size.

    Parameters
    ----------
    model : colorutils.inference.Colorizer or keras.Model
        A colorization model (input ``l_norm`` [H, W, 1], output dict with ``"ab"``); a Keras
        model is decoded as :func:`colorutils.inference.as_colorizer` says.
    image : np.ndarray
        uint8 or uint16 gray ``[H, W]``, or uint8 / float-in-[0, 1] RGB ``[H, W, 3]`` (colour
        is reduced to its lightness first: the model never sees the original colours).
    size : int
        Side length the model runs at (its training size); the shorter side of the photo is
        resized to it, see :func:`model_shape`.
    temperature : float in (0, 1], optional
        Annealed-mean temperature; default :data:`colorutils.quantize.TEMPERATURE`.
    method : {"annealed_mean", "mean", "mode"}
        Decoding of a classification model's distribution.
    space : {"lab", "yuv", "hsv"}, optional
        Chroma space of a 2-channel (regression) output; default: the colorizer's own
        (:class:`colorutils.inference.Colorizer`, read from its run folder or sidecar).

    Returns
    -------
    np.ndarray
        uint8 RGB ``[H, W, 3]`` (plus the gray version of the input if ``return_gray``).

    Examples
    --------
    >>> model = open_colorizer("runs/book/sample/classification")         # doctest: +SKIP
    >>> rgb = colorize_array(model, read_image("grandma.jpg"), model.image_size)  # doctest: +SKIP
    """
    import_tf_quietly()
    from colorutils import inference  # start-up: after the quiet TensorFlow import

    inference.check_colorizer(model)
    return colorize_lightness(model, lightness(image), size, temperature, method=method,
                              space=space, return_gray=return_gray)


def colorize_file(model, path: str | os.PathLike, out_dir: str | os.PathLike, size: int,
                  temperature: float | None = None, *, fmt: str = "png", compare: bool = False,
                  output: str | os.PathLike | None = None,
                  compare_output: str | os.PathLike | None = None,
                  space: str | None = None, overwrite: bool = False) -> pathlib.Path:
    """Colorize one photo file into ``out_dir`` and return the output path.

    The output (default ``out_dir/<stem>_colorized.<ext>``, see :func:`output_paths`) has the
    input's size after EXIF orientation.  With ``compare`` a second file
    (``<stem>_compare.<ext>``) shows the gray input and the colorized photo side by side.
    An output that exists already is kept unless ``overwrite``.

    Raises
    ------
    ValueError
        If an output path is the input file itself.
    OSError
        If the input cannot be read (:class:`UnreadableImageError`, FileNotFoundError) or the
        output cannot be written.
    """
    path = pathlib.Path(path)
    default_main, default_compare = output_paths(path.name, out_dir, fmt)
    output = pathlib.Path(output) if output is not None else default_main
    compare_output = (pathlib.Path(compare_output) if compare_output is not None
                      else default_compare)
    for target in (output, compare_output) if compare else (output,):
        if target.resolve() == path.resolve():
            raise ValueError(f"output {target} would overwrite the input; choose another --out.")
    import_tf_quietly()
    from colorutils import inference  # start-up: after the quiet TensorFlow import

    inference.check_colorizer(model)
    L = lightness(read_image(path))  # the decoded photo is freed here: only L is kept
    result = colorize_lightness(model, L, size, temperature, space=space, return_gray=compare)
    del L
    return save_result(result, output, compare_output if compare else None, fmt, overwrite)


@dataclasses.dataclass
class ColorizeReport:
    """What :func:`colorize_paths` did: outputs written, inputs skipped as unreadable with the
    reason, outputs that could not be written (``unwritten``, with the reason), and inputs
    whose outputs were there already (kept)."""

    outputs: list[pathlib.Path]
    failures: list[tuple[pathlib.Path, str]]
    kept: list[pathlib.Path] = dataclasses.field(default_factory=list)
    unwritten: list[tuple[pathlib.Path, str]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unwritten

    def summary(self, out_dir) -> str:
        total = len(self.outputs) + len(self.failures) + len(self.kept) + len(self.unwritten)
        line = f"colorized {len(self.outputs)} of {total} images into {out_dir}"
        if self.kept:
            line += (f"; {len(self.kept)} colorized there before, kept (--overwrite redoes "
                     "them)")
        if self.failures:
            line += f"; {len(self.failures)} skipped (unreadable, listed above)"
        if self.unwritten:
            line += (f"; {len(self.unwritten)} not written (write errors, listed above: free "
                     "space or fix the folder, then run the same command)")
        return line


def _ahead(pool, func, items: Iterable, ahead: int):
    """``(item, func(item))`` in order, at most ``ahead`` items computed ahead in ``pool``."""
    items = iter(items)
    pending = collections.deque((item, pool.submit(func, item[0]))
                                for item in itertools.islice(items, ahead))
    while pending:
        item, future = pending.popleft()
        for nxt in itertools.islice(items, 1):
            pending.append((nxt, pool.submit(func, nxt[0])))
        yield item, future.result()


def _batches(read, size: int, model):
    """Consecutive readable photos of one model-side shape, within the batch limits:
    ``("batch", [(planned, L), ...])``; an unreadable photo: ``("failed", (planned, reason))``."""
    batch, shape, pixels = [], None, 0
    for planned, (L, reason) in read:
        if L is None:
            yield "failed", (planned, reason)
            continue
        this = model_shape(*L.shape, size, model)
        if batch and (this != shape or len(batch) >= BATCH_PHOTOS
                      or pixels + L.size > BATCH_PIXELS):
            yield "batch", batch
            batch, pixels = [], 0
        batch.append((planned, L))
        shape, pixels = this, pixels + L.size
    if batch:
        yield "batch", batch


def _run_plan(model, todo, size, temperature, *, fmt, compare, overwrite, space, report, say,
              bar) -> None:
    """Read ahead, colorize batch by batch, write behind; outcomes go into ``report``."""
    with concurrent.futures.ThreadPoolExecutor(2) as readers, \
            concurrent.futures.ThreadPoolExecutor(2) as writer:
        writes: collections.deque = collections.deque()

        def settle(keep: int) -> None:
            while len(writes) > keep or (writes and writes[0][1].done()):
                source, future = writes.popleft()
                try:
                    report.outputs.append(future.result())
                except OSError as err:  # an output that cannot be written
                    reason = f"cannot write {err.filename or 'its output'} ({err.strerror or err})"
                    report.unwritten.append((source, reason))
                    say(f"not written: {source}: {reason}")
                bar.update()

        read = _ahead(readers, read_lightness, todo, ahead=2)  # two photos in flight
        for kind, item in _batches(read, size, model):
            if kind == "failed":
                (source, _, _), reason = item
                report.failures.append((source, reason))
                say(f"skipped {source}: {reason}")
                bar.update()
                continue
            results = colorize_batch(model, [L for _, L in item], size, temperature,
                                     space=space, return_gray=compare)
            for ((source, main, comp), _), result in zip(item, results, strict=True):
                writes.append((source, writer.submit(save_result, result, main,
                                                     comp if compare else None, fmt, overwrite)))
            settle(keep=len(item))  # the previous batch is written while this one encodes
        settle(keep=0)


def colorize_paths(model, inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                   size: int, temperature: float | None = None, *, fmt: str = "png",
                   compare: bool = False, progress: bool | None = None, log=None,
                   space: str | None = None, overwrite: bool = False) -> ColorizeReport:
    """Colorize every photo in ``inputs`` (files and folders) into ``out_dir``.

    The input tree is mirrored under ``out_dir`` (:func:`plan_outputs`).  Photos whose
    outputs exist already are kept, not redone, unless ``overwrite``.  Unreadable files (and
    outputs that cannot be written) are reported through ``log`` (default: a line on stderr)
    and skipped; the returned :class:`ColorizeReport` lists them.  A progress bar is shown
    for more than one photo on a terminal (:func:`colorutils.files.enabled`) unless
    ``progress=False``.

    Raises
    ------
    UserError
        See :func:`plan_outputs` (nothing is written then).
    """
    from colorutils import inference  # start-up: TensorFlow loads with the first photos

    inference.check_colorizer(model)
    temperature = None if temperature is None else check_temperature(temperature)
    plan = plan_outputs(inputs, out_dir, fmt, compare)
    report = ColorizeReport([], [])
    done = [p for p in plan if not overwrite and p[1].exists()
            and (not compare or p[2].exists())]
    report.kept = [source for source, _, _ in done]
    todo = [p for p in plan if p not in done]
    for folder in {main.parent for _, main, _ in todo}:  # what a killed run left
        files.remove_stale_temporaries(folder)
    show = files.enabled() and len(plan) > 1 if progress is None else bool(progress)
    with files.bar(total=len(todo), desc="colorizing", unit="photo", show=show) as bar:
        say = log or (lambda msg: bar.write(msg, file=sys.stderr))
        _run_plan(model, todo, size, temperature, fmt=fmt, compare=compare,
                  overwrite=overwrite, space=space, report=report, say=say, bar=bar)
    return report


def colorize_command(args) -> int:
    """``colorutils colorize INPUT... [--model RUN_OR_MODEL] --out DIR`` (no ``--model``: the
    shipped photo model, :data:`PHOTO_MODEL`).

    Exit status: 0 if every photo was colorized (or kept from an earlier run), 1 if some were
    unreadable or could not be written (each reported on stderr, then a summary line), 2 for
    a usage error (one line, raised as UserError).
    """
    # Cheap checks first, so that a typo is reported before TensorFlow loads.
    if args.temperature is not None:
        check_temperature(args.temperature)
    size = check_size(args.size)
    out_dir = pathlib.Path(args.out).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out!r} is a file; give a folder for the outputs.")
    plan_outputs(args.inputs, out_dir, args.format, args.compare)  # before the model loads
    model = open_colorizer(args.model, size)
    report = colorize_paths(model, args.inputs, out_dir, model.image_size, args.temperature,
                            fmt=args.format, compare=args.compare, overwrite=args.overwrite,
                            progress=False if getattr(args, "quiet", False) else None)
    print(report.summary(out_dir), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
