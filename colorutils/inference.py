"""From a trained model to ab and RGB: run, decode, upsample, recombine.

Every model of the book maps ``l_norm [B, H, W, 1]`` to a dict whose ``"ab"`` entry is either

* 2 channels: a regression head, ab in Lab units (or another chroma space, see
  :func:`colorutils.losses.chroma_to_ab`), or
* ``Q`` channels: logits over the in-gamut bins ``ab_bins(grid_size_for(Q))``, decoded by
  :func:`colorutils.quantize.decode` (annealed mean, ``T = 0.38``, by default),

possibly at a reduced resolution (Zhang et al. predict at 1/4 size).  :func:`predict_ab` turns
either into ab at the input's full resolution (bilinear upsampling, optional Gaussian chroma
smoothing), which :func:`colorutils.color.recombine` puts back together with the true
lightness.  For sweeps over decoding settings, :func:`predict_raw` runs the network once and
:func:`decode_output` decodes its output as often as needed.

What counts as a colorization model is checked in one place, :func:`check_colorizer` (one
lightness input, a dict output with ``"ab"``); :func:`load_colorizers` loads the runs of a
results table with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from colorutils import arrays, losses, quantize, train
from colorutils.errors import UserError, first_line

__all__ = ["predict_raw", "decode_output", "predict_ab", "check_colorizer", "load_colorizers"]


def _l_batch(l_norm):
    return arrays.as_batch(l_norm, 1, "l_norm",
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

    That is ab (2 channels) or logits (``Q`` channels) at the model's output resolution.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")
    x, _ = _l_batch(l_norm)
    outs = [_ab_output(model(x[i:i + batch_size], training=False)).numpy()
            for i in range(0, int(x.shape[0]), batch_size)]
    return np.concatenate(outs, axis=0)


def decode_output(output, size, *, method: str = "annealed_mean",
                  temperature: float = quantize.TEMPERATURE, smooth_sigma: float | None = None,
                  l_norm=None, space: str = "lab") -> np.ndarray:
    """Decode a model's ``"ab"`` output and bring it to full resolution.

    Parameters
    ----------
    output : array [B, h, w, C]
        ``C = 2``: ab (or chroma in ``space``); otherwise logits over ``ab_bins(grid_size_for(C))``.
    size : (H, W)
        Target resolution (bilinear upsampling when it differs).
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
        bins = quantize.ab_bins(quantize.grid_size_for(channels))
        ab = quantize.decode(out, bins, method=method, temperature=temperature)
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


def predict_ab(model, l_norm, *, method: str = "annealed_mean",
               temperature: float = quantize.TEMPERATURE, smooth_sigma: float | None = None,
               batch_size: int = 32, space: str = "lab") -> np.ndarray:
    """Predict ab at the full resolution of ``l_norm``, for any colorization model of the book.

    Parameters
    ----------
    model : keras.Model
        Output dict with ``"ab"``: 2 channels (regression, Lab units) or ``Q`` logits channels
        (classification over ``ab_bins(grid_size_for(Q))``), at any resolution.
    l_norm : array [B, H, W, 1] or [H, W, 1]
        Normalised lightness in [-1, 1].
    method : {"annealed_mean", "mean", "mode"}
        Decoding of a distribution (:func:`colorutils.quantize.decode`).
    temperature : float
        Annealed-mean temperature (default :data:`colorutils.quantize.TEMPERATURE`).
    smooth_sigma : float, optional
        Gaussian chroma smoothing in full-resolution pixels (None: off).
    batch_size : int
        Images per forward pass.
    space : str
        Chroma space of a 2-channel output (``"lab"`` for the book's regression models).

    Returns
    -------
    np.ndarray
        float32 ``[B, H, W, 2]`` (``[H, W, 2]`` for a single image), ab in Lab units.
    """
    x, single = _l_batch(l_norm)
    raw = predict_raw(model, x, batch_size=batch_size)
    ab = decode_output(raw, x.shape[1:3], method=method, temperature=temperature,
                       smooth_sigma=smooth_sigma, l_norm=x, space=space)
    return ab[0] if single else ab


def check_colorizer(model) -> None:
    """Raise a one-line :class:`~colorutils.errors.UserError` unless ``model`` colorizes.

    A colorization model of the book takes one input ``l_norm`` with one channel and returns a
    dict with an ``"ab"`` entry (2 channels for regression, ``Q`` logits for classification).
    """
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


def load_colorizers(runs: Mapping[str, str]) -> tuple[dict, list[str]]:
    """Load ``{name: run_dir}`` (e.g. from :func:`colorutils.runs.find_runs`), keeping only
    colorization models (:func:`check_colorizer`).

    Returns ``({name: model}, notes)``; a run that fails to load or is not a colorization
    model (a classifier, say) is left out with a note.
    """
    loaded, notes = {}, []
    for name, run_dir in runs.items():
        try:
            model = train.load_model(run_dir, compile=False)
            check_colorizer(model)
        except Exception as err:  # noqa: BLE001 - reported, not raised: a table of the rest
            notes.append(f"{name}: not scored ({type(err).__name__}: {first_line(err, 120)}).")
            continue
        loaded[name] = model
    return loaded, notes
