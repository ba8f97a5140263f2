"""The :class:`Colorizer`: a trained model with everything needed to use it, loaded in one place.

Every model of the book maps ``l_norm [B, H, W, 1]`` to a dict whose ``"ab"`` entry is either

* 2 channels: a regression head, chroma in its target ``space`` (Lab ab, or YUV / HSV
  chroma, see :func:`colorutils.losses.chroma_to_ab`), or
* ``Q`` channels: logits over the ab ``bins`` it was trained on, decoded by
  :func:`colorutils.quantize.decode` (annealed mean, ``T = 0.38``, by default),

possibly at a reduced resolution (Zhang et al. predict at 1/4 size).  What the output *means*
(the space, the bins) is not in the weights: it is recorded when the model is trained and read
back here, never guessed from the channel count.  A :class:`Colorizer` holds the model with
that record (input size, space, bins, decoding defaults, provenance); its
:meth:`Colorizer.predict_ab` turns either kind of output into ab in Lab units at the input's
full resolution (bilinear upsampling, optional Gaussian chroma smoothing), which
:func:`colorutils.color.recombine` puts back together with the true lightness.

One function loads it, :func:`load_colorizer`, from a run folder or a ``.keras`` file, and every
consumer uses it: ``colorutils colorize`` and ``colorutils evaluate``,
:func:`colorutils.evaluation.evaluate` and :func:`~colorutils.evaluation.quality_figures`,
:func:`colorutils.turing.make_pairs`, chapters 06 and 08.  A model trained in the session (a
compiled Keras model) becomes a Colorizer through :func:`as_colorizer`, which reads the space
and bins from its compiled loss.

Where the record comes from, later sources overriding earlier ones:

1. the ``.keras`` file's compiled loss (``compile_config`` in the archive, written by Keras when
   the model is saved): ``space`` of :class:`~colorutils.losses.ABRegressionLoss`, ``bins`` of
   :class:`~colorutils.losses.RebalancedCrossEntropy`;
2. the run folder's ``config.json`` (:mod:`colorutils.files`): ``image_size``, ``space``, and
   the whole file as provenance;
3. a sidecar ``<name>.json`` beside ``<name>.keras`` (:data:`SIDECAR_KEYS`), e.g. for the
   shipped photo model ``colorutils/weights/photo_unet.keras`` + ``photo_unet.json``::

       {"image_size": 128,            # side length the model runs at (its training size)
        "space": "lab",               # regression: "lab", "yuv" or "hsv"
        "grid_size": 10,              # classifier: bins = quantize.ab_bins(grid_size), or
        "bins": [[-90, 80], ...],     #   the [Q, 2] centres themselves (e.g. Zhang's 313)
        "temperature": 0.38,          # annealed-mean temperature, in (0, 1]
        "smooth_sigma": null,         # chroma smoothing in pixels (null: none)
        "head": "classification",     # informational: the head and its rebalancing lambda
        "lambda": 0.7,
        "provenance": {"dataset": "...", "recipe": "...", "commit": "...", "license": "..."}}

   Every key is optional; an unknown key is an error (a typo would otherwise be ignored).

A regression model with no recorded space predicts Lab ab (the book's default); a classifier
with no recorded bins is refused (pass ``bins``), since bins with the same count can differ.

References
----------
Zhang, R., Isola, P., Efros, A. A. (2016). Colorful Image Colorization. ECCV (annealed mean,
313 bins).  Official code: github.com/richzhang/colorization (``colorizers/``: load, resize,
preprocess L, postprocess ab + L).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from colorutils import color, files, losses, quantize, train
from colorutils.errors import UserError, first_line

__all__ = [
    "SIDECAR_KEYS",
    "Colorizer",
    "as_colorizer",
    "load_colorizer",
    "load_colorizers",
    "predict_raw",
    "decode_output",
    "predict_ab",
    "check_colorizer",
]


#: Keys of a ``.keras`` file's sidecar ``<name>.json`` (see the module docstring).
SIDECAR_KEYS = ("image_size", "space", "bins", "grid_size", "temperature", "smooth_sigma",
                "head", "lambda", "provenance")


def _l_batch(l_norm):
    return color.as_batch(l_norm, 1, "l_norm",
                           hint="normalised lightness in [-1, 1], colorutils.color.split_lab")


def _ab_output(out):
    if isinstance(out, dict):
        if "ab" not in out:
            raise ValueError(f"the model's outputs are {sorted(out)}; a colorization model "
                             "must have an 'ab' output.")
        out = out["ab"]
    elif isinstance(out, (list, tuple)):
        out = out[0]
    return tf.cast(out, tf.float32)


def predict_raw(model, l_norm, *, batch_size: int = 32) -> np.ndarray:
    """Run the model on ``l_norm`` in batches; return its ``"ab"`` output (float32 numpy).

    That is chroma (2 channels) or logits (``Q`` channels) at the model's output resolution.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")
    model = model.model if isinstance(model, Colorizer) else model
    x, _ = _l_batch(l_norm)
    # predict_on_batch runs Keras' compiled predict function: an eager call of a small model
    # costs 5-20x more (the per-layer Python overhead; benchmarks/bench_colorize.py).
    call = getattr(model, "predict_on_batch", None) or (lambda b: model(b, training=False))
    outs = [_ab_output(call(x[i:i + batch_size])).numpy()
            for i in range(0, int(x.shape[0]), batch_size)]
    return np.concatenate(outs, axis=0)


