"""Training throughput on the CPU: batch size, XLA and threading, against the book's default.

Models, as the chapters train them at book scale (32 px photos, width 0.25, the ab bins of
:func:`colorutils.quantize.ab_bins`, compiled by :func:`colorutils.models.compile_model`:
Adam and the rebalanced cross-entropy):

* ``unet``: the U-Net classifier of chapters 02-03 and the book's recipe
  (``models.unet("classification", Q, 0.25, output_stride=4)``);
* ``zhang``: the Zhang et al. classifier of chapters 04 and 06 (one convolution per block,
  ``models.zhang_classifier(Q, 0.25, convs_per_block=1)``).

Baseline: one process as the book trained before its two lanes, batch 32, graph execution (Keras' CPU default,
``jit_compile=False``), TensorFlow's default thread pools.  Candidates: batch 64 and 128
(XLA off), XLA (``jit_compile=True``, batch 32), and the thread pools
(``tf.config.threading``: intra-op / inter-op threads), which TensorFlow fixes at start-up,
so they run in fresh subprocesses: per round, one process measures the default and the batch
and XLA variants, then one process per thread setting measures batch 32.  Each variant is
traced and warmed up first (not timed), then ``--images`` photos' worth of steps are timed,
``--passes`` times (5), the variants taking turns.  Printed: the
median images/s and the median ratio to the default (pass by pass inside the default's
process; median against median for a thread setting, measured in the next process), and the
same for CPU milliseconds per image (``time.process_time``, every thread of the process):
on a machine shared with other jobs, wall-clock rates follow the others' load, while CPU time
per image measures the work a setting needs (not its parallelism, so not threading).  Roofline: the model's training
FLOP/s (3 x the forward FLOPs of its convolutions, counted by ``bench_colorize.model_flops``,
times images/s) over the float32 FLOP/s of a 2048^2 matmul measured right before each timed
pass (on a shared machine the peak moves with the load too), and the load-robust version:
the model's FLOPs per CPU-second over the matmul's.

**Lanes** (``--lanes 2``, what ``make book`` does since tools/execute_book.py): two processes
of one intra-op and one inter-op thread each, traced and warmed up first, then timed together
(both wait for one start time); their images/s add up, against the default process's batch 32
of the same round, and their share is of the 2-core matmul peak that process measured.

Run: ``.venv/bin/python benchmarks/bench_train.py [--passes 5] [--rounds 1] [--images 640]
[--lanes 2] [--json F]`` (several minutes on a quiet 2-core CPU: most of it traces 12 models).
On a GPU, ``--models zhang --size 64 --width 1 --batches 64 --threads default --lanes 0``
gives the GPU step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

THREADS = {"default": (0, 0), "intra 1, inter 1": (1, 1), "intra 2, inter 1": (2, 1),
           "intra 1, inter 2": (1, 2)}
BASELINE = "batch 32"


def _child(spec: dict) -> dict:
    """One process: thread pools first, then every (model, variant) of ``spec``."""
    import tensorflow as tf

    intra, inter = spec["threads"]
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    import statistics

    import numpy as np
    from bench_colorize import matmul_peak, model_flops

    from colorutils import models, quantize, train

    q = len(quantize.ab_bins())
    size, width = spec["size"], spec["width"]
    builders = {
        "unet": lambda: models.unet("classification", q, width, output_stride=4),
        "zhang": lambda: models.zhang_classifier(q, width, convs_per_block=1),
    }
    rng = np.random.default_rng(0)
    n = max(spec["batches"]) * 2
    l_norm = rng.uniform(-1, 1, (n, size, size, 1)).astype("float32")
    ab = rng.uniform(-60, 60, (n, size, size, 2)).astype("float32")

    def data(batch):
        return (tf.data.Dataset.from_tensor_slices((l_norm, {"ab": ab})).batch(batch)
                .cache().repeat().prefetch(tf.data.AUTOTUNE))

    a, b = tf.random.normal((2048, 2048)), tf.random.normal((2048, 2048))
    tf.linalg.matmul(a, b).numpy()
    per_cpu_s = []
    for _ in range(5):  # float32 matmul FLOPs per CPU-second: a peak that ignores the load
        c0 = time.process_time()
        tf.linalg.matmul(a, b).numpy()
        per_cpu_s.append(2 * 2048**3 / (time.process_time() - c0) / 1e9)
    out = {"load_before": os.getloadavg()[0], "matmul_gflops": matmul_peak() / 1e9,
           "matmul_gflop_per_cpu_s": statistics.median(per_cpu_s),
           "threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                       tf.config.threading.get_inter_op_parallelism_threads()],
           "models": {}}
    variants = [(f"batch {b}", b, False) for b in spec["batches"]]
    if spec["xla"]:
        variants.append(("XLA, batch 32", 32, True))
    built = {}
    for name in spec["models"]:
        for label, batch, jit in variants:
            train.set_seed(0)
            model = models.compile_model(builders[name](), jit_compile=jit)
            ds = data(batch)
            t0 = time.perf_counter()  # tracing, and one pass over the cached photos
            model.fit(ds, epochs=1, steps_per_epoch=max(2, n // batch), verbose=0)
            built[name, label] = (model, ds, batch, time.perf_counter() - t0)
        out["models"][name] = {"gflop_per_image": 3 * model_flops(builders[name](), size, size)
                               / 1e9, "variants": {}}
    if spec.get("start_at"):  # lanes: every process starts its timed passes together
        out["late_s"] = max(0.0, time.time() - spec["start_at"])
        time.sleep(max(0.0, spec["start_at"] - time.time()))
    rates, cpu, peaks = ({key: [] for key in built} for _ in range(3))
    for _ in range(spec["passes"]):  # timed passes, the variants taking turns
        for key, (model, ds, batch, _warm) in built.items():
            peaks[key].append(matmul_peak(repeats=2) / 1e9)  # the peak right before it
            steps = max(2, spec["images"] // batch)
            t0, c0 = time.perf_counter(), time.process_time()
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
            rates[key].append(steps * batch / (time.perf_counter() - t0))
            cpu[key].append(1e3 * (time.process_time() - c0) / (steps * batch))
    for (name, label), (_model, _ds, _batch, warm) in built.items():
        out["models"][name]["variants"][label] = {
            "images_per_s": rates[name, label], "cpu_ms_per_image": cpu[name, label],
            "peak_gflops": peaks[name, label], "warmup_s": warm}
    out["load_after"] = os.getloadavg()[0]
    return out


def _start_child(spec: dict) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _result(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    lines = [s for s in stdout.splitlines() if s.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"benchmark child failed:\n{stdout[-2000:]}{stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _run_child(spec: dict) -> dict:
    return _result(_start_child(spec))


def _run_lanes(spec: dict, lanes: int, warmup_s: float) -> list[dict]:
    """``lanes`` processes of one thread each, timed together: what ``make book`` does
    (tools/execute_book.py runs two pages at once, one intra-op thread each)."""
    spec = {**spec, "threads": (1, 1), "batches": [32], "xla": False,
            "start_at": time.time() + warmup_s}
    return [_result(p) for p in [_start_child(spec) for _ in range(lanes)]]


def _print_lanes(rounds: list[dict], name: str, gflop: float) -> None:
    """The lanes' images/s added up (each lane's median), against the default process's
    batch 32 of the same round; the share is of the 2-core matmul peak that process measured."""
    med = statistics.median
    total, ratios, shares, cpus, late = [], [], [], [], []
    for g in rounds:
        ref = g["default"]["models"][name]["variants"][BASELINE]
        lanes = [lane["models"][name]["variants"][BASELINE] for lane in g["lanes"]]
        rate = sum(med(v["images_per_s"]) for v in lanes)
        total.append(rate)
        ratios.append(rate / med(ref["images_per_s"]))
        shares.append(rate * gflop / med(ref["peak_gflops"]))
        cpus += [ms for v in lanes for ms in v["cpu_ms_per_image"]]
        late += [lane["late_s"] for lane in g["lanes"]]
    what = f"batch 32, {len(rounds[0]['lanes'])} lanes x 1 thread"
    print(f"  {what:34s} {med(total):6.0f} images/s (x{med(ratios):.2f})  "
          f"{med(cpus):6.2f} CPU ms/image            {med(shares):6.1%} of matmul peak (wall)"
          + (f"  [a lane began {max(late):.0f} s late]" if max(late) > 0 else ""))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--models", nargs="+", default=["unet", "zhang"])
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--threads", nargs="+", default=list(THREADS), choices=list(THREADS))
    p.add_argument("--images", type=int, default=640, help="photos per timed measurement")
    p.add_argument("--passes", type=int, default=5, help="timed passes per process")
    p.add_argument("--rounds", type=int, default=1, help="rounds of processes")
    p.add_argument("--lanes", type=int, default=2,
                   help="also time this many one-thread processes at once (0: skip)")
    p.add_argument("--lane-warmup", type=float, default=60.0,
                   help="seconds the lane processes get to trace before timing together")
    p.add_argument("--json", default=None, help="also write every round's figures here")
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(_child(json.loads(args.child))), flush=True)
        return 0
    base = dict(models=args.models, size=args.size, width=args.width, images=args.images,
                passes=args.passes)
    rounds = []
    for r in range(args.rounds):
        got = {"default": _run_child({**base, "threads": THREADS["default"],
                                      "batches": args.batches, "xla": True})}
        for t in args.threads:
            if t != "default":
                got[t] = _run_child({**base, "threads": THREADS[t], "batches": [32],
                                     "xla": False})
        if args.lanes > 0:
            got["lanes"] = _run_lanes(base, args.lanes, args.lane_warmup)
        rounds.append(got)
        print(f"round {r + 1}/{args.rounds} done, load average "
              f"{got['default']['load_before']:.1f}-{os.getloadavg()[0]:.1f}", flush=True)
    procs = [(g, t) for g in rounds for t in g if t != "lanes"]
    peaks = [p for g, t in procs for m in g[t]["models"].values()
             for v in m["variants"].values() for p in v["peak_gflops"]]
    loads = [g[t][k] for g, t in procs for k in ("load_before", "load_after")]
    per_cpu = [g[t]["matmul_gflop_per_cpu_s"] for g, t in procs]
    print(f"\n{args.size} px, width {args.width}; median of {args.passes} passes x "
          f"{args.rounds} round(s); matmul peak {min(peaks):.0f}-{max(peaks):.0f} GFLOP/s, "
          f"{min(per_cpu):.0f}-{max(per_cpu):.0f} GFLOP per CPU-second; "
          f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    med = statistics.median
    for name in args.models:
        gflop = rounds[0]["default"]["models"][name]["gflop_per_image"]
        print(f"{name} ({gflop * 1e3:.1f} MFLOP per training image):")
        for t in (t for t in rounds[0] if t != "lanes"):
            for label in rounds[0][t]["models"][name]["variants"]:
                rates, ratios, cpus, cpu_ratios, shares, cpu_shares = [], [], [], [], [], []
                for g in rounds:
                    v = g[t]["models"][name]["variants"][label]
                    ref = g["default"]["models"][name]["variants"][BASELINE]
                    own, base_rate = v["images_per_s"], ref["images_per_s"]
                    rates += own
                    cpus += v["cpu_ms_per_image"]
                    # same process: pass by pass; another process: median against median
                    if t == "default":
                        ratios += [a / b for a, b in zip(own, base_rate, strict=True)]
                        cpu_ratios += [b / a for a, b in zip(v["cpu_ms_per_image"],
                                                             ref["cpu_ms_per_image"],
                                                             strict=True)]
                    else:
                        ratios.append(med(own) / med(base_rate))
                        cpu_ratios.append(med(ref["cpu_ms_per_image"])
                                          / med(v["cpu_ms_per_image"]))
                    shares += [rate * gflop / p
                               for rate, p in zip(own, v["peak_gflops"], strict=True)]
                    cpu_shares += [gflop / (ms / 1e3) / g[t]["matmul_gflop_per_cpu_s"]
                                   for ms in v["cpu_ms_per_image"]]
                what = label + (f", threads {t}" if t != "default" else "")
                print(f"  {what:34s} {med(rates):6.0f} images/s (x{med(ratios):.2f})  "
                      f"{med(cpus):6.2f} CPU ms/image (x{med(cpu_ratios):.2f})  "
                      f"{med(shares):6.1%} of matmul peak (wall), "
                      f"{med(cpu_shares):5.1%} per CPU-second")
        if args.lanes > 0:
            _print_lanes(rounds, name, gflop)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rounds": rounds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
