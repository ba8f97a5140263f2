"""Where and how training runs: seeds, the distribution strategy, the numeric precision.

:func:`set_seed` fixes every random generator a run uses.  :func:`get_strategy` picks
``TPUStrategy`` on a Colab TPU, ``MirroredStrategy`` with several GPUs and TensorFlow's default
strategy otherwise, and prints its choice.  :func:`set_mixed_precision` sets the Keras
``mixed_float16`` policy on GPUs only (a CPU gains nothing from float16, and TPUs prefer
bfloat16); the book's losses compute in float32 and the decoders (softmax, annealed mean) cast
the logits to float32 first, so only the convolutions run in half precision (Micikevicius et
al., 2018, "Mixed precision training", ICLR).  :func:`colorutils.train.fit` calls all three.

References
----------
Keras guide "Distributed training with TensorFlow",
https://www.tensorflow.org/guide/distributed_training.
"""

from __future__ import annotations

import os
import random
import warnings

import keras
import numpy as np
import tensorflow as tf

__all__ = ["set_seed", "describe_strategy", "get_strategy", "set_mixed_precision",
           "check_float32_outputs"]


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Fix Python's, NumPy's, TensorFlow's and Keras' random generators with one ``seed``.

    Parameters
    ----------
    seed : int
        The seed; pass the same value to :func:`colorutils.data.load` to fix the data order.
    deterministic : bool
        Also ask TensorFlow for deterministic kernels
        (``tf.config.experimental.enable_op_determinism``): bit-identical reruns on a GPU, at
        some speed cost.  It cannot be switched off again in the same process.
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)  # python, numpy and the backend again, plus Keras' own
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _tpu_address() -> str | None:
    """The TPU to connect to on Colab, or None: the legacy ``COLAB_TPU_ADDR`` (a gRPC address)
    or a TPU VM (``TPU_NAME``/``TPU_ACCELERATOR_TYPE`` set, devices under ``/dev/accel*``)."""
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if os.environ.get("TPU_ACCELERATOR_TYPE") or os.path.exists("/dev/accel0"):
        return "local"
    return None


def describe_strategy(strategy) -> str:
    """One line: the strategy's class, replica count and devices."""
    name = type(strategy).__name__
    if name in ("_DefaultDistributionStrategy", "DefaultDistributionStrategy"):
        name = "default strategy"
    gpus = tf.config.list_logical_devices("GPU")
    where = f"{len(gpus)} GPU" if gpus else "CPU"
    if "TPU" in name:
        where = "TPU"
    return f"{name} ({strategy.num_replicas_in_sync} replica(s), {where})"


def get_strategy(verbose: bool = True):
    """The ``tf.distribute`` strategy for the accelerator that is present.

    * a Colab TPU (``COLAB_TPU_ADDR``, or a TPU VM): ``TPUStrategy`` through
      ``TPUClusterResolver``;
    * more than one GPU: ``MirroredStrategy`` (synchronous data parallelism);
    * otherwise (one GPU, or the CPU): TensorFlow's default strategy.

    Build and compile the model inside ``strategy.scope()`` (``fit`` does).  The batch size is
    the *global* batch: with N replicas every replica sees ``batch_size / N`` examples.

    Parameters
    ----------
    verbose : bool
        Print the choice (one line), so that a log shows on what the run trained.
    """
    strategy = None
    tpu = _tpu_address()
    if tpu is not None:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            if tpu != "local":
                tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:  # pragma: no cover
            print(f"TPU {tpu!r} announced but not usable ({err}); falling back.", flush=True)
    if strategy is None:
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy()
        else:
            strategy = tf.distribute.get_strategy()
    if verbose:
        print(f"Training with {describe_strategy(strategy)}.", flush=True)
    return strategy


def _has_gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def set_mixed_precision(enabled: bool, verbose: bool = True) -> str:
    """Set the Keras dtype policy: ``mixed_float16`` if ``enabled`` and a GPU is present.

    Returns the policy name now in force.  On a CPU (or a TPU) the request is ignored with a
    printed note, since float16 there is slower or unsupported; the policy goes back to
    ``float32`` when ``enabled`` is False.  Call it *before* building the model.
    """
    policy = "float32"
    if enabled:
        if _has_gpu():
            policy = "mixed_float16"
        elif verbose:
            print("mixed_precision=True ignored: no GPU, training in float32.", flush=True)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def check_float32_outputs(model) -> None:
    """Warn if a model output is not float32 (under mixed precision a custom loss needs it)."""
    bad = [t.name for t in model.outputs if getattr(t, "dtype", "float32") != "float32"]
    if bad:
        warnings.warn(
            f"mixed precision: model outputs {bad} are not float32; the book's losses and "
            "decoders cast to float32, but a custom loss should too (or give the last layer "
            "dtype='float32').", stacklevel=3)
