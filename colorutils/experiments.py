"""Experiment grids: a chapter run many times with papermill, and what the runs measured.

The module has three sections, in the order a grid lives through them:

**Grid files.**  A grid file (YAML, in ``experiments/``) names one notebook, the parameters
every run shares and the parameters to vary; the runs are the Cartesian product of the
``grid`` lists::

    notebook: notebooks/07_interplay.ipynb   # relative to the grid file's folder or the cwd
    description: Does colorization help classification?
    parameters:                              # the same for every run
      scale: book
      dataset: sample
    grid:                                    # one run per combination
      alpha: [0.0, 0.003]
      seeds: [[0], [1], [2]]
    summary:                                 # optional: what the results page shows
      metrics: [joint.top1.mean, gray.top1.mean]
      replicate: [seeds]                     # averaged over (default: seed / seeds)
    timeout_per_cell: 3600                   # optional, seconds (papermill's execution timeout)

Parameters are validated before anything starts: every name must be assigned in the
notebook's ``parameters`` cell (read with :mod:`ast`, nothing is executed), and ``scale`` must
be a known scale.

**The metrics contract.**  The runner always injects one more parameter, ``metrics_path``
(the run folder's ``metrics.json``), so the notebook's parameters cell must declare
``metrics_path = None``.  At its end the notebook writes a flat JSON object of numbers there
with :func:`write_notebook_metrics` (a no-op when ``metrics_path`` is None, as in the book
build).  A run is *complete* when papermill exits successfully and ``metrics.json`` exists.

**Running a grid** (``colorutils experiments run GRID.yml``, ``make experiments``).  Every run
executes in its own ``python -m papermill`` subprocess (kernel ``python3``), so a crash or a
memory leak in one run cannot take the others down, into ``runs/<grid>/<run-id>/``::

    <notebook>.ipynb    the executed notebook (on failure: up to the failing cell, marked)
    parameters.json     the parameters injected into it
    metrics.json        what the notebook measured (:func:`write_notebook_metrics`)
    log.txt             papermill's log: every cell's output, and the traceback of a failure
    status.json         complete / failed, duration, error line

Complete runs are skipped by later invocations (unless their parameters changed), failed runs
are reported and skipped until ``--retry-failed``.

**Results.**  After a grid has run, :func:`aggregate` writes into ``runs/<grid>/`` a
``summary.csv`` (one row per run: status, seconds, the varied parameters, every metric), a
``summary.md`` (:func:`grid_summary_table`: the replicate runs, e.g. seeds, pooled as
``mean ± std``) and a ``summary.png`` (:func:`plot_summary`); :func:`write_results_page` turns
every grid into the book's results page (``book/results.md``).  Nothing is retrained: these
functions only read run folders.

Examples
--------
>>> run_id_for({"alpha": 0.003, "seeds": [1]})
'alpha=0.003__seeds=1'
"""

from __future__ import annotations

import ast
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
from typing import Any, Iterable, Mapping

import yaml

from colorutils import progress as progress_bars
from colorutils import runs, stats, tables
from colorutils.errors import UserError
from colorutils.settings import SCALES

__all__ = ["RunResult", "execute_run", "run_grid", "experiments_command", "Grid", "Run",
           "load_grid", "notebook_parameters", "run_id_for", "write_notebook_metrics",
           "aggregate", "write_results_page", "METRICS_PARAMETER", "REPLICATE_NAMES", "GRID_KEYS",
           "STATUS_FILE", "RESULTS_STATIC", "collect", "metric_names", "MAX_METRIC_COLUMNS", "metric_header", "grid_summary_table",
           "plot_summary", "RESULTS_INTRO"]


# --------------------------------------------------------------------------- grid files

METRICS_PARAMETER = "metrics_path"
REPLICATE_NAMES = ("seed", "seeds")
GRID_KEYS = {"notebook", "description", "parameters", "grid", "summary", "timeout_per_cell"}
STATUS_FILE = "status.json"


# --------------------------------------------------------------------------- notebook side


