"""The :class:`Colorizer`: a trained model with what it takes to use it, loaded in one place.

A colorization model maps ``l_norm [B, H, W, 1]`` to a dict whose ``"ab"`` entry holds 2 chroma
channels in a ``space`` (:func:`colorutils.losses.chroma_to_ab`) or logits over ab ``bins``
(:func:`colorutils.quantize.decode`), maybe at a lower resolution.  The weights do not say
which: a :class:`Colorizer` keeps the model with its record (input size, space, bins, decoding
defaults, provenance) and returns ab in Lab units at full resolution.  :func:`load_colorizer`
reads the record from the ``.keras`` file's compiled loss, overridden by the run folder's
``config.json``, overridden by a sidecar ``<name>.json`` (:data:`_SIDECAR_KEYS`).  Zhang, Isola
and Efros {cite}`zhang2016colorful` (annealed mean, 313 bins; github.com/richzhang/colorization).
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

__all__ = ["as_colorizer", "load_colorizer", "load_colorizers", "predict_raw", "decode_output",
           "predict_ab"]

#: Keys of a sidecar ``<name>.json``, all optional, no others: ``grid_size`` stands for
#: ``bins = quantize.ab_bins(grid_size)``; ``head`` and ``lambda`` go into ``provenance``.
_SIDECAR_KEYS = ("image_size", "space", "bins", "grid_size", "temperature", "smooth_sigma",
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
    """The model's raw ``"ab"`` output on ``l_norm`` (chroma or logits at its own
    resolution), in batches, as float32 numpy."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")
    model = model.model if isinstance(model, Colorizer) else model
    x, _ = _l_batch(l_norm)
    # Keras' compiled predict function: 5-20x faster than an eager call of a small model.
    call = getattr(model, "predict_on_batch", None) or (lambda b: model(b, training=False))
    outs = [_ab_output(call(x[i:i + batch_size])).numpy()
            for i in range(0, int(x.shape[0]), batch_size)]
    return np.concatenate(outs, axis=0)


def decode_output(output, size, *, bins=None, method: str = "annealed_mean",
                  temperature: float = quantize.TEMPERATURE, smooth_sigma: float | None = None,
                  l_norm=None, space: str = "lab") -> np.ndarray:
    """A model's raw ``"ab"`` output ``[B, h, w, C]`` as float32 ab ``[B, H, W, 2]`` in Lab units.

    ``C = 2``: chroma in ``space`` (converted with ``l_norm`` unless ``"lab"``); else logits
    over ``bins`` (:func:`colorutils.quantize.decode`).  Then bilinear upsampling to ``size``
    and Gaussian chroma smoothing of ``smooth_sigma`` pixels, if given.
    """
    out = tf.convert_to_tensor(output, tf.float32)
    if out.shape.rank != 4:
        raise ValueError(f"output has shape {out.shape}; expected [B, h, w, C].")
    channels = int(out.shape[-1])
    ab = out if channels == 2 else quantize.decode(out, _bins_for(channels, bins), method=method,
                                                   temperature=temperature)
    size = tuple(int(s) for s in size)
    if channels == 2 and space != "lab":
        # to ab before upsampling: interpolating a hue across its wrap-around (0.99 -> 0.01)
        # would pass through every other hue
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
    """A one-line UserError unless ``model`` (or a Colorizer's) takes one lightness channel and
    returns a dict with an ``"ab"`` entry of 2 or ``Q`` channels."""
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
    """A trained colorization model with its ``image_size`` (training side length), regression
    ``space``, classifier ``bins`` ``[Q, 2]``, default annealed-mean ``temperature`` in
    (0, 1] and ``smooth_sigma``, and its ``provenance`` (path, ``config.json``, sidecar)."""

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
        """ab in Lab units at the full resolution of ``l_norm`` (see :func:`predict_ab`)."""
        x, single = _l_batch(l_norm)
        ab = decode_output(
            predict_raw(self.model, x, batch_size=batch_size), x.shape[1:3], bins=self.bins,
            method=method, l_norm=x, space=self.space,
            temperature=self.temperature if temperature is None else temperature,
            smooth_sigma=self.smooth_sigma if smooth_sigma is None else smooth_sigma)
        return ab[0] if single else ab


def _compiled_record(loss) -> dict:
    """``space`` / ``bins`` from a compiled ``"ab"`` loss (an object or its saved config)."""
    if isinstance(loss, Mapping) and "ab" in loss:
        loss = loss["ab"]
    if isinstance(loss, Mapping) and "config" in loss:  # as saved in the .keras archive
        config, name = loss.get("config") or {}, loss.get("class_name")
    else:
        config = loss.get_config() if hasattr(loss, "get_config") else {}
        name = type(loss).__name__
    if name == "ABRegressionLoss" and config.get("space"):
        return {"space": config["space"]}
    if name == "RebalancedCrossEntropy" and config.get("bins") is not None:
        return {"bins": config["bins"]}
    return {}


