"""Colorize your own photos: the ``colorutils colorize`` command and its Python API.

The network sees the photo's lightness ``L`` at :func:`model_shape`; its ``ab`` is upsampled
bilinearly and recombined in bands with the full-resolution ``L``, so the output keeps the
input's size and detail {cite}`zhang2016colorful` {cite}`iizuka2016let`. :func:`colorize_paths`
pipelines folders: two threads read ahead, photos of one model-side shape share a forward pass,
a thread writes behind (atomically, by :mod:`colorutils.files`).
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

__all__ = ["open_colorizer", "check_temperature", "model_shape", "colorize_array",
           "colorize_paths"]


_SIZE_MULTIPLE = 16  # of model-side dimensions: U-Nets halve 4 times
_BATCH_PHOTOS = 16  # photos of one forward pass at most
_BATCH_PIXELS = 1 << 24  # full-resolution pixels of one batch at most (64 MB of ``L``)
_MAX_SIZE = 1024  # largest --size
_MAX_ASPECT = 4  # longest model-side side, in sizes


def check_temperature(temperature: float | None) -> float:
    """The annealed-mean temperature: ``None`` -> :data:`colorutils.quantize.TEMPERATURE`;
    a UserError unless in ``(0, 1]``."""
    if temperature is None:
        files.import_tf_quietly()  # start-up: quietly, colorutils.quantize imports TensorFlow
        from colorutils.quantize import TEMPERATURE

        return float(TEMPERATURE)
    t = float(temperature)
    if not (math.isfinite(t) and 0.0 < t <= 1.0):
        raise UserError(f"--temperature {temperature!r} is outside (0, 1]; use e.g. 0.38 (the "
                        "book's default), smaller for more vivid colours, 1 for the mean.")
    return t


def open_colorizer(model_path: str | os.PathLike | None = None, size: int | None = None):
    """:func:`colorutils.inference.load_colorizer` of ``model_path`` (default: the shipped
    :data:`colorutils.files.PHOTO_MODEL`), checked before TensorFlow loads; ``size`` overrides
    its training size."""
    path = pathlib.Path(files.PHOTO_MODEL if model_path is None else model_path).expanduser()
    if not path.exists():
        raise UserError(f"--model {str(path)!r} does not exist; give a run folder "
                        "(e.g. runs/book/sample/<name>) or a .keras file.")
    files.import_tf_quietly()
    from colorutils import inference  # start-up: after the quiet TensorFlow import

    return inference.load_colorizer(path, image_size=size)


def model_shape(height: int, width: int, size: int, model=None) -> tuple[int, int]:
    """Model-side ``(h, w)``: shorter side ``size``, aspect ratio kept, multiples of 16, the
    longer side at most 4 times ``size``; a model with a fixed input size gets that size.

    >>> model_shape(3, 5000, 32)
    (16, 128)
    """
    fixed = () if model is None else tuple(model.inputs[0].shape[1:3])
    if fixed and all(isinstance(d, int) for d in fixed):
        return fixed
    scale = min(size / min(height, width), _MAX_ASPECT * size / max(height, width))
    return tuple(max(_SIZE_MULTIPLE, int(round(n * scale / _SIZE_MULTIPLE)) * _SIZE_MULTIPLE)
                 for n in (height, width))


def _check_colorizer(model) -> None:
    """:func:`colorutils.inference.check_colorizer`, TensorFlow imported quietly first."""
    files.import_tf_quietly()
    from colorutils import inference  # start-up: after the quiet TensorFlow import

    inference.check_colorizer(model)


def _colorize_batch(model, lightnesses: Sequence[np.ndarray], size: int,
                    temperature: float | None = None, *, method: str = "annealed_mean",
                    space: str | None = None, return_gray: bool = False) -> list:
    """Uint8 RGB (or ``(rgb, gray)``) of full-resolution ``L`` maps (float32, 0..100): one
    forward pass per model-side shape, then ``ab`` enlarged and recombined in bands."""
    tf, _ = files.import_tf_quietly()
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
                                        batch_size=_BATCH_PHOTOS)
        for j, i in enumerate(members):
            L = np.asarray(lightnesses[i], np.float32)
            ab = tf.image.resize(tf.convert_to_tensor(ab_small[j], tf.float32)[None], L.shape,
                                 method="bilinear")[0]
            rgb = np.empty((*L.shape, 3), np.uint8)
            gray = np.empty_like(rgb) if return_gray else None
            for band in files.bands(*L.shape):
                l_norm = color.normalize_l(L[band][None, :, :, None])
                rgb[band] = color.to_uint8(color.recombine(l_norm, ab[band][None])[0])
                if return_gray:
                    gray[band] = color.to_uint8(
                        color.recombine(l_norm, tf.zeros_like(ab[band][None]))[0])
            del ab, L
            out[i] = (rgb, gray) if return_gray else rgb
    return out


def colorize_array(model, image: np.ndarray, size: int, temperature: float | None = None, *,
                   method: str = "annealed_mean", space: str | None = None,
                   return_gray: bool = False):
    """Colorize one photo (gray ``[H, W]`` uint8/uint16, or RGB uint8 / float in [0, 1], reduced
    to its lightness) at model size ``size``: uint8 RGB of its size (and its gray version if
    ``return_gray``). ``method`` decodes a classification model; ``space`` is a regression
    model's (default: the colorizer's own)."""
    _check_colorizer(model)
    return _colorize_batch(model, [files.lightness(image)], size, temperature, method=method,
                           space=space, return_gray=return_gray)[0]


def colorize_file(model, path: str | os.PathLike, out_dir: str | os.PathLike, size: int,
                  temperature: float | None = None, *, fmt: str = "png", compare: bool = False,
                  output: str | os.PathLike | None = None,
                  compare_output: str | os.PathLike | None = None,
                  space: str | None = None, overwrite: bool = False) -> pathlib.Path:
    """Colorize one photo file into ``out_dir`` (:func:`colorutils.files.output_paths`; with
    ``compare`` also gray | colorized side by side) and return the output path; an existing
    output is kept unless ``overwrite``."""
    path = pathlib.Path(path)
    main, side = files.output_paths(path.name, out_dir, fmt)
    output = main if output is None else pathlib.Path(output)
    side = (side if compare_output is None else pathlib.Path(compare_output)) if compare else None
    for target in filter(None, (output, side)):
        if target.resolve() == path.resolve():
            raise ValueError(f"output {target} would overwrite the input; choose another --out.")
    _check_colorizer(model)
    L = files.lightness(files.read_image(path))  # the decoded photo is freed: only L is kept
    result = _colorize_batch(model, [L], size, temperature, space=space, return_gray=compare)[0]
    del L
    return files.save_result(result, output, side, fmt, overwrite)


@dataclasses.dataclass
class ColorizeReport:
    """What :func:`colorize_paths` did: outputs written, unreadable inputs and unwritable
    outputs (with the reason), inputs whose outputs were kept from an earlier run."""

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
            line += f"; {len(self.kept)} colorized there before, kept (--overwrite redoes them)"
        if self.failures:
            line += f"; {len(self.failures)} skipped (unreadable, listed above)"
        if self.unwritten:
            line += (f"; {len(self.unwritten)} not written (write errors, listed above: free "
                     "space or fix the folder, then run the same command)")
        return line


def _ahead(pool, func, items: Iterable, ahead: int):
    """``(item, func(item[0]))`` in order, at most ``ahead`` computed ahead in ``pool``."""
    items = iter(items)
    pending = collections.deque((item, pool.submit(func, item[0]))
                                for item in itertools.islice(items, ahead))
    while pending:
        item, future = pending.popleft()
        for nxt in itertools.islice(items, 1):
            pending.append((nxt, pool.submit(func, nxt[0])))
        yield item, future.result()


def _batches(read, size: int, model):
    """``("batch", [(planned, L), ...])`` of consecutive photos of one model-side shape within
    the batch limits; ``("failed", (planned, reason))`` of an unreadable one."""
    batch, shape, pixels = [], None, 0
    for planned, (L, reason) in read:
        if L is None:
            yield "failed", (planned, reason)
            continue
        this = model_shape(*L.shape, size, model)
        if batch and (this != shape or len(batch) >= _BATCH_PHOTOS
                      or pixels + L.size > _BATCH_PIXELS):
            yield "batch", batch
            batch, pixels = [], 0
        batch.append((planned, L))
        shape, pixels = this, pixels + L.size
    if batch:
        yield "batch", batch


def colorize_paths(model, inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                   size: int, temperature: float | None = None, *, fmt: str = "png",
                   compare: bool = False, progress: bool | None = None, log=None,
                   space: str | None = None, overwrite: bool = False) -> ColorizeReport:
    """Colorize the photos in ``inputs`` (files, folders) into ``out_dir``, mirroring the input
    tree and keeping outputs already there unless ``overwrite``; unreadable inputs and unwritable
    outputs are skipped and told to ``log`` (default: stderr). A progress bar shows on a terminal
    for several photos unless ``progress=False``."""
    _check_colorizer(model)
    temperature = None if temperature is None else check_temperature(temperature)
    plan = files.plan_outputs(inputs, out_dir, fmt, compare)
    done = [p for p in plan if not overwrite and p[1].exists() and (not compare or p[2].exists())]
    report = ColorizeReport([], [], kept=[source for source, _, _ in done])
    todo = [p for p in plan if p not in done]
    for folder in {main.parent for _, main, _ in todo}:  # what a killed run left
        files.remove_stale_temporaries(folder)
    show = files.enabled() and len(plan) > 1 if progress is None else bool(progress)
    writes: collections.deque = collections.deque()
    with files.bar(total=len(todo), desc="colorizing", unit="photo", show=show) as bar, \
            concurrent.futures.ThreadPoolExecutor(2) as readers, \
            concurrent.futures.ThreadPoolExecutor(2) as writer:
        say = log or (lambda msg: bar.write(msg, file=sys.stderr))

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

        read = _ahead(readers, files.read_lightness, todo, ahead=2)  # two photos in flight
        for kind, item in _batches(read, size, model):
            if kind == "failed":
                (source, _, _), reason = item
                report.failures.append((source, reason))
                say(f"skipped {source}: {reason}")
                bar.update()
                continue
            results = _colorize_batch(model, [L for _, L in item], size, temperature,
                                      space=space, return_gray=compare)
            for ((source, main, comp), _), result in zip(item, results, strict=True):
                writes.append((source, writer.submit(files.save_result, result, main,
                                                     comp if compare else None, fmt, overwrite)))
            settle(keep=len(item))  # the previous batch is written while this one encodes
        settle(keep=0)
    return report


def colorize_command(args) -> int:
    """``colorutils colorize``: exit status 0 if every photo was colorized (or kept), 1 if
    some were unreadable or unwritable, 2 for a usage error."""
    # Cheap checks first, so that a typo is reported before TensorFlow loads.
    if args.temperature is not None:
        check_temperature(args.temperature)
    if args.size is not None and not _SIZE_MULTIPLE <= args.size <= _MAX_SIZE:  # an int
        raise UserError(
            f"--size {args.size!r} must be an integer from {_SIZE_MULTIPLE} to {_MAX_SIZE} (the "
            "side length the model runs at, e.g. its training image size; the limit bounds "
            "memory).")
    out_dir = pathlib.Path(args.out).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out!r} is a file; give a folder for the outputs.")
    files.plan_outputs(args.inputs, out_dir, args.format, args.compare)  # before the model loads
    model = open_colorizer(args.model, args.size)
    report = colorize_paths(model, args.inputs, out_dir, model.image_size, args.temperature,
                            fmt=args.format, compare=args.compare, overwrite=args.overwrite,
                            progress=False if getattr(args, "quiet", False) else None)
    print(report.summary(out_dir), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