def decode_output(output, size, *, bins=None, method: str = "annealed_mean",
                  temperature: float = quantize.TEMPERATURE, smooth_sigma: float | None = None,
                  l_norm=None, space: str = "lab") -> np.ndarray:
    """Decode a model's ``"ab"`` output and bring it to full resolution.

    Parameters
    ----------
    output : array [B, h, w, C]
        ``C = 2``: chroma in ``space``; otherwise logits over ``bins``.
    size : (H, W)
        Target resolution (bilinear upsampling when it differs).
    bins : array [C, 2], optional
        The ab bin centres of a classifier (required when ``C != 2``).
    method, temperature
        Decoding of logits (:func:`colorutils.quantize.decode`); ignored for regression.
    smooth_sigma : float, optional
        Gaussian smoothing of the decoded chroma at full resolution, in pixels.
    l_norm : array [B, H, W, 1], optional
        Needed only for ``space`` other than ``"lab"``.
    space : {"lab", "yuv", "hsv"}
        Chroma space of a regression output (:func:`colorutils.losses.chroma_to_ab`).

    Returns
    -------
    np.ndarray float32 [B, H, W, 2], ab in Lab units.
    """
    out = tf.convert_to_tensor(output, tf.float32)
    if out.shape.rank != 4:
        raise ValueError(f"output has shape {out.shape}; expected [B, h, w, C].")
    channels = int(out.shape[-1])
    if channels == 2:
        ab = out
    else:
        ab = quantize.decode(out, _bins_for(channels, bins), method=method,
                             temperature=temperature)
    size = tuple(int(s) for s in size)
    if channels == 2 and space != "lab":
        # Convert to ab at the output's resolution, then upsample ab: interpolating a hue
        # across its wrap-around (0.99 -> 0.01) would pass through every other hue.
        if l_norm is None:
            raise ValueError(f"space={space!r} needs l_norm to convert the chroma back to ab.")
        l_small = _l_batch(l_norm)[0]
        if tuple(l_small.shape[1:3]) != tuple(ab.shape[1:3]):
            l_small = tf.image.resize(l_small, ab.shape[1:3], method="area")
        ab = losses.chroma_to_ab(l_small, ab, space)
    if tuple(ab.shape[1:3]) != size:
        ab = tf.image.resize(ab, size, method="bilinear")
    if smooth_sigma:
        ab = quantize.smooth_chroma(ab, smooth_sigma)
    return ab.numpy().astype(np.float32)


def _bins_for(channels: int, bins) -> np.ndarray:
    """``bins`` checked against a classifier's ``channels`` logits (never guessed)."""
    if bins is None:
        raise ValueError(
            f"the model outputs {channels} logits but no ab bins are recorded for it; load it "
            "with colorutils.inference.load_colorizer(path), or pass bins= (e.g. "
            "colorutils.quantize.ab_bins(); build models with num_bins=len(bins)).")
    bins = quantize.check_bins(bins)
    if len(bins) != channels:
        raise ValueError(f"the model outputs {channels} logits but bins has {len(bins)} "
                         f"centres; pass the bins it was trained on (num_bins={len(bins)}).")
    return bins


