"""The path past one machine: ``train.fit`` under ``MirroredStrategy`` on two CPU replicas.

A Colab or cloud user with several GPUs trains through :func:`colorutils.train.fit` with
``tf.distribute.MirroredStrategy`` (what :func:`colorutils.train.get_strategy` picks there).
Here the two replicas are two *logical* CPU devices, which TensorFlow only creates before it
initialises its devices, so the check runs in a fresh subprocess (this file, run as a script).

What is checked: the chapters' U-Net (classification head over the ab bins, width 0.25,
output stride 4, 32 px photos of the embedded CIFAR-10 pack), compiled by
``models.compile_model`` with SGD + momentum (plain SGD is sensitive to a gradient that is
summed instead of averaged over replicas; Adam would hide a factor of 2), trained for 4 steps
of a global batch of 16 by ``train.fit``: once with TensorFlow's default strategy (one device)
and once mirrored on two replicas (8 photos each).  Every weight, including the batch-norm
moving statistics, agrees to 1e-5.  The U-Net has batch norm, which under ``MirroredStrategy``
normalises by *per-replica* batch statistics unless the layer is ``synchronized``; the equality
check syncs them (as a multi-GPU user of these models should), and a second run without
syncing shows that the comparison does see the difference (it exceeds 1e-5 there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

TOLERANCE = 1e-5
STEPS, GLOBAL_BATCH = 4, 16


def _child() -> None:  # runs in a fresh interpreter, before TensorFlow picks its devices
    import faulthandler
    import time

    faulthandler.dump_traceback_later(480)  # a hang shows where it is stuck (stderr)
    t0 = time.perf_counter()
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras
    import numpy as np

    from colorutils import data, models, quantize, train

    q = len(quantize.ab_bins())
    photos = data.load("cifar10", "train", 32, batch_size=GLOBAL_BATCH, shuffle=False,
                       augment=False, limit=STEPS * GLOBAL_BATCH)

    def model_fn(sync: bool):
        def build():
            net = models.unet("classification", num_bins=q, width=0.25, output_stride=4)
            for layer in net.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = sync
            return models.compile_model(net, optimizer="sgd")
        return build

    def weights(strategy, sync: bool):
        print(f"{time.perf_counter() - t0:.1f} s: training, {strategy}", file=sys.stderr,
              flush=True)
        with tempfile.TemporaryDirectory() as run_dir:
            result = train.fit(model_fn(sync), photos, run_dir=run_dir, epochs=1, seed=0,
                               strategy=strategy, verbose=0, progress_bar=False)
            return [np.asarray(w) for w in result.model.weights], result.metrics

    one_device = tf.distribute.get_strategy()
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    ref, _ = weights(one_device, sync=True)
    out = {"replicas": mirrored.num_replicas_in_sync,
           "described": train._describe_strategy(mirrored)}
    for sync in (True, False):
        got, metrics = weights(mirrored, sync)
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, got, strict=True))
        out["synced" if sync else "unsynced"] = {
            "max_abs_diff": moved, "strategy": metrics["strategy"], "n_weights": len(got)}
    train.set_seed(0)  # the initial weights both runs started from (fit seeds, then builds)
    init = [np.asarray(w) for w in model_fn(True)().weights]
    out["trained_moved"] = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, init, strict=True))
    out["seconds"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(out), flush=True)


@pytest.fixture(scope="module")
def replicas():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    # About 30 s of CPU; the limit only stops a hang (a loaded machine took 6 minutes).
    proc = subprocess.run([sys.executable, __file__], capture_output=True, text=True, env=env,
                          timeout=1200)
    lines = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_two_cpu_replicas_train_like_one_device(replicas):
    assert replicas["replicas"] == 2
    assert "MirroredStrategy (2 replica(s)" in replicas["synced"]["strategy"]
    assert replicas["trained_moved"] > 1e-3  # 4 SGD steps changed the weights
    assert replicas["synced"]["max_abs_diff"] <= TOLERANCE, replicas


def test_the_comparison_sees_per_replica_batch_norm(replicas):
    # Unsynced batch norm normalises each replica's 8 photos by their own statistics: a
    # different computation, which the same comparison must not call equal.
    assert replicas["unsynced"]["max_abs_diff"] > TOLERANCE, replicas


if __name__ == "__main__":
    _child()
