"""Execute the book in parallel lanes before ``jupyter-book build`` (the first step of ``make book``).

One training process keeps one core of a small CPU busy, not two: on the 2-core build machine
the U-Net of chapters 02-03 trains at about 1,050 images/s with TensorFlow's default thread
pools and at the same rate with one intra-op thread, and two such single-thread trainings side
by side run at about 1,000 images/s each (``benchmarks/bench_train.py``, "lanes").  So this
tool runs the experiment grids and the book's notebooks as tasks on ``--lanes`` workers (default:
2, or 1 on a 1-core machine), each kernel with ``cpu_count // lanes`` intra-op threads, in an
order that respects what a page reuses from another (:data:`AFTER`; a run folder another page
is still training is waited for, ``COLORBOOK_LOCK_WAIT``), and stores every executed
notebook in the book's jupyter-cache (``_build/.jupyter_cache``) exactly as MyST-NB would; then
``jupyter-book build`` finds each page cached and only renders it.  A page already cached with
the same code is not executed again, a grid skips its finished runs, and a failed task stops the
build (its traceback printed) after the running ones end.

Each kernel gets ``COLORBOOK_TIMER_LABEL`` (the page, or ``grid:NAME``), so that
``tools/book_timings.py`` gives its training, evaluation and building seconds to the right page
although pages now overlap in time.

Run: ``python tools/execute_book.py [--lanes N] [--dry-run]`` from the repository root, with
``COLORBOOK_SCALE`` set (``make book`` sets ``book``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
#: What a page needs finished before it starts: it loads or reuses the run folders these
#: pages train (a page started early would train the same models again, or miss them).
#: Chapter 03 reuses chapter 02's regressor and classifier too, but starts beside it: it trains
#: its own models first and waits for a run chapter 02 still trains (``$COLORBOOK_LOCK_WAIT``,
#: :func:`colorutils.files.locked`), then loads it.
AFTER = {
    "book/intro": ["notebooks/03_rebalancing_and_decoding"],  # shows chapter 03's recipe
    "notebooks/08_colorize_your_photos": ["notebooks/03_rebalancing_and_decoding"],
    "notebooks/06_evaluation": ["notebooks/02_regression_vs_classification",
                                "notebooks/03_rebalancing_and_decoding",
                                "notebooks/05_fusion_network"],
}
#: Start order among ready tasks: chapters 02 and 03 first, side by side (the longest, and
#: what 06, 08 and the introduction wait for), then the grid -> 07 chain, 05 (which 06 waits
#: for), the rest, the short pages last to fill the gaps.  Tasks not named here come last.
FIRST = ["notebooks/02_regression_vs_classification", "notebooks/03_rebalancing_and_decoding",
         "grid:07_interplay", "notebooks/05_fusion_network", "notebooks/07_interplay",
         "notebooks/04_architectures", "notebooks/06_evaluation", "book/intro",
         "notebooks/08_colorize_your_photos"]


def _page_path(page: str) -> pathlib.Path:
    """The file of a table-of-contents entry: its ``.ipynb``, else its ``.md``."""
    ipynb = ROOT / f"{page}.ipynb"
    return ipynb if ipynb.exists() else ROOT / f"{page}.md"


def executable_pages(toc: pathlib.Path = ROOT / "book" / "_toc.yml") -> list[str]:
    """The table of contents' pages that MyST-NB executes: ``.ipynb`` files and MyST
    Markdown notebooks (a front matter with ``jupytext``), as paths without suffix."""
    import yaml

    def files(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("file", "root"):
                    yield value
                else:
                    yield from files(value)
        elif isinstance(node, list):
            for item in node:
                yield from files(item)

    pages = []
    for page in files(yaml.safe_load(toc.read_text())):
        path = _page_path(page)
        if path.suffix == ".ipynb":
            pages.append(page)
        elif path.exists():
            head = path.read_text().split("\n---", 1)[0]
            if head.startswith("---") and "jupytext" in head:
                pages.append(page)
    return pages


def grid_tasks(grid_dir: pathlib.Path = ROOT / "experiments") -> dict[str, str]:
    """``grid:NAME`` -> the page it runs (without suffix), for every grid file; that page
    then starts after its grid (the grid's runs share the page's run folders)."""
    import yaml

    out = {}
    for path in sorted(grid_dir.glob("*.yml")):
        notebook = str(yaml.safe_load(path.read_text())["notebook"])
        out[f"grid:{path.stem}"] = os.path.splitext(notebook)[0]
    return out


def plan(pages: list[str], grids: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """Tasks in start-priority order and each one's prerequisites; every name in
    :data:`AFTER` must be a task (a renamed chapter would otherwise lose its order)."""
    tasks = list(grids) + pages
    needs = {t: list(AFTER.get(t, [])) for t in tasks}
    for grid, page in grids.items():
        if page in needs:
            needs[page].append(grid)
    unknown = sorted({n for t, ns in AFTER.items() for n in [t, *ns]} - set(tasks))
    if unknown:
        raise SystemExit(f"tools/execute_book.py: AFTER names {unknown}, which are neither "
                         "pages of book/_toc.yml nor grids of experiments/; update AFTER.")
    rank = {t: i for i, t in enumerate(FIRST)}
    return sorted(tasks, key=lambda t: rank.get(t, len(FIRST))), needs


def schedule(order: list[str], needs: dict[str, list[str]], lanes: int, run_task,
             log=print) -> list[str]:
    """Run every task of ``order`` on ``lanes`` threads, each once its prerequisites
    finished, the first ready one in ``order`` first; ``run_task(name, lane)`` returns an
    error text or None.  After a failure nothing new starts; returns the failures."""
    done, running, failed = set(), set(), []
    cond = threading.Condition()

    def ready():
        return [t for t in order if t not in done and t not in running
                and all(n in done for n in needs[t])]

    def worker(lane):
        while True:
            with cond:
                while not failed and not ready() and running:
                    cond.wait()  # a running task may make another one ready
                todo = ready()
                if failed or not todo:  # a failure, or nothing left that can start
                    return
                task = todo[0]
                running.add(task)
            error = run_task(task, lane)
            with cond:
                running.discard(task)
                if error:
                    failed.append(task)
                    log(f"FAILED {task}:\n{error}")
                else:
                    done.add(task)
                cond.notify_all()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    missing = [t for t in order if t not in done and t not in failed]
    if missing and not failed:
        failed.append(f"never ready (a prerequisite cycle?): {missing}")
    return failed


def read_page(path: pathlib.Path):
    """The notebook as MyST-NB reads it (its cache matches notebooks by their code cells)."""
    import nbformat
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    text = path.read_text()
    if path.suffix == ".ipynb":
        return nbformat.reads(text, as_version=4)
    return read_myst_markdown_notebook(text, MdParserConfig(), add_source_map=True, path=path)


def is_cached(path: pathlib.Path) -> bool:
    from jupyter_cache import get_cache

    try:
        get_cache(str(CACHE)).match_cache_notebook(read_page(path))
        return True
    except KeyError:
        return False


def execute_one(src: str, out: str, timeout: int) -> int:
    """Child process: execute one page in its folder and write it, with its seconds."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    path = pathlib.Path(src)
    nb = read_page(path)
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=timeout, allow_errors=False,
                                 meta_override=True)
    nbformat.write(nb, out)
    with open(out + ".json", "w") as f:
        json.dump({"seconds": result.time, "error": result.exc_string if result.err else None},
                  f)
    return 1 if result.err else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lanes", type=int, default=min(2, os.cpu_count() or 1),
                   help="tasks run at once (default: 2, or 1 on a 1-core machine)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.add_argument("--dry-run", action="store_true", help="print the plan, execute nothing")
    p.add_argument("--one", nargs=2, metavar=("SRC", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        return execute_one(*args.one, timeout=args.timeout)
    if args.lanes < 1:
        p.error(f"--lanes {args.lanes}: give at least 1")
    order, needs = plan(executable_pages(), grid_tasks())
    threads = max(1, (os.cpu_count() or 1) // args.lanes)
    if args.dry_run:
        for task in order:
            print(task, "after", needs[task] or "-")
        return 0
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache, cache_lock, start = get_cache(str(CACHE)), threading.Lock(), time.time()
    out_dir = ROOT / "_build" / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1",
               OMP_NUM_THREADS=str(threads), COLORBOOK_LOCK_WAIT=str(args.timeout * 4))

    def log(msg):
        print(f"[{time.time() - start:6.0f} s] {msg}", flush=True)

    def run_task(task, lane):
        task_env = dict(env, COLORBOOK_TIMER_LABEL=task)
        if task.startswith("grid:"):
            grid = ROOT / "experiments" / f"{task[5:]}.yml"
            log(f"lane {lane}: grid {grid.name}")
            cmd = [str(pathlib.Path(sys.executable).parent / "colorutils"), "experiments",
                   "run", str(grid)]
            proc = subprocess.run(cmd, env=task_env, cwd=ROOT, capture_output=True, text=True)
            log(f"lane {lane}: grid {grid.name} done")
            return f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}" if proc.returncode else None
        path = _page_path(task)
        with cache_lock:
            if is_cached(path):
                log(f"lane {lane}: {task} cached, not executed")
                return None
        log(f"lane {lane}: {task}")
        out = out_dir / f"{path.stem}.ipynb"
        for old in (out, pathlib.Path(str(out) + ".json")):  # never read an earlier run's report
            old.unlink(missing_ok=True)
        proc = subprocess.run([sys.executable, __file__, "--one", str(path), str(out),
                               "--timeout", str(args.timeout)], env=task_env, cwd=ROOT,
                              capture_output=True, text=True)
        try:
            report = json.loads(pathlib.Path(str(out) + ".json").read_text())
        except (OSError, ValueError):
            report = {"error": f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"}
        if proc.returncode or report.get("error"):
            return report.get("error") or proc.stderr[-3000:]
        with cache_lock:  # as MyST-NB stores an execution (myst_nb.core.execute.cache)
            cache.cache_notebook_bundle(
                CacheBundleIn(nbformat.read(str(out), as_version=4), str(path),
                              data={"execution_seconds": report["seconds"]}),
                check_validity=False, overwrite=True)
        log(f"lane {lane}: {task} done in {report['seconds']:.0f} s")
        return None

    log(f"{len(order)} tasks on {args.lanes} lanes, {threads} intra-op thread(s) each")
    failed = schedule(order, needs, args.lanes, run_task, log)
    if failed:
        print(f"tools/execute_book.py: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    log("every page executed and cached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