def check_colorizer(model) -> None:
    """Raise a one-line :class:`~colorutils.errors.UserError` unless ``model`` colorizes.

    A colorization model of the book takes one input ``l_norm`` with one channel and returns a
    dict with an ``"ab"`` entry (2 channels for regression, ``Q`` logits for classification).
    A :class:`Colorizer` is checked through its model.
    """
    model = model.model if isinstance(model, Colorizer) else model
    name = getattr(model, "name", type(model).__name__)
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1 or inputs[0].shape[-1] != 1:
        shapes = ", ".join(str(tuple(i.shape)) for i in inputs) or "unknown"
        raise UserError(
            f"model {name!r} is not a colorization model: it takes inputs of shape {shapes}, "
            "not one lightness channel [H, W, 1]; pass a run folder of a colorization model.")
    output = getattr(model, "output", None)
    if not (isinstance(output, dict) and "ab" in output):
        kind = (f"a dict with keys {sorted(output)}" if isinstance(output, dict)
                else "a single tensor")
        raise UserError(
            f"model {name!r} is not a colorization model: its output is {kind}, not a dict with "
            "an 'ab' entry; pass a run folder of a colorization model (colorutils.models).")
    channels = output["ab"].shape[-1]
    if channels is None or channels < 2:
        raise UserError(f"model {name!r}: its 'ab' output has {channels} channels; expected 2 "
                        "(regression) or the number of ab bins (classification).")


@dataclasses.dataclass(frozen=True, eq=False)
class Colorizer:
    """A trained colorization model with what it takes to use it.

    Attributes
    ----------
    model : keras.Model
        Input ``l_norm [B, H, W, 1]``, output dict with ``"ab"`` (:func:`check_colorizer`).
    image_size : int or None
        Side length the model runs at (its training size); None if unknown.
    space : {"lab", "yuv", "hsv"}
        Target space of a regression head ("lab" for a classifier).
    bins : np.ndarray [Q, 2] or None
        The ab bin centres of a classifier (None for a regressor).
    temperature : float
        Default annealed-mean temperature of a classifier, in (0, 1].
    smooth_sigma : float or None
        Default chroma smoothing in pixels (None: none).
    provenance : dict
        Where the model came from (its path, its run's ``config.json`` or sidecar).
    """

    model: Any
    image_size: int | None = None
    space: str = "lab"
    bins: np.ndarray | None = None
    temperature: float = quantize.TEMPERATURE
    smooth_sigma: float | None = None
    provenance: Mapping = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_colorizer(self.model)
        channels = int(self.model.output["ab"].shape[-1])
        if self.space not in losses.CHROMA_SPACES:
            raise ValueError(f"space={self.space!r}; use one of {losses.CHROMA_SPACES}.")
        if channels == 2:
            if self.bins is not None:
                raise ValueError(f"bins given for model {self.name!r}, a regressor (2 "
                                 "channels); bins are for a classifier's logits.")
        else:
            if self.space != "lab":
                raise ValueError(f"space={self.space!r} for classifier {self.name!r}: its "
                                 "bins are Lab ab; space is for a regression head.")
            object.__setattr__(self, "bins", _bins_for(channels, self.bins))
        t = float(self.temperature)
        if not (math.isfinite(t) and 0.0 < t <= 1.0):
            raise ValueError(f"temperature={self.temperature!r} is outside (0, 1]; the book's "
                             f"default is {quantize.TEMPERATURE}.")

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def inputs(self):
        """The model's inputs (their shape tells whether its input size is fixed)."""
        return self.model.inputs

    @property
    def kind(self) -> str:
        """``"classification"`` (logits over bins) or ``"regression"`` (2 chroma channels)."""
        return "regression" if self.bins is None else "classification"

    def predict_ab(self, l_norm, *, method: str = "annealed_mean",
                   temperature: float | None = None, smooth_sigma: float | None = None,
                   batch_size: int = 32) -> np.ndarray:
        """ab in Lab units at the full resolution of ``l_norm`` (see :func:`predict_ab`).

        ``temperature`` and ``smooth_sigma`` default to the colorizer's own.
        """
        x, single = _l_batch(l_norm)
        raw = predict_raw(self.model, x, batch_size=batch_size)
        ab = self.decode(raw, x.shape[1:3], l_norm=x, method=method, temperature=temperature,
                         smooth_sigma=smooth_sigma)
        return ab[0] if single else ab

    def decode(self, raw, size, *, l_norm=None, method: str = "annealed_mean",
               temperature: float | None = None,
               smooth_sigma: float | None = None) -> np.ndarray:
        """Decode the model's raw output (:func:`predict_raw`) with its space and bins."""
        return decode_output(
            raw, size, bins=self.bins, method=method, l_norm=l_norm, space=self.space,
            temperature=self.temperature if temperature is None else temperature,
            smooth_sigma=self.smooth_sigma if smooth_sigma is None else smooth_sigma)


