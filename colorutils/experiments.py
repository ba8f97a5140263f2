"""Experiments: papermill grids of a chapter, the studies that train its models, the recipes.

**Grids** (``colorutils experiments run GRID.yml``, ``make experiments``): a YAML file in
``experiments/`` names a ``notebook``, its fixed ``parameters`` and the ``grid`` lists whose
Cartesian product are the runs (optional: ``description``, ``summary: {metrics, replicate}``,
``timeout_per_cell``).  Each run executes in a papermill subprocess into
``runs/<grid>/<run-id>/``; the notebook declares ``metrics_path = None`` and writes its numbers
with :func:`write_notebook_metrics`.  **Studies**: a :class:`Study` trains or reloads each
:class:`Arm` (a zoo builder, how to compile it); :class:`ClassificationStudy` is the study of
chapters 02-03 {cite}`zhang2016colorful`.  **Recipes** (``colorutils train``):
:func:`train_model` (a zoo model on any source) and :func:`best_recipe` (the book's best).

>>> _run_id_for({"alpha": 0.003, "seeds": [1]})
'alpha=0.003__seeds=1'
"""

from __future__ import annotations

import ast
import contextlib
import csv
import dataclasses
import datetime
import hashlib
import itertools
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import yaml

from colorutils import data, evaluation, files, losses, models, quantize, settings, train
from colorutils.errors import RunConflictError, UserError, first_line
from colorutils.settings import SCALES

__all__ = [
    "write_notebook_metrics", "load_grid", "Arm", "Study", "ClassificationStudy",
    "CLASSIFICATION_PRESETS", "BEST_LAMBDA", "BEST_TEMPERATURE", "BEST_SMOOTH_SIGMA",
    "classification_arm_name", "training_prior", "train_best", "PHOTO_PRESETS", "PHOTO_LAMBDA",
    "PHOTO_TEMPERATURES", "choose_temperature", "train_model", "best_recipe",
]

_METRICS_PARAMETER = "metrics_path"
_REPLICATE_NAMES = ("seed", "seeds")
_GRID_KEYS = {"notebook", "description", "parameters", "grid", "summary", "timeout_per_cell"}
_STATUS_FILE = "status.json"
_RESULTS_STATIC = "_static/results"


def write_notebook_metrics(metrics_path: str | None, metrics: Mapping[str, Any]) -> dict | None:
    """Write a chapter's numbers to ``metrics_path`` atomically (a no-op when None), nested
    dicts flattened (``{"a": {"psnr": 1}}`` -> ``a.psnr``), non-finite values as None; a value
    that is not a number raises ValueError naming its key."""
    if metrics_path is None:
        return None
    flat: dict[str, float | None] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit(f"{prefix}.{k}" if prefix else str(k), v)
        elif value is None:
            flat[prefix] = None
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"metric {prefix!r}={value!r} is not a number; metrics.json "
                                 "holds numbers only (put text in the notebook).") from None
            flat[prefix] = number if math.isfinite(number) else None

    visit("", metrics)
    os.makedirs(os.path.dirname(os.path.abspath(metrics_path)), exist_ok=True)
    files.write_json_atomic(metrics_path, flat)
    return flat


def _notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The names assigned in the notebook's ``parameters`` cell and their defaults (the source
    text of a default that is not a literal)."""
    path = pathlib.Path(path)
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read notebook {path}: {err}") from None
    cells = [c for c in nb.get("cells", [])
             if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise UserError(f"{path} has no cell tagged 'parameters'; papermill cannot set "
                        "parameters (tag the cell in Jupyter: View > Cell toolbar > Tags).")
    source = "".join(cells[0]["source"])
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise UserError(f"{path}: the parameters cell does not parse ({err}).") from None
    params: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        # A name, or the names of a tuple or list target (``a, b = 1, 2``).
        for name in [n for t in targets for n in getattr(t, "elts", [t])
                     if isinstance(n, ast.Name)]:
            try:
                params[name.id] = ast.literal_eval(value)
            except ValueError:
                params[name.id] = ast.get_source_segment(source, value)
    return params


@dataclasses.dataclass
class _Run:
    """One combination of a grid: its id, parameters and folder."""

    run_id: str
    notebook: pathlib.Path
    parameters: dict
    run_dir: pathlib.Path

    @property
    def output_notebook(self) -> pathlib.Path:
        return self.run_dir / self.notebook.name

    @property
    def metrics_file(self) -> pathlib.Path:
        return self.run_dir / "metrics.json"

    @property
    def log_file(self) -> pathlib.Path:
        return self.run_dir / "log.txt"

    def status(self) -> str:
        """``complete``, ``failed``, ``stale`` (done with other parameters) or ``pending``."""
        info = files.read_json(self.run_dir / _STATUS_FILE)
        if info is None:
            return "pending"
        stored = files.read_json(self.run_dir / "parameters.json")
        if stored != json.loads(json.dumps(self.parameters, sort_keys=True)):
            return "stale"
        if info.get("status") == "complete" and self.metrics_file.exists():
            return "complete"
        if info.get("status") in ("failed", "complete"):
            return "failed"
        return "pending"  # "running": the process died; run again


@dataclasses.dataclass
class _Grid:
    """A parsed, validated grid file."""

    name: str
    notebook: pathlib.Path
    description: str
    fixed: dict
    varied: dict
    summary: dict
    timeout_per_cell: float | None
    runs: list[_Run]
    root: pathlib.Path


def _slug(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "x"


def _run_id_for(varied: Mapping[str, Any]) -> str:
    """A readable, file-system safe id: ``alpha=0.003__seeds=1`` (hashed if very long)."""
    if not varied:
        return "default"
    rid = "__".join(f"{_slug(k)}={_slug(v)}" for k, v in varied.items())
    if len(rid) > 120:
        digest = hashlib.sha1(json.dumps(varied, sort_keys=True).encode()).hexdigest()[:10]
        rid = rid[:100] + "__" + digest
    return rid


def _resolve_notebook(value: str, grid_path: pathlib.Path) -> pathlib.Path:
    candidate = pathlib.Path(value)
    options = [candidate] if candidate.is_absolute() else [
        grid_path.parent / candidate, grid_path.parent.parent / candidate,
        pathlib.Path.cwd() / candidate]
    for option in options:
        if option.exists():
            return option.resolve()
    raise UserError(f"grid {grid_path}: notebook {value!r} not found (looked in "
                    f"{', '.join(str(o.parent) for o in options)}).")


def _read_spec(path: pathlib.Path) -> dict:
    """The grid file's YAML mapping, with its keys checked."""
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as err:
        raise UserError(f"cannot read grid file {path}: {err.strerror}.") from None
    except yaml.YAMLError as err:
        raise UserError(f"grid file {path} is not valid YAML: {err}") from None
    if not isinstance(spec, dict) or "notebook" not in spec:
        raise UserError(f"grid file {path} must be a mapping with a 'notebook' key "
                        "(see colorutils.experiments for the format).")
    unknown = set(spec) - _GRID_KEYS
    if unknown:
        raise UserError(f"grid file {path}: unknown key(s) {', '.join(sorted(unknown))}; "
                        f"allowed: {', '.join(sorted(_GRID_KEYS))}.")
    return spec


