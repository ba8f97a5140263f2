"""Experiment grids run: a chapter many times with papermill, one subprocess per run.

The grid file and its runs are :mod:`colorutils.grids`; what the runs measured is aggregated by
:mod:`colorutils.results`.  This module executes them (``colorutils experiments run
GRID.yml``, ``make experiments``):

Every run executes in its own ``python -m papermill`` subprocess (kernel ``python3``), so a
crash or a memory leak in one run cannot take the others down, into ``runs/<grid>/<run-id>/``::

    <notebook>.ipynb    the executed notebook (on failure: up to the failing cell, marked)
    parameters.json     the parameters injected into it
    metrics.json        what the notebook measured (colorutils.grids.write_notebook_metrics)
    log.txt             papermill's log: every cell's output, and the traceback of a failure
    status.json         complete / failed, duration, error line

Complete runs are skipped by later invocations (unless their parameters changed), failed runs
are reported and skipped until ``--retry-failed``.  At the end ``summary.csv``, ``summary.md``
and ``summary.png`` are written into ``runs/<grid>/`` (:func:`colorutils.results.aggregate`).

The names a notebook or script needs from the three modules are re-exported here
(``experiments.write_notebook_metrics``, ``experiments.load_grid``,
``experiments.write_results_page``).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys
import time

from colorutils import progress as progress_bars
from colorutils import runs
from colorutils.errors import UserError
from colorutils.grids import (
    METRICS_PARAMETER,
    STATUS_FILE,
    Grid,
    Run,
    load_grid,
    notebook_parameters,
    run_id_for,
    write_notebook_metrics,
)
from colorutils.results import aggregate, write_results_page

__all__ = ["RunResult", "execute_run", "run_grid", "experiments_command", "Grid", "Run",
           "load_grid", "notebook_parameters", "run_id_for", "write_notebook_metrics", "aggregate",
           "write_results_page"]


# --------------------------------------------------------------------------- running


@dataclasses.dataclass
class RunResult:
    run: Run
    status: str  # "complete", "failed", "skipped" (complete before), "skipped-failed"
    seconds: float = 0.0
    error: str = ""


def _last_error_line(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def execute_run(run: Run, timeout_per_cell: float | None = None) -> RunResult:
    """Execute one run in a ``python -m papermill`` subprocess and record its status.

    The chapter's own training folders go under ``$COLORBOOK_RUNS`` (the Makefile sets it to
    ``runs/``; when unset, the runs folder of the grid's parent), so a grid run reuses a model
    the book build (or another run with the same configuration) already trained.
    """
    if run.run_dir.exists():
        for name in (STATUS_FILE, "metrics.json", "log.txt", run.notebook.name):
            (run.run_dir / name).unlink(missing_ok=True)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    params = {**run.parameters, METRICS_PARAMETER: str(run.metrics_file.resolve())}
    runs.write_json_atomic(str(run.run_dir / "parameters.json"), run.parameters)
    params_file = run.run_dir / "papermill_parameters.json"
    params_file.write_text(json.dumps(params))
    started = datetime.datetime.now().isoformat(timespec="seconds")
    runs.write_json_atomic(str(run.run_dir / STATUS_FILE), {"status": "running", "started": started})
    cmd = [sys.executable, "-m", "papermill", str(run.notebook), str(run.output_notebook),
           "-f", str(params_file), "-k", "python3", "--log-output", "--no-progress-bar",
           "--cwd", str(run.notebook.parent)]
    if timeout_per_cell:
        cmd += ["--execution-timeout", str(int(timeout_per_cell))]
    env = dict(os.environ)
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("COLORBOOK_RUNS", str(run.run_dir.parent.parent.resolve()))
    t0 = time.perf_counter()
    with open(run.log_file, "w") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - t0
    params_file.unlink(missing_ok=True)
    if proc.returncode == 0 and run.metrics_file.exists():
        status, error = "complete", ""
    elif proc.returncode == 0:
        status = "failed"
        error = (f"the notebook finished but wrote no {run.metrics_file.name}; call "
                 f"colorutils.experiments.write_notebook_metrics({METRICS_PARAMETER}, ...) at "
                 "its end")
    else:
        status, error = "failed", _last_error_line(run.log_file.read_text(errors="replace"))
    runs.write_json_atomic(str(run.run_dir / STATUS_FILE), {
        "status": status, "started": started, "seconds": round(seconds, 2),
        "returncode": proc.returncode, "error": error})
    return RunResult(run, status, seconds, error)


def run_grid(grid: Grid, retry_failed: bool = False, dry_run: bool = False,
             progress: bool = True, echo=print) -> list[RunResult]:
    """Run every pending run of ``grid`` (one papermill subprocess each), then aggregate.

    Complete runs are skipped; failed runs are skipped unless ``retry_failed``; a run whose
    parameters changed since it ran (``stale``) runs again.  A failing run does not stop the
    others.  Returns one :class:`RunResult` per run, in grid order.
    """
    plan = [(run, run.status()) for run in grid.runs]
    todo = [run for run, st in plan
            if st in ("pending", "stale") or (st == "failed" and retry_failed)]
    echo(f"grid {grid.name}: {len(grid.runs)} run(s) of {grid.notebook.name}, "
         f"{len(todo)} to run, {sum(st == 'complete' for _, st in plan)} complete, "
         f"{sum(st == 'failed' for _, st in plan)} failed before -> {grid.root}")
    if dry_run:
        for run, st in plan:
            action = "run" if run in todo else "skip"
            echo(f"  [{st:8s}] {action:4s} {run.run_id}: {json.dumps(run.parameters)}")
        return [RunResult(run, "dry-run") for run, _ in plan]

    outcomes = []
    bar = progress_bars.bar(total=len(todo), desc=grid.name, unit="run",
                            show=bool(progress and todo) and progress_bars.enabled())
    for run, st in plan:
        if run not in todo:
            outcomes.append(RunResult(run, "skipped" if st == "complete" else "skipped-failed"))
            continue
        bar.set_postfix_str(run.run_id[:40])
        result = execute_run(run, grid.timeout_per_cell)
        outcomes.append(result)
        line = f"{run.run_id}: {result.status} in {result.seconds:.1f} s"
        if result.status == "failed":
            line += f" -- {result.error}\n    notebook: {run.output_notebook}\n    log: {run.log_file}"
        (bar.write if not bar.disable else echo)(line)
        bar.update(1)
    bar.close()

    failed = [r for r in outcomes if r.status in ("failed", "skipped-failed")]
    if failed:
        echo(f"grid {grid.name}: {len(failed)} run(s) failed (rerun them with --retry-failed):")
        for r in failed:
            info = runs.read_json(r.run.run_dir / STATUS_FILE) or {}
            echo(f"  {r.run.run_id}: {r.error or info.get('error', '')}\n"
                 f"    notebook: {r.run.output_notebook} (source {grid.notebook})")
    aggregate(grid)
    done = sum(r.run.status() == "complete" for r in outcomes)
    echo(f"grid {grid.name}: {done}/{len(outcomes)} complete; summary {grid.summary_csv}")
    return outcomes


# --------------------------------------------------------------------------- command line


def experiments_command(args) -> int:
    """``colorutils experiments run GRID.yml`` / ``colorutils experiments report``."""
    action = getattr(args, "experiments_command", None)
    if action == "report":
        paths = list(getattr(args, "grids", None) or sorted(pathlib.Path("experiments")
                                                            .glob("*.yml")))
        if not paths:
            raise UserError("no grid files given and none in experiments/.")
        write_results_page(paths, args.runs_dir, args.out)
        print(f"results page written: {args.out}")
        return 0
    if action != "run":
        raise UserError("say what to do: `colorutils experiments run GRID.yml` or "
                        "`colorutils experiments report`.")
    grid = load_grid(args.grid, args.runs_dir)
    done = run_grid(grid, retry_failed=args.retry_failed, dry_run=args.dry_run)
    return 1 if any(r.status == "failed" for r in done) else 0