def write_notebook_metrics(metrics_path: str | None, metrics: Mapping[str, Any]) -> dict | None:
    """Write a notebook's measurements for the experiment runner (atomically).

    Call it in the last cell of a chapter: ``write_notebook_metrics(metrics_path, {...})``.  Does
    nothing when ``metrics_path`` is None (a normal, non-grid run).  Values must be numbers
    (or None); nested dicts are flattened with dots (``{"a": {"psnr": 1}}`` -> ``a.psnr``).

    Raises
    ------
    ValueError
        If a value is not a number, naming its key.
    """
    if metrics_path is None:
        return None
    flat: dict[str, float | None] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit(f"{prefix}.{k}" if prefix else str(k), v)
            return
        if value is None:
            flat[prefix] = None
            return
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"metric {prefix!r}={value!r} is not a number; metrics.json "
                             "holds numbers only (put text in the notebook).") from None
        flat[prefix] = number if math.isfinite(number) else None

    visit("", metrics)
    os.makedirs(os.path.dirname(os.path.abspath(metrics_path)), exist_ok=True)
    runs.write_json_atomic(metrics_path, flat)
    return flat


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The names assigned in the notebook's ``parameters`` cell, with their default values.

    The cell is parsed with :mod:`ast`, not executed; a default that is not a literal (e.g.
    ``os.environ.get(...)``) is reported as its source text.

    Raises
    ------
    UserError
        If the notebook cannot be read or has no cell tagged ``parameters``.
    """
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
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            for name in ([target] if isinstance(target, ast.Name) else
                         [t for t in getattr(target, "elts", []) if isinstance(t, ast.Name)]):
                try:
                    params[name.id] = ast.literal_eval(value)
                except ValueError:
                    params[name.id] = ast.get_source_segment(source, value)
    return params


# --------------------------------------------------------------------------- grid files


@dataclasses.dataclass
class Run:
    """One combination of a grid: its id, parameters and folder."""

    grid: str
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
        info = runs.read_json(self.run_dir / STATUS_FILE)
        if info is None:
            return "pending"
        if runs.read_json(self.run_dir / "parameters.json") != _jsonable(self.parameters):
            return "stale"
        if info.get("status") == "complete" and self.metrics_file.exists():
            return "complete"
        if info.get("status") in ("failed", "complete"):
            return "failed"
        return "pending"  # "running": the process died; run again


@dataclasses.dataclass
class Grid:
    """A parsed, validated grid file."""

    name: str
    path: pathlib.Path
    notebook: pathlib.Path
    description: str
    fixed: dict
    varied: dict
    summary: dict
    timeout_per_cell: float | None
    runs: list[Run]
    root: pathlib.Path

    @property
    def summary_csv(self) -> pathlib.Path:
        return self.root / "summary.csv"

    @property
    def summary_png(self) -> pathlib.Path:
        return self.root / "summary.png"


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True))


def _slug(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    text = re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-")
    return text or "x"


def run_id_for(varied: Mapping[str, Any]) -> str:
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
    unknown = set(spec) - GRID_KEYS
    if unknown:
        raise UserError(f"grid file {path}: unknown key(s) {', '.join(sorted(unknown))}; "
                        f"allowed: {', '.join(sorted(GRID_KEYS))}.")
    return spec


def _fixed_and_varied(spec: dict, path: pathlib.Path) -> tuple[dict, dict]:
    """``parameters`` (the same for every run) and ``grid`` (lists of values to combine)."""
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
    return fixed, varied


def _check_parameters(path: pathlib.Path, notebook: pathlib.Path, fixed: dict,
                      varied: dict) -> None:
    """Every name must be assigned in the notebook's parameters cell; ``scale`` known."""
    known = notebook_parameters(notebook)
    if METRICS_PARAMETER not in known:
        raise UserError(f"{notebook}: the parameters cell must declare "
                        f"`{METRICS_PARAMETER} = None` (the runner sets it to the run's "
                        "metrics.json, which the notebook writes with "
                        "colorutils.experiments.write_notebook_metrics).")
    for key in [*fixed, *varied]:
        if key == METRICS_PARAMETER:
            raise UserError(f"grid file {path}: {METRICS_PARAMETER} is set by the runner; "
                            "remove it from the grid.")
        if key not in known:
            raise UserError(
                f"grid file {path}: unknown parameter {key!r} for {notebook.name}; its "
                f"parameters cell assigns: {', '.join(sorted(known))}.")
    for scale in ([fixed["scale"]] if "scale" in fixed else []) + varied.get("scale", []):
        if scale not in SCALES:
            raise UserError(f"grid file {path}: scale={scale!r} is not a known scale; use "
                            f"one of {', '.join(SCALES)}.")


def _check_timeout(spec: dict, path: pathlib.Path) -> float | None:
    timeout = spec.get("timeout_per_cell")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise UserError(f"grid file {path}: timeout_per_cell={timeout!r} must be positive "
                        "seconds.")
    return timeout


