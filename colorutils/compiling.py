"""Compiling a model of the zoo: one loss per head type, the optimizer, the targets it needs.

A model of :mod:`colorutils.models` has one or two heads, and each head type has exactly one
loss, chosen here and nowhere else:

=====================  ===================================================================
head                   loss
=====================  ===================================================================
``"ab"``, 2 channels   :class:`colorutils.losses.ABRegressionLoss` in the target ``space``
                       (MSE on ``ab / AB_SCALE``; YUV and HSV targets: chapter 02)
``"ab"``, Q channels   :class:`colorutils.losses.RebalancedCrossEntropy` over the ab bins,
                       weighted by the rebalancing ``weights`` (None: plain soft
                       cross-entropy; Zhang et al. 2016)
``"label"``            sparse categorical cross-entropy on the logits, weighted by ``alpha``
                       next to an ``"ab"`` head: the joint loss ``L_colour + alpha L_class``
                       of Iizuka et al. (2016) {cite}`iizuka2016let`; weight 1 alone
a plain tensor         the same cross-entropy: a classifier (``rgb_classifier``)
=====================  ===================================================================

Every classification head also reports its accuracy.  :func:`targets_for` gives a dataset of
:func:`colorutils.data.load` the targets a model trains on (its output keys; a YUV or HSV
regression head's chroma in its own space).

Examples
--------
>>> from colorutils import models
>>> net = compile_model(models.unet("regression", width=0.125, depth=2), space="yuv")
>>> type(net.loss["ab"]).__name__, net.loss["ab"].space
('ABRegressionLoss', 'yuv')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras

from colorutils import losses, nn, quantize

__all__ = ["JOINT_ALPHA", "OPTIMIZERS", "ModelHeads", "MODEL_HEADS", "model_outputs",
           "make_optimizer", "compile_model", "head_losses", "output_keys", "targets_for"]

#: Weight of the classification loss in the fusion net's joint loss
#: ``L = L_colour + alpha * L_class`` (1/300 in a popular reimplementation of Iizuka et al.).
JOINT_ALPHA = 1.0 / 300.0
#: Optimizers :func:`make_optimizer` knows, with their default learning rates: Adam
#: (Kingma & Ba 2015) at Keras' 1e-3, Adadelta (Zeiler 2012, used by Iizuka et al.) at 1.0,
#: the rate of the original method (Keras' own default, 1e-3, barely moves), SGD with momentum.
OPTIMIZERS = {"adam": 1e-3, "adadelta": 1.0, "sgd": 1e-2}


@dataclasses.dataclass(frozen=True)
class ModelHeads:
    """The heads a builder of :data:`colorutils.models.BUILDERS` can give its model.

    Attributes
    ----------
    colour : tuple of str
        The kinds of ``"ab"`` head it can have, the default first: ``"classification"``
        (``num_bins`` logits over the ab bins, :func:`colorutils.quantize.ab_bins`) and/or
        ``"regression"`` (2 chroma channels); ``()`` for an image classifier.
    label : {"none", "optional", "always", "plain"}
        Its ``"label"`` head: none, with ``num_classes`` given (the fusion net), always (a dict
        output ``{"label"}``), or a plain logits tensor (``rgb_classifier``).
    chooses_by : {"head", "num_bins", None}
        How the builder picks the ``"ab"`` head: a ``head=`` argument (the U-Net), or
        ``num_bins`` given (classification) or None (regression); None: it has one kind.
    input : {"l_norm", "rgb"}
        Its input: the lightness, or an RGB photo (a classifier of colour photos).
    """

    colour: tuple[str, ...]
    label: str = "none"
    chooses_by: str | None = None
    input: str = "l_norm"


#: Each model of the zoo and its heads: what ``colorutils train --model/--head`` may ask for
#: and which targets a study feeds it.  ``tests/test_models.py`` checks it against the builders.
MODEL_HEADS = {
    "regression_cnn": ModelHeads(("regression",)),
    "zhang_classifier": ModelHeads(("classification",)),
    "unet": ModelHeads(("classification", "regression"), chooses_by="head"),
    "fusion_net": ModelHeads(("classification", "regression"), label="optional",
                             chooses_by="num_bins"),
    "fusion_classifier": ModelHeads((), label="always"),
    "koalarization_net": ModelHeads(("classification", "regression"), chooses_by="num_bins"),
    "rgb_classifier": ModelHeads((), label="plain", input="rgb"),
}


def model_outputs(name: str, kwargs: Mapping | None = None) -> tuple[tuple[str, ...], str]:
    """``(output keys, input name)`` of the model ``BUILDERS[name](**kwargs)``, from
    :data:`MODEL_HEADS` (no model is built).

    >>> model_outputs("fusion_net", {"num_bins": 262, "num_classes": 10})
    (('ab', 'label'), 'l_norm')
    >>> model_outputs("rgb_classifier", {"num_classes": 10})
    ((), 'rgb')
    """
    nn.check_choice("model", name, tuple(MODEL_HEADS))
    heads, kwargs = MODEL_HEADS[name], dict(kwargs or {})
    keys = ("ab",) if heads.colour else ()
    if heads.label == "always" or (heads.label == "optional" and kwargs.get("num_classes")):
        keys += ("label",)
    return keys, heads.input


def make_optimizer(name: str = "adam", learning_rate: float | None = None):
    """A fresh Keras optimizer by name (see :data:`OPTIMIZERS` for the default rates)."""
    nn.check_choice("optimizer", name, tuple(OPTIMIZERS))
    lr = OPTIMIZERS[name] if learning_rate is None else learning_rate
    nn.check_positive("learning_rate", lr)
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "adadelta":
        return keras.optimizers.Adadelta(lr)
    return keras.optimizers.SGD(lr, momentum=0.9)


def output_keys(model: keras.Model) -> tuple[str, ...]:
    """The names of a model's outputs (``()`` for a single tensor, e.g. a classifier)."""
    return tuple(model.output) if isinstance(model.output, dict) else ()