def _compiled_record(loss) -> dict:
    """``space`` / ``bins`` from a compiled ``"ab"`` loss (an object or its saved config)."""
    if isinstance(loss, Mapping) and "ab" in loss:
        loss = loss["ab"]
    if isinstance(loss, Mapping) and "config" in loss:  # as saved in the .keras archive
        config, name = loss.get("config") or {}, loss.get("class_name")
    else:
        config, name = {}, type(loss).__name__
        if hasattr(loss, "get_config"):
            config = loss.get_config()
    if name == "ABRegressionLoss" and config.get("space"):
        return {"space": config["space"]}
    if name == "RebalancedCrossEntropy" and config.get("bins") is not None:
        return {"bins": config["bins"]}
    return {}


def as_colorizer(model, *, space: str | None = None, bins=None, **defaults) -> Colorizer:
    """``model`` as a :class:`Colorizer`: a Colorizer as it is, a Keras model with the space
    and bins of its compiled loss (a model :func:`colorutils.models.compile_model` compiled
    or :meth:`colorutils.experiments.Study.train` returned).

    Parameters
    ----------
    space, bins : optional
        Override what the compiled loss says (a model loaded without its compiled state).
    **defaults
        Other :class:`Colorizer` fields (``image_size``, ``temperature``, ``smooth_sigma``).
    """
    given = {k: v for k, v in dict(space=space, bins=bins, **defaults).items() if v is not None}
    if isinstance(model, Colorizer):
        return dataclasses.replace(model, **given) if given else model
    record = _compiled_record(getattr(model, "loss", None))
    return Colorizer(model, **{**record, **given})


def predict_ab(model, l_norm, *, method: str = "annealed_mean",
               temperature: float | None = None, smooth_sigma: float | None = None,
               batch_size: int = 32, space: str | None = None, bins=None) -> np.ndarray:
    """Predict ab at the full resolution of ``l_norm``, for any colorization model of the book.

    Parameters
    ----------
    model : Colorizer or keras.Model
        A Keras model goes through :func:`as_colorizer` (space and bins of its compiled loss).
    l_norm : array [B, H, W, 1] or [H, W, 1]
        Normalised lightness in [-1, 1].
    method : {"annealed_mean", "mean", "mode"}
        Decoding of a distribution (:func:`colorutils.quantize.decode`).
    temperature : float, optional
        Annealed-mean temperature (default: the colorizer's, :data:`quantize.TEMPERATURE`).
    smooth_sigma : float, optional
        Gaussian chroma smoothing in full-resolution pixels (default: the colorizer's).
    batch_size : int
        Images per forward pass.
    space, bins : optional
        Override the model's recorded target space / ab bins.

    Returns
    -------
    np.ndarray
        float32 ``[B, H, W, 2]`` (``[H, W, 2]`` for a single image), ab in Lab units.
    """
    return as_colorizer(model, space=space, bins=bins).predict_ab(
        l_norm, method=method, temperature=temperature, smooth_sigma=smooth_sigma,
        batch_size=batch_size)