def _parameters(path: pathlib.Path, notebook: pathlib.Path, spec: dict) -> tuple[dict, dict]:
    """``parameters`` (every run's) and ``grid`` (lists of values to combine), checked: each
    name assigned in the notebook's parameters cell, each ``scale`` known."""
    fixed = dict(spec.get("parameters") or {})
    varied = dict(spec.get("grid") or {})
    for key, values in varied.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"grid file {path}: grid.{key} must be a non-empty list of values "
                            f"(got {values!r}); put single values under 'parameters'.")
    both = set(fixed) & set(varied)
    if both:
        raise UserError(f"grid file {path}: {', '.join(sorted(both))} given both under "
                        "'parameters' and 'grid'; keep one.")
    known = _notebook_parameters(notebook)
    if _METRICS_PARAMETER not in known:
        raise UserError(f"{notebook}: the parameters cell must declare "
                        f"`{_METRICS_PARAMETER} = None` (the runner sets it to the run's "
                        "metrics.json, which the notebook writes with "
                        "colorutils.experiments.write_notebook_metrics).")
    for key in [*fixed, *varied]:
        if key == _METRICS_PARAMETER:
            raise UserError(f"grid file {path}: {_METRICS_PARAMETER} is set by the runner; "
                            "remove it from the grid.")
        if key not in known:
            raise UserError(
                f"grid file {path}: unknown parameter {key!r} for {notebook.name}; its "
                f"parameters cell assigns: {', '.join(sorted(known))}.")
    for scale in ([fixed["scale"]] if "scale" in fixed else []) + varied.get("scale", []):
        if scale not in SCALES:
            raise UserError(f"grid file {path}: scale={scale!r} is not a known scale; use "
                            f"one of {', '.join(SCALES)}.")
    return fixed, varied


