"""``make test-full``: every chapter that trains a model (or times training), at ``scale="full"``, small enough for a CPU.

``scale="full"`` is what students run on a Colab GPU: 128 px photos, the fusion network's
224 px global path, full-width networks, the backbone of Deep Koalarization, the experiment
grids (chapter 03's lambdas, chapter 04's training choices).  This dry run executes exactly
those code paths, but for one epoch on a few dozen photos, so that a full-scale run cannot
first fail after an hour on Colab.  What stays at the scale's value: image size, global-path
size, widths (except chapter 04's, which trains a dozen models), grids, model construction;
what :data:`OVERRIDES` shrinks: epochs, the number of training and evaluation photos, seeds,
and the number of outputs written.

Offline, ImageNet weights cannot be downloaded: chapter 04's default ``backbone_weights=None``
builds the backbone without them (no download is attempted; with ``"imagenet"`` offline,
``models.koalarization_net`` fails within seconds with a message saying to pass None).

Each chapter runs in its own papermill process (kernel ``python3`` of ``.venv``), from an
empty folder (nothing is written into the book), with run folders in a fresh
``_build/test-full/runs``, two at a time with one intra-op thread each (``--lanes``; the
scheduler of ``make book``, ``tools/execute_book.py``), a chapter only after those whose runs
it reuses, so later chapters find the runs of earlier ones as they do on Colab.  The log gives each chapter's time and the precision
policy its runs trained under (mixed precision is a no-op on a CPU: ``float32``).

When a chapter's parameters change, edit :data:`OVERRIDES` (the one table of this dry run):
a parameter the notebook's ``parameters`` cell lacks is reported by name before anything runs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

#: Per chapter (notebook stem): the parameters that shrink its full-scale run to CPU size.
#: ``{work}`` in a string value is replaced by the dry run's work folder.
OVERRIDES: dict[str, dict] = {
    # Times six training steps of the book's U-Net at 128 px, batch 64, after its statistics.
    "00_data": dict(train_images=128),
    "02_regression_vs_classification": dict(epochs=1, train_images=32, eval_images=16,
                                            seeds=[0]),
    "03_rebalancing_and_decoding": dict(epochs=1, train_images=32, eval_images=16, seeds=[0]),
    # A dozen models (the zoo and all seven training choices): at width 1.0 each takes about
    # two minutes here, so the widths are cut; shapes, sizes and the grid stay the full ones.
    "04_architectures": dict(epochs=1, train_images=32, eval_images=16, width=0.25),
    "05_fusion_network": dict(epochs=1, train_images=32, eval_images=16),
    "06_evaluation": dict(epochs=1, train_images=32, eval_images=16, classifier_epochs=1,
                          turing_pairs=4, turing_dir="{work}/turing"),
    "07_interplay": dict(epochs=1, train_images=32, seeds=[0]),
    "08_colorize_your_photos": dict(epochs=1, max_photos=2),
}

#: Code that trains a model: a chapter containing it must have a row in OVERRIDES.
TRAINS = re.compile(r"\btrain\.fit\(|\bstudy\.train\(|\bexperiments\.train_(best|model)\(")


def cells(path: pathlib.Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def parameter_names(path: pathlib.Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    tagged = [c for c in cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise SystemExit(f"{path.name}: expected one cell tagged 'parameters', "
                         f"found {len(tagged)}")
    names = []
    for node in ast.parse("".join(tagged[0]["source"])).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def trains(path: pathlib.Path) -> bool:
    return any(c["cell_type"] == "code" and TRAINS.search("".join(c["source"]))
               for c in cells(path))


def problems(overrides: dict[str, dict] = OVERRIDES, notebooks=NOTEBOOKS) -> list[str]:
    """What is wrong with the table, in words (empty: nothing)."""
    found = {p.stem: p for p in sorted(pathlib.Path(notebooks).glob("*.ipynb"))}
    out = []
    for stem, params in overrides.items():
        if stem not in found:
            out.append(f"OVERRIDES names {stem}.ipynb, which is not in notebooks/")
            continue
        have = parameter_names(found[stem])
        for name in params:
            if name not in have:
                out.append(f"notebooks/{stem}.ipynb has no parameter {name!r} (its parameters "
                           f"cell sets: {', '.join(have)}); update OVERRIDES in "
                           f"tests/full_dry_run.py")
        if "scale" not in have:
            out.append(f"notebooks/{stem}.ipynb has no parameter 'scale'")
    for stem, path in found.items():
        if stem not in overrides and trains(path):
            out.append(f"notebooks/{stem}.ipynb trains a model but has no row in OVERRIDES "
                       f"(tests/full_dry_run.py): add the parameters that make scale='full' "
                       f"CPU-sized")
    return out


def precisions(run_root: pathlib.Path) -> list[str]:
    """The dtype policies recorded by the runs under ``run_root`` (``metrics.json``)."""
    seen = set()
    for metrics in run_root.rglob("metrics.json"):
        try:
            value = json.loads(metrics.read_text()).get("precision")
        except (OSError, ValueError, AttributeError):
            continue
        if value:
            seen.add(value)
    return sorted(seen)


def _execute_book():
    """tools/execute_book.py as a module (its scheduler and the chapters' order)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("execute_book",
                                                  ROOT / "tools" / "execute_book.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the training chapters at scale=full, CPU-sized")
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "_build" / "test-full")
    parser.add_argument("--timeout", type=int, default=1800, help="papermill seconds per cell")
    parser.add_argument("--kernel", default="python3")
    parser.add_argument("--lanes", type=int, default=min(2, os.cpu_count() or 1),
                        help="chapters run at once (default 2, as make book)")
    parser.add_argument("chapters", nargs="*", help="notebook stems (default: every row)")
    args = parser.parse_args(argv)

    bad = problems()
    if bad:
        for line in bad:
            print(f"test-full: {line}", flush=True)
        print("test-full: FAILED before running anything", flush=True)
        return 1
    chapters = args.chapters or list(OVERRIDES)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)  # fresh run folders: every chapter trains
    content, executed, logs, runs = (work / d for d in ("content", "executed", "logs", "runs"))
    for d in (content, executed, logs):
        d.mkdir(parents=True)
    env = dict(os.environ, COLORBOOK_RUNS=str(runs))
    env.pop("COLORBOOK_SCALE", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    # Two chapters at a time, one intra-op thread each, a chapter after those whose runs it
    # reuses: the scheduler and the order of make book (tools/execute_book.py).
    book = _execute_book()
    threads = str(max(1, (os.cpu_count() or 1) // args.lanes))
    env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1",
               OMP_NUM_THREADS=threads, COLORBOOK_LOCK_WAIT=str(args.timeout * 4))
    needs = {stem: [p.rsplit("/", 1)[-1] for p in book.AFTER.get(f"notebooks/{stem}", [])
                    if p.rsplit("/", 1)[-1] in chapters] for stem in chapters}
    total = time.monotonic()

    def run_chapter(stem: str, lane: int) -> str | None:
        params = {"scale": "full"}
        for key, value in OVERRIDES[stem].items():
            params[key] = value.format(work=work) if isinstance(value, str) else value
        nb = NOTEBOOKS / f"{stem}.ipynb"
        log = logs / f"{stem}.log"
        t0 = time.monotonic()
        with open(log, "w") as fh:
            proc = subprocess.run(
                [sys.executable, "-m", "papermill", str(nb), str(executed / nb.name),
                 "-k", args.kernel, "-y", json.dumps(params), "--cwd", str(content),
                 "--execution-timeout", str(args.timeout), "--no-progress-bar", "--log-output"],
                env=env, stdout=fh, stderr=subprocess.STDOUT)
        seconds = time.monotonic() - t0
        policy = ", ".join(precisions(runs)) if runs.exists() else "-"
        status = "ok" if proc.returncode == 0 else f"FAILED (log: {log})"
        print(f"test-full: {stem:<34} {seconds:6.0f} s  {status}  "
              f"precision so far: {policy}", flush=True)
        if proc.returncode:
            return "  " + "\n  ".join(log.read_text(errors="replace").splitlines()[-30:])
        return None

    failed = book.schedule(chapters, needs, args.lanes, run_chapter,
                           log=lambda msg: print(msg, flush=True))
    print(f"test-full: {len(chapters) - len(failed)}/{len(chapters)} chapters passed in "
          f"{time.monotonic() - total:.0f} s; precision policies of the runs: "
          f"{', '.join(precisions(runs)) or '-'}", flush=True)
    if failed:
        print(f"test-full: FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("test-full: PASSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