def _archive_record(model_path: str) -> dict:
    """What the ``.keras`` archive's compiled loss records (``{}`` if nothing)."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            saved = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    return _compiled_record((saved.get("compile_config") or {}).get("loss"))


def _sidecar_record(model_path: str) -> dict:
    """The sidecar ``<name>.json`` beside ``<name>.keras``, checked (``{}`` if none)."""
    sidecar = pathlib.Path(model_path).with_suffix(".json")
    if not sidecar.is_file():
        return {}
    record = files.read_json(sidecar)
    unknown = sorted(set(record) - set(SIDECAR_KEYS)) if isinstance(record, dict) else None
    if unknown is None or unknown:
        raise UserError(f"sidecar {str(sidecar)!r} must be a JSON object with keys among "
                        f"{', '.join(SIDECAR_KEYS)}; found {unknown or type(record).__name__}.")
    record = dict(record)
    if record.get("bins") is None and record.get("grid_size") is not None:
        record["bins"] = quantize.ab_bins(record["grid_size"])
    record.pop("grid_size", None)
    about = {k: record.pop(k) for k in ("head", "lambda") if k in record}  # informational
    record["provenance"] = {**(record.get("provenance") or {}), **about, "sidecar": str(sidecar)}
    return record


def _run_record(path: str) -> dict:
    """``image_size``, ``space`` and provenance from the run folder's ``config.json``."""
    stored = files.find_config(path)
    if stored is None:
        return {}
    space = files.config_value(stored, "space")
    record = {"image_size": files.training_size(stored), "provenance": {"run": stored}}
    if isinstance(space, str) and space:
        record["space"] = space
    return record


def load_colorizer(path: str | os.PathLike, *, image_size: int | None = None) -> Colorizer:
    """Load a :class:`Colorizer` from a run folder or a ``.keras`` file (the one loader).

    Parameters
    ----------
    path : path
        A run folder written by :func:`colorutils.train.fit` (its ``best.keras``, else
        ``last.keras``) or a ``.keras`` file (with an optional sidecar ``<name>.json``).
    image_size : int, optional
        Side length to run at; default: the recorded training size, else the model's fixed
        input size.

    Raises
    ------
    UserError
        Missing path, unloadable file, not a colorization model, a bad sidecar, or no way to
        tell the image size (then pass ``image_size``).
    """
    try:
        src = pathlib.Path(path).expanduser()
        model_path = files.model_file(src)
        last = src / files.LAST_MODEL
        if src.is_dir() and not zipfile.is_zipfile(model_path) and last.is_file():
            model_path = str(last)  # a damaged best.keras: train.load_model says so, uses last
        model = train.load_model(str(src) if src.is_dir() else model_path, compile=False)
    except FileNotFoundError as err:
        raise UserError(f"model {str(path)!r}: {first_line(err)}") from None
    except Exception as err:  # noqa: BLE001 - any load failure becomes a one-line message
        raise UserError(f"model {str(path)!r} could not be loaded as a Keras model "
                        f"({type(err).__name__}: {first_line(err, 200)})") from None
    check_colorizer(model)
    record = {**_archive_record(model_path), **_run_record(model_path),
              **_sidecar_record(model_path)}
    record["provenance"] = {"path": str(model_path), **(record.get("provenance") or {})}
    fixed = model.inputs[0].shape[1:3]
    size = image_size or record.pop("image_size", None) or (
        int(min(fixed)) if all(isinstance(d, int) for d in fixed) else None)
    record.pop("image_size", None)
    if size is None:
        raise UserError(f"cannot tell the image size of model {str(path)!r}: no config.json "
                        "or sidecar <name>.json records image_size; pass the size it runs at "
                        "(image_size=, or --size / --image-size on the command line).")
    try:
        return Colorizer(model, image_size=int(size), **record)
    except ValueError as err:
        raise UserError(f"model {str(path)!r}: {first_line(err)}") from None


def load_colorizers(found: Mapping[str, str]) -> tuple[dict, list[str]]:
    """Load ``{name: run_dir}`` (e.g. from :func:`colorutils.files.find_runs`) as
    :class:`Colorizer` objects (:func:`load_colorizer`).

    Returns ``({name: Colorizer}, notes)``; a run that fails to load or is not a colorization
    model (a classifier, say) is left out with a note.
    """
    loaded, notes = {}, []
    for name, run_dir in found.items():
        try:
            loaded[name] = load_colorizer(run_dir)
        except Exception as err:  # noqa: BLE001 - reported, not raised: a table of the rest
            notes.append(f"{name}: not scored ({type(err).__name__}: {first_line(err, 120)}).")
    return loaded, notes