def as_colorizer(model, *, space: str | None = None, bins=None, **defaults) -> Colorizer:
    """``model`` as a :class:`Colorizer` with the space and bins of its compiled loss
    (:func:`colorutils.models.compile_model`); fields given (not None) override."""
    given = {k: v for k, v in dict(space=space, bins=bins, **defaults).items() if v is not None}
    if isinstance(model, Colorizer):
        return dataclasses.replace(model, **given) if given else model
    record = _compiled_record(getattr(model, "loss", None))
    return Colorizer(model, **{**record, **given})


def predict_ab(model, l_norm, *, method: str = "annealed_mean",
               temperature: float | None = None, smooth_sigma: float | None = None,
               batch_size: int = 32, space: str | None = None, bins=None) -> np.ndarray:
    """ab (float32, Lab units) at the full resolution of ``l_norm`` ``[B, H, W, 1]`` or
    ``[H, W, 1]``, for a :class:`Colorizer` or a compiled Keras model (:func:`as_colorizer`).

    ``method``, ``temperature`` and ``smooth_sigma`` decode logits (:func:`decode_output`;
    defaults: the colorizer's); ``space`` and ``bins`` override the recorded ones.
    """
    return as_colorizer(model, space=space, bins=bins).predict_ab(
        l_norm, method=method, temperature=temperature, smooth_sigma=smooth_sigma,
        batch_size=batch_size)


def _record(model_path: str) -> dict:
    """What ``<name>.keras`` records: its compiled loss's ``space`` / ``bins``, overridden by its
    run folder's ``config.json`` (``image_size``, ``space``), overridden by the sidecar
    ``<name>.json`` (checked); ``provenance`` holds the config or the sidecar's."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            saved = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        saved = {}
    record = _compiled_record((saved.get("compile_config") or {}).get("loss"))
    stored = files.find_config(model_path)
    if stored is not None:
        space = files.config_value(stored, "space")
        record.update(image_size=files.training_size(stored), provenance={"run": stored})
        if isinstance(space, str) and space:
            record["space"] = space
    sidecar = pathlib.Path(model_path).with_suffix(".json")
    if not sidecar.is_file():
        return record
    side = files.read_json(sidecar)
    unknown = sorted(set(side) - set(_SIDECAR_KEYS)) if isinstance(side, dict) else None
    if unknown is None or unknown:
        raise UserError(f"sidecar {str(sidecar)!r} must be a JSON object with keys among "
                        f"{', '.join(_SIDECAR_KEYS)}; found {unknown or type(side).__name__}.")
    side = dict(side)
    if side.get("bins") is None and side.get("grid_size") is not None:
        side["bins"] = quantize.ab_bins(side["grid_size"])
    side.pop("grid_size", None)
    about = {k: side.pop(k) for k in ("head", "lambda") if k in side}
    side["provenance"] = {**(side.get("provenance") or {}), **about, "sidecar": str(sidecar)}
    return {**record, **side}


def load_colorizer(path: str | os.PathLike, *, image_size: int | None = None) -> Colorizer:
    """A :class:`Colorizer` from a run folder of :func:`colorutils.train.fit` or a ``.keras``
    file, run at ``image_size`` (default: the recorded training size, else the model's fixed
    input size).  UserError for anything it cannot load or tell.
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
    record = _record(model_path)
    record["provenance"] = {"path": str(model_path), **(record.get("provenance") or {})}
    recorded, fixed = record.pop("image_size", None), model.inputs[0].shape[1:3]
    size = image_size or recorded or (
        int(min(fixed)) if all(isinstance(d, int) for d in fixed) else None)
    if size is None:
        raise UserError(f"cannot tell the image size of model {str(path)!r}: no config.json "
                        "or sidecar <name>.json records image_size; pass the size it runs at "
                        "(image_size=, or --size / --image-size on the command line).")
    try:
        return Colorizer(model, image_size=int(size), **record)
    except ValueError as err:
        raise UserError(f"model {str(path)!r}: {first_line(err)}") from None


def load_colorizers(found: Mapping[str, str]) -> tuple[dict, list[str]]:
    """``({name: Colorizer}, notes)`` of ``{name: run_dir}`` (:func:`colorutils.files.find_runs`);
    a run that fails to load (an image classifier, say) is left out with a note."""
    loaded, notes = {}, []
    for name, run_dir in found.items():
        try:
            loaded[name] = load_colorizer(run_dir)
        except Exception as err:  # noqa: BLE001 - reported, not raised: a table of the rest
            notes.append(f"{name}: not scored ({type(err).__name__}: {first_line(err, 120)}).")
    return loaded, notes