def _runs(path: pathlib.Path, notebook: pathlib.Path, fixed: dict, varied: dict,
          root: pathlib.Path) -> list[Run]:
    """One :class:`Run` per combination of the ``grid`` lists (their Cartesian product)."""
    keys = list(varied)
    found = []
    for combo in itertools.product(*(varied[k] for k in keys)):
        values = dict(zip(keys, combo, strict=True))
        rid = run_id_for(values)
        found.append(Run(grid=root.name, run_id=rid, notebook=notebook,
                        parameters={**fixed, **values}, run_dir=root / rid))
    ids = [r.run_id for r in found]
    if len(set(ids)) != len(ids):
        raise UserError(f"grid file {path}: two combinations give the same run id; make the "
                        "grid values distinct.")
    return found


def load_grid(path: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Grid:
    """Read and validate a grid file; nothing runs.

    Raises
    ------
    UserError
        For a missing or malformed file, an unknown key, a ``grid`` entry that is not a
        non-empty list, a parameter the notebook's ``parameters`` cell does not assign, a
        notebook without ``metrics_path``, or an unknown ``scale``.
    """
    path = pathlib.Path(path)
    spec = _read_spec(path)
    notebook = _resolve_notebook(str(spec["notebook"]), path)
    fixed, varied = _fixed_and_varied(spec, path)
    _check_parameters(path, notebook, fixed, varied)
    timeout = _check_timeout(spec, path)
    if path.stem in SCALES:
        raise UserError(f"grid file {path}: rename it; {path.stem!r} is the name of a scale, "
                        "whose training folders share the runs folder.")
    root = pathlib.Path(runs_dir) / path.stem
    return Grid(name=path.stem, path=path, notebook=notebook,
                description=str(spec.get("description") or "").strip(), fixed=fixed,
                varied=varied, summary=dict(spec.get("summary") or {}),
                timeout_per_cell=timeout, runs=_runs(path, notebook, fixed, varied, root),
                root=root)


# --------------------------------------------------------------------------- results

RESULTS_STATIC = "_static/results"


# --------------------------------------------------------------------------- aggregation


def collect(grid: Grid) -> list[dict]:
    """One row per run: run id, status, seconds, the varied parameters, every metric."""
    rows = []
    for run in grid.runs:
        info = runs.read_json(run.run_dir / STATUS_FILE) or {}
        row: dict[str, Any] = {"run_id": run.run_id, "status": run.status(),
                               "seconds": info.get("seconds")}
        for key in grid.varied:
            value = run.parameters[key]
            row[key] = value if not isinstance(value, (list, dict)) else json.dumps(value)
        if row["status"] == "complete":
            row.update(runs.read_json(run.metrics_file) or {})
        rows.append(row)
    return rows


def metric_names(grid: Grid, rows: list[dict]) -> list[str]:
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


def _groups(grid: Grid, rows: list[dict]) -> dict[str, list[dict]]:
    replicate = grid.summary.get("replicate")
    if replicate is None:
        replicate = [k for k in grid.varied if k in REPLICATE_NAMES]
    keys = [k for k in grid.varied if k not in replicate and len(grid.varied[k]) > 1]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        label = ", ".join(f"{k}={row[k]}" for k in keys) or "all runs"
        groups.setdefault(label, []).append(row)
    return groups


def _cell(values: list[float], digits: int) -> str:
    """``mean ± std`` of a group's runs (``digits`` significant digits), the mean of one run."""
    if not values:
        return ""
    s = stats.summarize(values)
    return f"{s.mean:.{digits}g} ± {s.std:.2g}" if s.has_spread else f"{s.mean:.{digits}g}"


#: Metric columns per table: with the run label and the count of complete runs, more would
#: not fit the book's 704 px text column (a longer list is split into several tables).
MAX_METRIC_COLUMNS = 4
_WORDS = {"auc": "AuC", "psnr": "PSNR (dB)", "ssim": "SSIM", "acc": "accuracy", "std": "(std)"}


def metric_header(name: str) -> str:
    """A column header a reader can read for a metric key: ``color.auc.mean`` -> ``color AuC``,
    ``joint.semantic_acc.mean`` -> ``joint semantic accuracy`` (words wrap; dots do not)."""
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "mean":
        parts = parts[:-1]
    words = [w for part in parts for w in part.split("_") if w]
    return " ".join(_WORDS.get(w, w) for w in words) or name


def grid_summary_table(grid: Grid, rows: list[dict] | None = None, digits: int = 3) -> str:
    """Markdown: one row per group of runs (the replicate parameters, e.g. seeds, averaged),
    ``mean ± std`` per metric (a :class:`colorutils.tables.Table`); at most
    :data:`MAX_METRIC_COLUMNS` metrics per table, so that each fits the text column."""
    rows = collect(grid) if rows is None else rows
    names = metric_names(grid, rows)
    table_rows = []
    for label, members in _groups(grid, rows).items():
        done = [r for r in members if r["status"] == "complete"]
        table_rows.append({"runs": label, "complete": f"{len(done)}/{len(members)}", **{
            name: _cell([float(r[name]) for r in done if isinstance(r.get(name), (int, float))],
                        digits) for name in names}})
    chunks = [names[i:i + MAX_METRIC_COLUMNS]
              for i in range(0, len(names), MAX_METRIC_COLUMNS)] or [[]]
    return "\n\n".join(
        tables.Table(table_rows, {"runs": "runs", "complete": "complete",
                                  **{n: metric_header(n) for n in chunk}}).to_markdown()
        for chunk in chunks)


def aggregate(grid: Grid) -> list[dict]:
    """Write ``summary.csv`` and ``summary.png`` (and ``summary.md``) into ``runs/<grid>/``."""
    rows = collect(grid)
    grid.root.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    tmp = grid.summary_csv.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, grid.summary_csv)
    (grid.root / "summary.md").write_text(grid_summary_table(grid, rows) + "\n")
    plot_summary(grid, rows)
    return rows