def _class_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _accuracy():
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def head_losses(model: keras.Model, *, weights=None, bins=None, space: str = "lab",
                alpha: float = JOINT_ALPHA) -> tuple:
    """``(loss, loss_weights, metrics)`` for ``keras.Model.compile``: the table above.

    Parameters
    ----------
    weights : array [Q], optional
        Rebalancing weights of a classification ``"ab"`` head.
    bins : array [Q, 2], optional
        Its bin centres; default ``ab_bins(grid_size_for(Q))``.
    space : {"lab", "yuv", "hsv"}
        Target space of a regression ``"ab"`` head.
    alpha : float
        Weight of a ``"label"`` head next to an ``"ab"`` head (>= 0).
    """
    if not isinstance(alpha, (int, float)) or alpha < 0:
        raise ValueError(f"alpha={alpha!r} must be a non-negative number (0 ignores the "
                         "classification loss; 1/300 is the usual weight).")
    keys = output_keys(model)
    if not keys:  # a classifier: plain logits
        return _class_loss(), None, [_accuracy()]
    loss, loss_weights, metrics = {}, {}, {}
    if "ab" in keys:
        depth = model.output["ab"].shape[-1]
        if depth == 2:
            loss["ab"] = losses.ABRegressionLoss(space)
        else:
            bins = quantize.ab_bins(quantize.grid_size_for(depth)) if bins is None else bins
            loss["ab"] = losses.RebalancedCrossEntropy(bins, weights)
        loss_weights["ab"] = 1.0
    if "label" in keys:
        loss["label"] = _class_loss()
        loss_weights["label"] = float(alpha) if "ab" in keys else 1.0
        metrics["label"] = [_accuracy()]
    return loss, loss_weights, metrics or None


def compile_model(model: keras.Model, *, optimizer: str = "adam",
                  learning_rate: float | None = None, weights=None, bins=None,
                  space: str = "lab", alpha: float = JOINT_ALPHA,
                  **compile_kwargs) -> keras.Model:
    """Compile a model of the zoo with the loss each of its heads calls for; return it.

    Parameters
    ----------
    optimizer : {"adam", "adadelta", "sgd"}
    learning_rate : float, optional
        Default: the optimizer's rate in :data:`OPTIMIZERS`.
    weights, bins, space, alpha
        See :func:`head_losses`.
    **compile_kwargs
        Passed to ``keras.Model.compile`` (``run_eagerly``, ``jit_compile``, ...).
    """
    loss, loss_weights, metrics = head_losses(model, weights=weights, bins=bins, space=space,
                                              alpha=alpha)
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=loss,
                  loss_weights=loss_weights, metrics=metrics, **compile_kwargs)
    return model


def targets_for(model, dataset, *, space: str | None = None):
    """``dataset`` of ``(inputs, targets)`` with the targets ``model`` trains on.

    Keeps only the target keys the model outputs, and converts the ``"ab"`` target of a
    regression head compiled in another chroma space (YUV, HSV; :func:`compile_model` with
    ``space=``) from the pipeline's Lab ab to that space (:func:`colorutils.losses.chroma_targets`):
    the loss compares the model's output with targets in its own space, so Lab targets would
    train a YUV head on the wrong numbers.  Graph-safe (``dataset.map``).

    Parameters
    ----------
    model : keras.Model or tuple of str
        A compiled model of the zoo, or its output names (:func:`output_keys`).
    dataset : tf.data.Dataset
        ``(l_norm, {"ab": ab[, "label": label]})`` as :func:`colorutils.data.load` makes it.
    space : {"lab", "yuv", "hsv"}, optional
        The regression head's target space; default: the space of its compiled loss, else Lab.

    Raises
    ------
    ValueError
        If the model outputs a key the dataset has no target for.
    """
    if dataset is None:
        return None
    keys = tuple(model) if isinstance(model, (tuple, list)) else output_keys(model)
    if space is None:
        loss = getattr(model, "loss", None)
        loss = loss.get("ab") if hasattr(loss, "get") else loss  # a dict of head losses
        space = getattr(loss, "space", "lab")
    spec = dataset.element_spec[1]
    if keys and isinstance(spec, dict):
        missing = [k for k in keys if k not in spec]
        if missing:
            raise ValueError(f"the model outputs {missing} but the dataset has no such targets; "
                             "load it with colorutils.data.load(..., with_label=True).")
        if tuple(spec) != keys:
            dataset = dataset.map(lambda x, y: (x, {k: y[k] for k in keys}))
    if space != "lab":
        dataset = dataset.map(
            lambda x, t: (x, {**t, "ab": losses.chroma_targets(x, t["ab"], space)}))
    return dataset
