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

Every classification head also reports its accuracy.  :func:`targets_for` keeps the targets of
a dataset of :func:`colorutils.data.load` that a model outputs.

Examples
--------
>>> from colorutils import models
>>> net = compile_model(models.unet("regression", width=0.125, depth=2), space="yuv")
>>> type(net.loss["ab"]).__name__, net.loss["ab"].space
('ABRegressionLoss', 'yuv')
"""

from __future__ import annotations

import keras

from colorutils import losses, nn, quantize

__all__ = ["JOINT_ALPHA", "OPTIMIZERS", "make_optimizer", "compile_model", "head_losses",
           "output_keys", "targets_for"]

#: Weight of the classification loss in the fusion net's joint loss
#: ``L = L_colour + alpha * L_class`` (1/300 in a popular reimplementation of Iizuka et al.).
JOINT_ALPHA = 1.0 / 300.0
#: Optimizers :func:`make_optimizer` knows, with their default learning rates: Adam
#: (Kingma & Ba 2015) at Keras' 1e-3, Adadelta (Zeiler 2012, used by Iizuka et al.) at 1.0,
#: the rate of the original method (Keras' own default, 1e-3, barely moves), SGD with momentum.
OPTIMIZERS = {"adam": 1e-3, "adadelta": 1.0, "sgd": 1e-2}


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


def targets_for(model: keras.Model, dataset):
    """``dataset`` of ``(inputs, targets)`` keeping only the target keys ``model`` outputs.

    A dataset whose targets are already exactly those keys (or a model with a single tensor
    output) is returned unchanged.

    Raises
    ------
    ValueError
        If the model outputs a key the dataset has no target for.
    """
    keys = output_keys(model)
    spec = dataset.element_spec[1]
    if not keys or not isinstance(spec, dict) or tuple(spec) == keys:
        return dataset
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ValueError(f"the model outputs {missing} but the dataset has no such targets; "
                         "load it with colorutils.data.load(..., with_label=True).")
    return dataset.map(lambda x, y: (x, {k: y[k] for k in keys}))