def load_grid(path: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> _Grid:
    """Read and validate a grid file (nothing runs); a :class:`UserError` names what is wrong
    (the file, a key, a parameter the notebook lacks, an unknown ``scale``)."""
    path = pathlib.Path(path)
    spec = _read_spec(path)
    notebook = _resolve_notebook(str(spec["notebook"]), path)
    fixed, varied = _parameters(path, notebook, spec)
    timeout = spec.get("timeout_per_cell")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise UserError(f"grid file {path}: timeout_per_cell={timeout!r} must be positive "
                        "seconds.")
    if path.stem in SCALES:
        raise UserError(f"grid file {path}: rename it; {path.stem!r} is the name of a scale, "
                        "whose training folders share the runs folder.")
    root = pathlib.Path(runs_dir) / path.stem
    runs = []
    for combo in itertools.product(*varied.values()):  # one run per combination
        values = dict(zip(varied, combo, strict=True))
        rid = _run_id_for(values)
        runs.append(_Run(rid, notebook, {**fixed, **values}, root / rid))
    if len({r.run_id for r in runs}) != len(runs):
        raise UserError(f"grid file {path}: two combinations give the same run id; make the "
                        "grid values distinct.")
    return _Grid(name=path.stem, notebook=notebook,
                 description=str(spec.get("description") or "").strip(), fixed=fixed,
                 varied=varied, summary=dict(spec.get("summary") or {}),
                 timeout_per_cell=timeout, runs=runs, root=root)


def _collect(grid: _Grid) -> list[dict]:
    """One row per run: run id, status, seconds, the varied parameters, every metric."""
    rows = []
    for run in grid.runs:
        info = files.read_json(run.run_dir / _STATUS_FILE) or {}
        row: dict[str, Any] = {"run_id": run.run_id, "status": run.status(),
                               "seconds": info.get("seconds")}
        row.update({k: json.dumps(v) if isinstance(v, (list, dict)) else v
                    for k, v in run.parameters.items() if k in grid.varied})
        if row["status"] == "complete":
            row.update(files.read_json(run.metrics_file) or {})
        rows.append(row)
    return rows


def _metric_names(grid: _Grid, rows: list[dict]) -> list[str]:
    """The grid's ``summary.metrics``, else every numeric metric found (in first-seen order)."""
    chosen = grid.summary.get("metrics")
    if chosen:
        return list(chosen)
    skip = {"run_id", "status", "seconds", *grid.varied}
    names: list[str] = []
    for row in rows:
        names += [k for k, v in row.items() if k not in skip and k not in names
                  and (v is None or isinstance(v, (int, float)))]
    return names


def _groups(grid: _Grid, rows: list[dict]) -> dict[str, list[dict]]:
    """The rows grouped by the varied parameters other than the replicates (seeds)."""
    replicate = grid.summary.get("replicate")
    if replicate is None:
        replicate = [k for k in grid.varied if k in _REPLICATE_NAMES]
    keys = [k for k in grid.varied if k not in replicate and len(grid.varied[k]) > 1]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        label = ", ".join(f"{k}={row[k]}" for k in keys) or "all runs"
        groups.setdefault(label, []).append(row)
    return groups


def _values(members: list[dict], name: str) -> list[float]:
    """The metric ``name`` of the complete runs among ``members`` that measured it."""
    return [float(r[name]) for r in members
            if r["status"] == "complete" and isinstance(r.get(name), (int, float))]


def _cell(values: list[float], digits: int) -> str:
    """``mean ± std`` of a group's runs (``digits`` significant digits), the mean of one run."""
    if not values:
        return ""
    s = evaluation.summarize(values)
    return f"{s.mean:.{digits}g} ± {s.std:.2g}" if s.has_spread else f"{s.mean:.{digits}g}"


#: Metric columns per table: more would not fit the book's 704 px text column.
_MAX_METRIC_COLUMNS = 4
_WORDS = {"auc": "AuC", "psnr": "PSNR (dB)", "ssim": "SSIM", "acc": "accuracy", "std": "(std)"}


def _metric_header(name: str) -> str:
    """A readable column header: ``color.auc.mean`` -> ``color AuC``."""
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "mean":
        parts = parts[:-1]
    words = [w for part in parts for w in part.split("_") if w]
    return " ".join(_WORDS.get(w, w) for w in words) or name


def _summary_table(grid: _Grid, rows: list[dict], digits: int = 3) -> str:
    """Markdown tables: a row per group of runs, ``mean ± std`` per metric, at most
    :data:`_MAX_METRIC_COLUMNS` metrics per table."""
    names = _metric_names(grid, rows)
    table_rows = []
    for label, members in _groups(grid, rows).items():
        done = sum(r["status"] == "complete" for r in members)
        table_rows.append({"runs": label, "complete": f"{done}/{len(members)}", **{
            name: _cell(_values(members, name), digits) for name in names}})
    chunks = [names[i:i + _MAX_METRIC_COLUMNS]
              for i in range(0, len(names), _MAX_METRIC_COLUMNS)] or [[]]
    return "\n\n".join(
        evaluation.Table(table_rows, {"runs": "runs", "complete": "complete",
                                      **{n: _metric_header(n) for n in chunk}}).to_markdown()
        for chunk in chunks)


def _aggregate(grid: _Grid) -> None:
    """Write ``summary.csv``, ``summary.md`` and ``summary.png`` into ``runs/<grid>/``."""
    rows = _collect(grid)
    grid.root.mkdir(parents=True, exist_ok=True)
    with files.atomic_path(grid.root / "summary.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
    (grid.root / "summary.md").write_text(_summary_table(grid, rows) + "\n")
    _plot_summary(grid, rows)


def _plot_summary(grid: _Grid, rows: list[dict], max_metrics: int = 6) -> None:
    """``summary.png``: a panel per metric, a dot per complete run, a bar at each group's mean."""
    # Imported here: Agg must be chosen before pyplot loads, and only when a figure is drawn
    # (a notebook that imports this module keeps its own backend).
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = [n for n in _metric_names(grid, rows)
             if any(isinstance(r.get(n), (int, float)) for r in rows)][:max_metrics]
    if not names:
        return
    groups = _groups(grid, rows)
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for i, members in enumerate(groups.values()):
            vals = _values(members, name)
            if vals:
                ax.plot([i] * len(vals), vals, "o", alpha=0.7)
                ax.hlines(sum(vals) / len(vals), i - 0.25, i + 0.25, color="black", lw=2)
        ax.set_xticks(range(len(groups)), list(groups), rotation=20, ha="right",
                      fontsize="small")
        ax.set_xlabel("runs (replicates pooled)")
        ax.set_ylabel(name)
        ax.set_title(name, fontsize="medium")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"grid {grid.name}: {grid.notebook.name} (dots: runs, bar: mean)")
    fig.tight_layout()
    fig.savefig(grid.root / "summary.png", dpi=110)
    plt.close(fig)


_RESULTS_INTRO = """\
# Results of the experiment grids

This page collects what the book's experiment grids measured. It is written by
`colorutils experiments report` (which `make experiments` runs after the grids) from the
run folders under `runs/`; edit the text in `colorutils/experiments.py`, not here.

A grid file in `experiments/` names one chapter and the parameter combinations to run. Each run
executes the whole chapter in its own papermill process and leaves, in
`runs/<grid>/<run-id>/`, the executed notebook, `parameters.json`, the `metrics.json` the
chapter wrote, and `log.txt`. Runs that are complete are skipped the next time, so a grid can be
stopped and started again at will; a failed run is reported with its notebook and is rerun with
`--retry-failed`.

```bash
make experiments                                              # every grid, then this page
.venv/bin/colorutils experiments run experiments/07_interplay.yml --dry-run  # list runs
.venv/bin/colorutils experiments run experiments/07_interplay.yml            # run them
.venv/bin/colorutils experiments run experiments/07_interplay.yml --retry-failed
.venv/bin/colorutils experiments report                       # rebuild this page only
```

## Running a grid on Colab (GPU, `scale: full`)

The CPU grids use `scale: book`. For publishable numbers run the same grid on a GPU:

1. Open a Colab notebook, choose *Runtime > Change runtime type > GPU*, mount Google Drive
   (`from google.colab import drive; drive.mount("/content/drive")`).
2. Install the book and its runner:
   `!git clone {repo}`, `%cd colorization-book`, `!pip install -q -e ".[book]"`.
3. Copy the grid with a full-scale setting, e.g.
   `!sed 's/scale: book/scale: full/' experiments/07_interplay.yml > experiments/07_interplay_full.yml`
   (the run folder is named after the grid file, so book and full runs never mix).
4. Run it into Drive, so that a disconnect loses nothing:
   `!colorutils experiments run experiments/07_interplay_full.yml --runs-dir /content/drive/MyDrive/colorbook/runs`.
   The chapters' own training folders go there too (unless `COLORBOOK_RUNS` says otherwise).
   After a disconnect, run the same cell again: finished runs are skipped, and training inside
   an unfinished run resumes from its last finished epoch (`colorutils.train`).

## Bringing the results back into the book

Download `MyDrive/colorbook/runs/<grid>/` into `runs/<grid>/` of your checkout (keep the
folder name), add the grid file to `experiments/`, then run
`.venv/bin/colorutils experiments report` and `make book`: the grid's table and figure appear
below. Nothing is retrained on your machine; the report only reads the run folders.
"""


def _write_results_page(grid_paths: Iterable[str | os.PathLike], runs_dir="runs",
                        out="book/results.md") -> str:
    """Write the book's results page: the introduction, then per grid its description, table
    and figure (copied to ``book/_static/results/``), or a note that it has not run."""
    repo = "https://github.com/colorization-book/colorization-book"
    with contextlib.suppress(OSError, KeyError, TypeError, yaml.YAMLError):
        config = pathlib.Path(__file__).parents[1] / "_config.yml"
        repo = yaml.safe_load(config.read_text())["repository"]["url"]
    out = pathlib.Path(out)
    static = out.parent / _RESULTS_STATIC
    parts = [_RESULTS_INTRO.replace("{repo}", repo)]
    for gp in sorted(pathlib.Path(p) for p in grid_paths):
        grid = load_grid(gp, runs_dir)
        rel_nb = os.path.splitext(os.path.relpath(grid.notebook, out.parent))[0]
        parts.append(f"## Grid `{grid.name}`\n")
        if grid.description:
            parts.append(grid.description + "\n")
        fixed = ", ".join(f"`{k}={v!r}`" for k, v in grid.fixed.items()) or "none"
        varied = ", ".join(f"`{k}` in {v!r}" for k, v in grid.varied.items()) or "none"
        parts.append(f"Notebook {{doc}}`{rel_nb}`; fixed parameters: {fixed}; "
                     f"varied: {varied}; {len(grid.runs)} run(s). Grid file "
                     f"`experiments/{gp.name}`.\n")
        rows = _collect(grid)
        done = sum(r["status"] == "complete" for r in rows)
        if not done:
            parts.append(f"*Not run yet* in `{grid.root}`: run "
                         f"`colorutils experiments run experiments/{gp.name}`.\n")
            continue
        when = max((files.read_json(r.run_dir / _STATUS_FILE) or {}).get("started", "")
                   for r in grid.runs)
        parts.append(f"{done} of {len(rows)} run(s) complete (latest started {when}). Each "
                     "row pools the replicate runs (seeds): mean ± standard deviation over its "
                     "runs; a row of one run shows that run's value alone.\n")
        parts.append(_summary_table(grid, rows) + "\n")
        _plot_summary(grid, rows)
        if (grid.root / "summary.png").exists():
            static.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(grid.root / "summary.png", static / f"{grid.name}.png")
            parts.append(f"```{{figure}} {_RESULTS_STATIC}/{grid.name}.png\n:name: "
                         f"results-{grid.name}\n:alt: One small dot plot per metric of grid "
                         f"{grid.name}, each with a column of dots per group of runs and a bar "
                         "at their mean.\n\nGrid "
                         f"`{grid.name}`: every metric per run (dots) and the mean of each "
                         "group of runs (black bar).\n```\n")
    text = "\n".join(parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


@dataclasses.dataclass
class _RunResult:
    run: _Run
    status: str  # "complete", "failed", "skipped" (complete before), "skipped-failed"
    seconds: float = 0.0
    error: str = ""


def _last_error_line(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def execute_run(run: _Run, timeout_per_cell: float | None = None) -> _RunResult:
    """Execute one run in a ``python -m papermill`` subprocess and record its status; its
    chapter trains under ``$COLORBOOK_RUNS`` (default: the runs folder above the grid's), so it
    reuses the models that the book build trained."""
    status_file = run.run_dir / _STATUS_FILE
    for path in (status_file, run.metrics_file, run.log_file, run.output_notebook):
        path.unlink(missing_ok=True)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    files.write_json_atomic(str(run.run_dir / "parameters.json"), run.parameters)
    params_file = run.run_dir / "papermill_parameters.json"
    params_file.write_text(json.dumps(
        {**run.parameters, _METRICS_PARAMETER: str(run.metrics_file.resolve())}))
    started = datetime.datetime.now().isoformat(timespec="seconds")
    files.write_json_atomic(str(status_file), {"status": "running", "started": started})
    cmd = [sys.executable, "-m", "papermill", str(run.notebook), str(run.output_notebook),
           "-f", str(params_file), "-k", "python3", "--log-output", "--no-progress-bar",
           "--cwd", str(run.notebook.parent)]
    if timeout_per_cell:
        cmd += ["--execution-timeout", str(int(timeout_per_cell))]
    env = {"JUPYTER_PLATFORM_DIRS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
           "COLORBOOK_RUNS": str(run.run_dir.parent.parent.resolve()), **os.environ}
    t0 = time.perf_counter()
    with open(run.log_file, "w") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - t0
    params_file.unlink(missing_ok=True)
    status, error = "complete", ""
    if proc.returncode != 0:
        status, error = "failed", _last_error_line(run.log_file.read_text(errors="replace"))
    elif not run.metrics_file.exists():
        status = "failed"
        error = (f"the notebook finished but wrote no {run.metrics_file.name}; call "
                 f"colorutils.experiments.write_notebook_metrics({_METRICS_PARAMETER}, ...) at "
                 "its end")
    files.write_json_atomic(str(status_file), {
        "status": status, "started": started, "seconds": round(seconds, 2),
        "returncode": proc.returncode, "error": error})
    return _RunResult(run, status, seconds, error)


def _run_grid(grid: _Grid, retry_failed: bool = False, dry_run: bool = False,
              echo=print) -> list[_RunResult]:
    """Run every pending or stale run of ``grid`` (and failed ones if ``retry_failed``), each
    in its own subprocess, a failure not stopping the others; then aggregate."""
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
        return [_RunResult(run, "dry-run") for run, _ in plan]
    outcomes = []
    bar = files.bar(total=len(todo), desc=grid.name, unit="run",
                    show=bool(todo) and files.enabled())
    for run, st in plan:
        if run not in todo:
            outcomes.append(_RunResult(run, "skipped" if st == "complete" else "skipped-failed"))
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
            info = files.read_json(r.run.run_dir / _STATUS_FILE) or {}
            echo(f"  {r.run.run_id}: {r.error or info.get('error', '')}\n"
                 f"    notebook: {r.run.output_notebook} (source {grid.notebook})")
    _aggregate(grid)
    done = sum(r.run.status() == "complete" for r in outcomes)
    echo(f"grid {grid.name}: {done}/{len(outcomes)} complete; summary {grid.root / 'summary.csv'}")
    return outcomes


def experiments_command(args) -> int:
    """``colorutils experiments run GRID.yml`` / ``colorutils experiments report``."""
    action = getattr(args, "experiments_command", None)
    if action == "report":
        paths = list(getattr(args, "grids", None) or sorted(pathlib.Path("experiments")
                                                            .glob("*.yml")))
        if not paths:
            raise UserError("no grid files given and none in experiments/.")
        _write_results_page(paths, args.runs_dir, args.out)
        print(f"results page written: {args.out}")
        return 0
    if action != "run":
        raise UserError("say what to do: `colorutils experiments run GRID.yml` or "
                        "`colorutils experiments report`.")
    grid = load_grid(args.grid, args.runs_dir)
    done = _run_grid(grid, retry_failed=args.retry_failed, dry_run=args.dry_run)
    return 1 if any(r.status == "failed" for r in done) else 0


#: The budget of every arm of chapters 02-03 (and of the best recipe) per scale, merged with
#: the scale's presets by :func:`colorutils.settings.resolve_chapter`.  ``book``: 13 models
#: in about 14 minutes of one core, beside the other chapters (benchmarks/README.md).
CLASSIFICATION_PRESETS = {
    "smoke": dict(epochs=1, width=0.125, train_images=32, eval_images=16, seeds=(0,)),
    "book": dict(image_size=32, batch_size=32, epochs=6, width=0.25, seeds=(0, 1, 2)),
    "colab": dict(image_size=32, batch_size=64, epochs=20, width=0.5, seeds=(0, 1, 2)),
    "full": dict(epochs=30, width=0.5, seeds=(0, 1, 2)),
}
#: The book's best recipe: chapters 02-03's U-Net classifier rebalanced with this lambda,
#: decoded by the annealed mean at this temperature with this chroma smoothing (pixels; 0:
#: none); its seed-0 run is the model of chapters 06, 08 and ``colorutils colorize``.  Change
#: them only from chapter 03's choice on the validation split's colour photos
#: (evaluation.choose_recipe), which at today's budget (2026-12-06, 6 epochs on 8,000 photos)
#: is lambda 0.7 at T = 0.38 (T = 0.29 counting the split's 14 gray photos).
BEST_LAMBDA = 0.7
BEST_TEMPERATURE = 0.38
BEST_SMOOTH_SIGMA = 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class Arm:
    """One model of a study: a zoo builder (:data:`colorutils.models.BUILDERS`), its ``kwargs``
    and how to compile it: ``weights`` rebalance a classification ``"ab"`` head, ``space`` is a
    regression head's target, ``alpha`` weights a ``"label"`` head, ``init_from`` is a model whose
    matching layers are copied first, ``monitor`` picks the best epoch.  ``config`` (default:
    the fields, the weights as a digest) is what ``config.json`` records."""

    name: str
    model: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    optimizer: str = "adam"
    learning_rate: float | None = None
    weights: Any = None
    space: str = "lab"
    alpha: float = models.JOINT_ALPHA
    config: Mapping[str, Any] | None = None
    init_from: Any = None
    monitor: str = "val_loss"

    def description(self) -> dict:
        """The arm's part of ``config.json``."""
        if self.config is not None:
            return dict(self.config)
        weights = (None if self.weights is None else hashlib.sha1(
            np.asarray(self.weights, np.float32).tobytes()).hexdigest()[:12])
        return dict(arm=self.name, model=self.model, kwargs=dict(self.kwargs),
                    optimizer=self.optimizer, learning_rate=self.learning_rate,
                    space=self.space, alpha=self.alpha, rebalancing_weights=weights,
                    init_from=getattr(self.init_from, "name", None))


@dataclasses.dataclass
class Trained:
    """What :meth:`Study.train` returns: the best epoch's compiled ``model`` and its run."""

    arm: str
    seed: int
    model: Any
    run_dir: str
    seconds: float
    loaded: bool
    history: dict
    metrics: dict

    def summary(self) -> str:
        """One line: trained or loaded, epochs, time, the best monitored value."""
        best = self.metrics.get("best")
        shown = f"best {self.metrics.get('monitor')} {best:.4g}" if best is not None else ""
        how = "loaded" if self.loaded else "trained"
        epochs = len(self.history.get("epoch", []))
        return (f"{self.arm} seed {self.seed}: {how}, {epochs} epoch{'s' if epochs != 1 else ''}"
                f", {self.seconds:.1f} s, {shown}".rstrip(", "))


class Study:
    """The training runs of one chapter sharing its settings ``cfg``, in the run folders
    ``run_name`` (``"{arm}_seed{seed}"`` or a function ``(arm, seed) -> str``), ``config`` added
    to each run's (``mixed_precision`` is not part of it).  ``verbose``: 0 silent, 1 a line per
    model, 2 also ``train.fit``'s lines."""

    def __init__(self, cfg: settings.Settings, *, run_name: str | Callable = "{arm}_seed{seed}",
                 config: Mapping[str, Any] | None = None, run_eagerly: bool = False,
                 verbose: int = 1, mixed_precision: bool = False):
        self.cfg, self.run_name, self.config = cfg, run_name, dict(config or {})
        self.run_eagerly, self.verbose = bool(run_eagerly), int(verbose)
        self.mixed_precision = bool(mixed_precision)

    def run_dir(self, arm: Arm | str, seed: int = 0) -> str:
        name = arm.name if isinstance(arm, Arm) else arm
        rel = (self.run_name(name, seed) if callable(self.run_name)
               else self.run_name.format(arm=name, seed=seed))
        return self.cfg.run_dir(rel)

    def run_config(self, arm: Arm) -> dict:
        """Everything that defines the run of ``arm`` (what ``config.json`` records)."""
        cfg = self.cfg
        shared = dict(dataset=cfg.dataset, image_size=cfg.image_size, width=cfg.width,
                      train_images=cfg.train_images)
        return {**shared, **self.config, **arm.description()}

    def build(self, arm: Arm):
        """The compiled model of ``arm``."""
        net = models.build(arm.model, **arm.kwargs)
        if arm.init_from is not None:
            models.copy_matching_weights(arm.init_from, net)
        return models.compile_model(net, optimizer=arm.optimizer,
                                    learning_rate=arm.learning_rate, weights=arm.weights,
                                    space=arm.space, alpha=arm.alpha,
                                    run_eagerly=self.run_eagerly)

    def dataset(self, arm: Arm, split: str = "train", seed: int = 0, **load_kwargs):
        """The ``split`` as ``arm`` reads it (labels for a ``"label"`` head, RGB for an RGB
        classifier)."""
        keys, input_name = models.model_outputs(arm.model, arm.kwargs)
        cfg = self.cfg
        load_kwargs.setdefault("limit", cfg.train_images if split == "train" else cfg.eval_images)
        if input_name == "rgb":
            load_kwargs.setdefault("output", "rgb")
        else:
            load_kwargs.setdefault("with_label", "label" in keys)
        return data.load(cfg.dataset, split, cfg.image_size, cfg.batch_size, seed=seed,
                         **load_kwargs)

    def train(self, arm: Arm, seed: int = 0, *, train_ds=None, val_ds=None,
              epochs: int | None = None) -> Trained:
        """Train ``arm`` with ``seed`` (or load its finished run); ``train_ds`` defaults to
        :meth:`dataset`, without ``val_ds`` the training loss picks the best epoch."""
        start = time.time()
        if train_ds is None:
            # tf.data's shuffle order also depends on TensorFlow's global seed: fix it first.
            train.set_seed(seed)
            train_ds = self.dataset(arm, "train", seed)
        keys, _ = models.model_outputs(arm.model, arm.kwargs)
        train_ds, val_ds = (models.targets_for(keys, ds, space=arm.space)
                            for ds in (train_ds, val_ds))
        result = train.fit(lambda: self.build(arm), train_ds, val_ds,
                           run_dir=self.run_dir(arm, seed),
                           epochs=epochs or self.cfg.epochs, config=self.run_config(arm),
                           seed=seed, monitor=arm.monitor,
                           verbose=2 if self.verbose >= 2 else 0,
                           mixed_precision=self.mixed_precision)
        return self._done(arm, seed, result, start, result.loaded)

    def load(self, arm: Arm, seed: int = 0, epochs: int | None = None) -> Trained:
        """The finished run of ``arm`` and ``seed``, reloaded without any data (else
        FileNotFoundError; ValueError for a run folder of another configuration)."""
        start = time.time()
        epochs = epochs or self.cfg.epochs
        run_dir = self.run_dir(arm, seed)
        if not files.is_finished(run_dir, epochs):
            raise FileNotFoundError(
                f"arm {arm.name!r} seed {seed} has no finished run of {epochs} epochs at "
                f"{run_dir!r}; train it with study.train(arm, seed).")
        result = train.load_run(lambda: self.build(arm), run_dir,
                                config=self.run_config(arm), seed=seed, epochs=epochs)
        return self._done(arm, seed, result, start, True)

    def _done(self, arm: Arm, seed: int, result, start: float, loaded: bool) -> Trained:
        done = Trained(arm=arm.name, seed=seed, model=result.model, run_dir=result.run_dir,
                       seconds=time.time() - start, loaded=loaded, history=result.history,
                       metrics=result.metrics)
        if self.verbose:
            print(done.summary(), flush=True)
        return done


class ClassificationStudy:
    """The study of chapters 02-03: U-Nets trained by regression or by classification over
    the ab ``bins`` {cite}`zhang2016colorful`, predicting at 1 / ``output_stride`` of the input
    resolution, run folders ``classification/<arm>/seed<seed>``."""

    def __init__(self, cfg: settings.Settings, bins, output_stride: int = 4,
                 learning_rate: float = 1e-3, run_eagerly: bool = False, verbose: int = 1,
                 mixed_precision: bool = False):
        self.cfg, self.bins = cfg, np.asarray(bins)
        self.output_stride, self.learning_rate = output_stride, learning_rate
        self.study = Study(cfg, run_name="classification/{arm}/seed{seed}",
                           run_eagerly=run_eagerly, verbose=verbose,
                           mixed_precision=mixed_precision, config=dict(
                               chapters="02-03", model="unet", width=cfg.width,
                               output_stride=output_stride, image_size=cfg.image_size,
                               epochs=cfg.epochs, train_images=cfg.train_images,
                               dataset=cfg.dataset, optimizer="adam",
                               learning_rate=learning_rate, num_bins=len(self.bins)))

    def run_dir(self, arm: str, seed: int) -> str:
        return self.study.run_dir(arm, seed)

    def arm(self, arm: str, head: str, space: str = "lab", weights=None,
            lam: float | None = None) -> Arm:
        """A U-Net with a ``"regression"`` head in ``space`` (lab, yuv, hsv) or a
        ``"classification"`` head rebalanced by ``weights`` (``lam`` is recorded)."""
        if head not in ("regression", "classification"):
            raise ValueError(f"head={head!r}: use 'regression' or 'classification'")
        if head == "classification" and space != "lab":
            raise ValueError(f"space={space!r}: the classification head predicts Lab ab bins")
        classify = head == "classification"
        description = dict(arm=arm, head=head, space=space, lam=lam,
                           hue_seam=losses.HUE_SEAM if space == "hsv" else None)
        return Arm(arm, "unet", dict(head=head, num_bins=len(self.bins) if classify else None,
                                     width=self.cfg.width, output_stride=self.output_stride),
                   learning_rate=self.learning_rate, space=space,
                   weights=weights if classify else None, config=description)

    def config(self, arm: str, head: str, space: str = "lab", lam: float | None = None) -> dict:
        """Everything that defines a run of the study (what ``train.fit`` compares)."""
        return self.study.run_config(self.arm(arm, head, space, lam=lam))

    def train(self, arm: str, head: str, seed: int, val_ds=None, *, space: str = "lab",
              weights=None, lam: float | None = None) -> Trained:
        """Train (or load, if finished) one arm and seed (:meth:`arm`, :meth:`Study.train`)."""
        return self.study.train(self.arm(arm, head, space, weights, lam), seed, val_ds=val_ds)


def classification_arm_name(lam: float | None) -> str:
    """``classification`` (``lam`` 1 or None) or ``classification_lam<lam>``: the arm name of
    a classifier of chapters 02-03 rebalanced with ``lam``."""
    return "classification" if lam in (None, 1, 1.0) else f"classification_lam{lam:g}"


def training_prior(cfg: settings.Settings, bins, **kwargs):
    """The empirical ab prior of the training split (:func:`colorutils.quantize.empirical_prior`
    with ``kwargs``), counted on the stored photos in order, so every chapter gets the same."""
    ds = data.load(cfg.dataset, "train", cfg.image_size, 256, limit=cfg.train_images,
                   shuffle=False, augment=False)
    return quantize.empirical_prior(ds, bins, **kwargs)


def train_best(cfg: settings.Settings, seed: int = 0, *, val_ds=None, prior=None,
               verbose: int = 1, mixed_precision: bool = False,
               lam: float = BEST_LAMBDA) -> Trained:
    """Train (or load) the book's best colorizer, chapters 02-03's classifier rebalanced with
    ``lam`` by the training ``prior`` (default: counted here); with ``cfg`` resolved from
    :data:`CLASSIFICATION_PRESETS` it is chapter 03's run."""
    bins = quantize.ab_bins()
    if prior is None:
        prior = training_prior(cfg, bins)
    study = ClassificationStudy(cfg, bins, run_eagerly=cfg.scale == "smoke", verbose=verbose,
                                mixed_precision=mixed_precision)
    return study.train(classification_arm_name(lam), "classification", seed, val_ds,
                       weights=quantize.rebalance_weights(prior, lam), lam=lam)


#: The recipes of ``colorutils train --recipe``.
_RECIPES = ("best", "photo")
#: The photo recipe (benchmarks/README.md): the best recipe on real photos; ``book`` (the
#: shipped model, ``make photo-model``) trains on caltech101's 6,567 training photos within
#: 45 minutes of 2 CPU cores (15 epochs: 25 cost 0.9 dB); ``full`` is the Colab GPU setting.
PHOTO_PRESETS = {
    "smoke": dict(image_size=32, batch_size=16, epochs=1, width=0.125, train_images=32,
                  eval_images=16, seeds=(0,)),
    "book": dict(image_size=64, batch_size=32, epochs=15, width=0.25, train_images=None,
                 eval_images=None, seeds=(0,)),
    "full": dict(image_size=224, batch_size=64, epochs=30, width=0.5, train_images=None,
                 eval_images=None, seeds=(0,)),
}
#: The photo recipe's lambda, chosen among 0.7, 0.8 and 0.9 on caltech101's validation split
#: by chapter 03's rule (:func:`colorutils.evaluation.choose_recipe`; benchmarks/README.md).
PHOTO_LAMBDA = 0.9
#: The temperatures the photo recipe tries on its validation split (:func:`choose_temperature`).
PHOTO_TEMPERATURES = (1.0, 0.58, 0.38, 0.25, 0.15)
_DATA_ERRORS = (ValueError, FileNotFoundError, KeyError)
#: What the command line advises for a run folder of another configuration.
_NEW_RUN = "Use another --run-dir, or delete that folder to train anew."
#: Training photos looked at for colour before a run trains (:func:`_warn_if_gray`).
_COLOUR_CHECK_IMAGES = 64


def _resolve(resolver, *args, **kwargs) -> settings.Settings:
    try:
        return resolver(*args, **kwargs)
    except ValueError as err:
        raise UserError(first_line(err)) from None


def _or_none(func, *args):
    """``func(*args)``, or None where the source lacks what it asks for (a data error)."""
    try:
        return func(*args)
    except _DATA_ERRORS:
        return None


def _model_arm(name: str, cfg: settings.Settings, *, head: str | None = None,
               lam: float = 1.0) -> Arm:
    """The :class:`Arm` of zoo model ``name`` at the settings' width: its ``head`` (default:
    classification where it has one; an image classifier gets the source's classes),
    rebalanced where ``lam < 1`` by the training split's prior."""
    if name not in models.BUILDERS:
        raise UserError(f"--model {name!r} is not a model of the zoo; use one of "
                        f"{', '.join(models.BUILDERS)}.")
    table = models.MODEL_HEADS[name]
    heads = table.colour
    if head is not None and head not in heads:
        has = f"only a {heads[0]} head" if heads else "no colorization head (a classifier)"
        raise UserError(f"--head {head}: {name} has {has}; drop --head or pick another model.")
    head = head or (heads[0] if heads else None)
    if lam != 1 and head != "classification":
        raise UserError(f"--lambda {lam:g} rebalances a classification head, and {name} "
                        f"{'has a ' + head + ' head' if head else 'is a classifier'}; drop "
                        "--lambda (or use --head classification).")
    kwargs: dict[str, Any] = {"width": cfg.width}
    if not heads:
        classes = _data_call(data.info, cfg.dataset, source=cfg.dataset).class_names
        if len(classes) < 2:
            raise UserError(f"--dataset {cfg.dataset!r} has {len(classes)} class; an image "
                            "classifier needs a labelled source (a class/file folder, cifar10, "
                            "sample).")
        kwargs["num_classes"] = len(classes)
    elif "classification" in heads:  # every builder with a classification head takes num_bins
        kwargs["num_bins"] = len(quantize.ab_bins()) if head == "classification" else None
    if table.chooses_by == "head":
        kwargs["head"] = head
    weights = None
    if head == "classification" and lam != 1:
        prior = _data_call(training_prior, cfg, quantize.ab_bins(), source=cfg.dataset)
        weights = quantize.rebalance_weights(prior, lam)
    arm_name = name + (f"_{head}" if head else "") + (f"_lam{lam:g}" if lam != 1 else "")
    return Arm(arm_name, name, kwargs, weights=weights)


def _data_call(func, *args, source: str, **kwargs):
    """``func(*args, **kwargs)``, a data error turned into a one-line :class:`UserError`."""
    try:
        return func(*args, **kwargs)
    except UserError:
        raise
    except RunConflictError as err:  # train.fit refusing the run folder
        raise UserError(str(RunConflictError(err.run_dir, err.diffs, _NEW_RUN))) from None
    except _DATA_ERRORS as err:
        raise UserError(f"--dataset {source!r}: {first_line(err)}") from None


def _run_name(cfg: settings.Settings, run_dir: str | None):
    """The study's run name: the folder given, or one that names what differs between runs."""
    if run_dir is not None:
        return lambda arm, seed: os.path.abspath(os.path.expanduser(run_dir))
    extra = f"_n{cfg.train_images}" if cfg.train_images else ""
    return lambda arm, seed: (f"train/{arm}_{cfg.image_size}px_w{cfg.width:g}{extra}"
                              f"/seed{seed}")


def _warn_if_gray(cfg: settings.Settings) -> None:
    """Warn on stderr when none of the first training photos has colour."""
    ds = data.load(cfg.dataset, "train", cfg.image_size, _COLOUR_CHECK_IMAGES, shuffle=False,
                   augment=False, limit=_COLOUR_CHECK_IMAGES)
    seen = colourful = 0
    for _, targets in ds:
        chroma = abs(targets["ab"].numpy()).max(axis=(1, 2, 3))
        seen += len(chroma)
        colourful += int((chroma > quantize.GRAY_THRESHOLD).sum())
    if seen and not colourful:
        print(f"warning: --dataset {cfg.dataset}: none of the first {seen} training photos has "
              f"colour (no pixel with |a| or |b| above {quantize.GRAY_THRESHOLD:g}); the model "
              "can only learn gray. Give colour photos.", file=sys.stderr, flush=True)


def _train(study: Study, arm: Arm, seed: int) -> Trained:
    """:meth:`Study.train`, a run folder of another configuration refused in words before any
    data is read."""
    run_dir = study.run_dir(arm, seed)
    if os.path.isfile(run_dir):
        raise UserError(f"--run-dir {run_dir!r} is a file; give a folder.")
    diffs = files.conflicts(run_dir, study.run_config(arm), seed)
    if diffs:
        raise UserError(str(RunConflictError(run_dir, diffs, _NEW_RUN)))
    if not files.is_finished(run_dir, study.cfg.epochs):
        _warn_if_gray(study.cfg)
    return study.train(arm, seed, val_ds=_or_none(study.dataset, arm, "validation", seed))


def train_model(dataset: str, model: str = "unet", *, scale: str = "book",
                head: str | None = None, lam: float = 1.0, seed: int = 0,
                run_dir: str | None = None, run_root: str | None = None,
                mixed_precision: bool = False, verbose: int = 1,
                **knobs) -> Trained:
    """Train (or continue, or load) zoo model ``model`` on ``dataset`` (a source of
    :func:`colorutils.data.load`); ``head`` and ``lam``: :func:`_model_arm`; ``knobs``
    (``epochs``, ``width``, ...) override the presets of ``scale``.  The run folder, unless
    ``run_dir``: ``train/<model>_<head>_<size>px_w<width>[_n<images>]/seed<k>`` under the
    settings' root.  Input errors raise :class:`colorutils.errors.UserError`."""
    dataset = _data_call(data.canonical_source, dataset, source=dataset)  # a folder: its path
    cfg = _resolve(settings.resolve, scale, dataset, run_root=run_root, **knobs)
    arm = _model_arm(model, cfg, head=head, lam=lam)
    study = Study(cfg, run_name=_run_name(cfg, run_dir), verbose=verbose,
                  config={"command": "colorutils train", "lambda": lam},
                  mixed_precision=mixed_precision,
                  run_eagerly=cfg.scale == "smoke")  # a few steps: tracing costs more
    return _data_call(_train, study, arm, seed, source=dataset)


def _split_sizes(source: str) -> dict | None:
    return _or_none(lambda: dict(data.info(source).split_sizes))


def _speed(run: Trained, cfg: settings.Settings) -> dict:
    """Epochs, images per epoch and training images/s of the run (training steps only, the
    first epoch's tracing included, so short runs understate the steady rate)."""
    history = run.history
    epochs = len(history.get("epoch", []))
    steps = [t if t is not None else s for t, s in
             zip(history.get("train_seconds") or [None] * epochs, history.get("seconds", []),
                 strict=False)]
    seconds = float(sum(t for t in steps if t is not None))
    n = (_split_sizes(cfg.dataset) or {}).get("train")
    per_epoch = cfg.train_images if n is None else (
        min(n, cfg.train_images) if cfg.train_images else n)
    rate = per_epoch * epochs / seconds if per_epoch and seconds > 0 else None
    return dict(epochs=epochs, images_per_epoch=per_epoch, train_seconds=round(seconds, 3),
                epoch_seconds=round(float(run.metrics.get("train_seconds_total") or 0.0), 3),
                images_per_s=None if rate is None else round(rate, 2),
                precision=run.metrics.get("precision"), device=run.metrics.get("strategy"))


def best_recipe(dataset: str, *, recipe: str = "best", scale: str = "full", seed: int = 0,
                run_root: str | None = None, mixed_precision: bool = True, verbose: int = 1,
                **knobs) -> dict:
    """Train (or load) the book's best colorizer on ``dataset`` and report on it (epochs,
    images/s, :func:`colorutils.evaluation.quality_figures` on the test split, the goal; also
    written as ``report.json`` in the run folder).  ``recipe="best"``:
    :data:`CLASSIFICATION_PRESETS` decoded at :data:`BEST_TEMPERATURE`; ``"photo"``:
    :data:`PHOTO_PRESETS`, :data:`PHOTO_LAMBDA` and :func:`choose_temperature`."""
    start = time.time()
    if recipe not in _RECIPES:
        raise UserError(f"--recipe {recipe!r} is not a recipe; use one of {', '.join(_RECIPES)}.")
    presets = PHOTO_PRESETS if recipe == "photo" else CLASSIFICATION_PRESETS
    dataset = _data_call(data.canonical_source, dataset, source=dataset)
    cfg = _resolve(settings.resolve_chapter, scale, presets, dataset=dataset,
                   run_root=run_root, **knobs)

    def split(name: str, batch_size: int):
        return data.load(cfg.dataset, name, cfg.image_size, batch_size, limit=cfg.eval_images)

    # The validation split picks the best epoch, as in chapter 03 (None: the training loss).
    val_ds = _or_none(split, "validation", cfg.batch_size)
    lam = PHOTO_LAMBDA if recipe == "photo" else BEST_LAMBDA
    run = _data_call(train_best, cfg, seed, val_ds=val_ds, verbose=verbose, lam=lam,
                     mixed_precision=mixed_precision, source=dataset)
    temperature, sweep = BEST_TEMPERATURE, None
    if recipe == "photo" and val_ds is not None:
        temperature, sweep = choose_temperature(run.model, *data.to_arrays(val_ds)[:2])
    l_test, ab_test = _data_call(lambda: data.to_arrays(split("test", 64))[:2], source=dataset)
    figures = evaluation.quality_figures(run.model, l_test, ab_test, temperature=temperature,
                                         smooth_sigma=BEST_SMOOTH_SIGMA)
    goal = figures.pop("goal")
    report = dict(recipe=recipe, dataset=cfg.dataset, scale=cfg.scale, seed=seed,
                  image_size=cfg.image_size, width=cfg.width, run_dir=run.run_dir,
                  trained_now=not run.loaded, **_speed(run, cfg), test_images=len(l_test),
                  split_sizes=_split_sizes(cfg.dataset),
                  decoding=dict(temperature=temperature, smooth_sigma=BEST_SMOOTH_SIGMA),
                  rebalancing_lambda=lam, quality=figures,
                  goal={**goal.as_dict(), "sentence": goal.sentence()},
                  validation_temperatures=sweep, seconds_total=round(time.time() - start, 1))
    report["report_path"] = os.path.join(run.run_dir, files.REPORT_FILE)
    files.write_json_atomic(report["report_path"], report)
    return report


def choose_temperature(model, l_norm, ab_true, temperatures=PHOTO_TEMPERATURES):
    """The decoding temperature of ``model`` on held-out photos that meets the most parts of
    the quality goal (:func:`colorutils.evaluation.quality_figures`), then has the highest
    PSNR; and the sweep: ``temperature, colorfulness_ratio, psnr, auc, gray_psnr, gray_auc,
    goals_met`` per temperature."""
    sweep = []
    for t in temperatures:
        figures = evaluation.quality_figures(model, l_norm, ab_true, temperature=t,
                                             smooth_sigma=BEST_SMOOTH_SIGMA)
        m, g = figures["model"], figures["gray"]
        sweep.append(dict(temperature=t, colorfulness_ratio=round(m["colorfulness_ratio"], 4),
                          psnr=round(m["psnr"], 4), auc=round(m["auc"], 4),
                          gray_psnr=round(g["psnr"], 4), gray_auc=round(g["auc"], 4),
                          goals_met=sum(figures["goal"].met.values())))
    best = max(sweep, key=lambda row: (row["goals_met"], row["psnr"]))
    return best["temperature"], sweep


def _git_commit() -> str | None:
    """The commit of the checkout this package runs from (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)), timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def export_colorizer(report: dict, path: str, *, credit: str | None = None) -> dict:
    """Write the model of a :func:`best_recipe` report as a ``.keras`` file without optimizer
    state, and its sidecar ``<name>.json`` (how to decode it, its provenance); returns the
    sidecar."""
    if not str(path).endswith(".keras"):
        raise UserError(f"--export {path!r} must name a .keras file (e.g. photo_unet.keras).")
    model = train.load_model(os.path.join(report["run_dir"], "best.keras"), compile=False)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.save_model_atomic(model, str(path))
    files.make_portable(path)  # loadable by older Keras 3 releases too (Colab's)
    keep = ("recipe", "dataset", "scale", "seed", "width", "epochs", "images_per_epoch",
            "train_seconds", "images_per_s", "precision", "device", "test_images",
            "split_sizes", "quality", "goal", "validation_temperatures")
    provenance = {k: report.get(k) for k in keep}
    kind, _, where = str(report["dataset"]).partition(":")
    if kind == "folder":  # the folder's name, not a path of the machine it was trained on
        provenance["dataset"] = f"folder:{os.path.basename(os.path.normpath(where))}"
    parts = ", ".join(f"{k} {lo}-{hi - 1}" for k, (lo, hi) in data.DERIVED_SPLIT_PERCENT.items())
    provenance.update(split_rule=f"md5 of each file's class/name, modulo 100: {parts} "
                      "(colorutils.data.list_folder)", credit=credit, commit=_git_commit(),
                      date=time.strftime("%Y-%m-%d", time.gmtime()),
                      parameters=int(model.count_params()))
    sidecar = dict(image_size=report["image_size"], head="classification", space="lab",
                   grid_size=quantize.GRID_SIZE, temperature=report["decoding"]["temperature"],
                   smooth_sigma=report["decoding"]["smooth_sigma"],
                   **{"lambda": report["rebalancing_lambda"]}, provenance=provenance)
    files.write_json_atomic(f"{path[:-len('.keras')]}.json", sidecar)
    return sidecar


def _figure(value, digits: int) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def report_lines(report: dict) -> list[str]:
    """The few lines ``colorutils train --recipe`` prints about a :func:`best_recipe` run."""
    q, rate = report["quality"], report.get("images_per_s")
    speed = f"{rate:,.1f} training images/s" if rate else "training speed unknown"
    how = "trained" if report.get("trained_now") else "loaded (finished earlier)"
    epochs = f"{report['epochs']} epoch{'s' if report['epochs'] != 1 else ''}"
    return [f"{report.get('recipe', 'best')} recipe, {report['dataset']} at "
            f"{report['scale']} scale: {how}, {epochs} of "
            f"{report.get('images_per_epoch') or '?'} images at {report['image_size']} px, "
            f"{speed} ({report.get('precision')}, {report.get('device')})",
            f"quality on {report['test_images']} test images (model | gray): "
            f"PSNR {_figure(q['model']['psnr'], 2)} | {_figure(q['gray']['psnr'], 2)} dB, "
            f"AuC {_figure(q['model']['auc'], 3)} | {_figure(q['gray']['auc'], 3)}, "
            f"colourfulness ratio {_figure(q['model']['colorfulness_ratio'], 2)} | "
            f"{_figure(q['gray']['colorfulness_ratio'], 2)}",
            f"goal: {report['goal']['sentence']}",
            f"report: {report['report_path']} ({report['seconds_total']:.0f} s in all)"]