def plot_summary(grid: Grid, rows: list[dict] | None = None, max_metrics: int = 6):
    """One panel per metric: each complete run is a dot in its group's column, the group mean
    a black bar.  Saved as ``summary.png``; returns the figure (None if nothing finished)."""
    # Imported here, not at the top: the Agg backend must be chosen before pyplot loads, and
    # only when a figure is drawn (a notebook that imports this module keeps its own backend).
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = collect(grid) if rows is None else rows
    names = [n for n in metric_names(grid, rows)
             if any(isinstance(r.get(n), (int, float)) for r in rows)][:max_metrics]
    if not names:
        return None
    groups = _groups(grid, rows)
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for i, members in enumerate(groups.values()):
            vals = [float(r[name]) for r in members
                    if r["status"] == "complete" and isinstance(r.get(name), (int, float))]
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
    fig.savefig(grid.summary_png, dpi=110)
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------- results page


RESULTS_INTRO = """\
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


def write_results_page(grid_paths: Iterable[str | os.PathLike], runs_dir="runs",
                       out="book/results.md") -> str:
    """Write the book's results page: the fixed introduction, then per grid its description,
    the aggregated table (:func:`grid_summary_table`) and figure, or a note that it has not run.

    Figures are copied to ``book/_static/results/<grid>.png`` so that the book needs nothing
    outside ``book/``.  Returns the page text.
    """
    repo = "https://github.com/colorization-book/colorization-book"
    try:
        config = yaml.safe_load((pathlib.Path(__file__).parents[1] / "_config.yml").read_text())
        repo = config["repository"]["url"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        pass
    out = pathlib.Path(out)
    static = out.parent / RESULTS_STATIC
    parts = [RESULTS_INTRO.replace("{repo}", repo)]
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
        rows = collect(grid)
        done = sum(r["status"] == "complete" for r in rows)
        if not done:
            parts.append(f"*Not run yet* in `{grid.root}`: run "
                         f"`colorutils experiments run experiments/{gp.name}`.\n")
            continue
        when = max((runs.read_json(r.run_dir / STATUS_FILE) or {}).get("started", "")
                   for r in grid.runs)
        parts.append(f"{done} of {len(rows)} run(s) complete (latest started {when}). Each "
                     "row pools the replicate runs (seeds): mean ± standard deviation over its "
                     "runs; a row of one run shows that run's value alone.\n")
        parts.append(grid_summary_table(grid, rows) + "\n")
        plot_summary(grid, rows)
        if grid.summary_png.exists():
            static.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(grid.summary_png, static / f"{grid.name}.png")
            parts.append(f"```{{figure}} {RESULTS_STATIC}/{grid.name}.png\n:name: "
                         f"results-{grid.name}\n:alt: One small dot plot per metric of grid "
                         f"{grid.name}, each with a column of dots per group of runs and a bar "
                         "at their mean.\n\nGrid "
                         f"`{grid.name}`: every metric per run (dots) and the mean of each "
                         "group of runs (black bar).\n```\n")
    text = "\n".join(parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


# --------------------------------------------------------------------------- running a grid


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
