"""Results of the experiment grids: per-grid summaries and the book's results page.

After a grid has run (:mod:`colorutils.experiments`), :func:`aggregate` writes into
``runs/<grid>/`` a ``summary.csv`` (one row per run: status, seconds, the varied parameters,
every metric), a ``summary.md`` (:func:`grid_summary_table`: the replicate runs, e.g. seeds, pooled
as ``mean ± std``) and a ``summary.png`` (:func:`plot_summary`); :func:`write_results_page`
turns every grid into the book's results page (``book/results.md``).  Nothing is retrained:
these functions only read run folders.
"""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib
import shutil
from typing import Any, Iterable

import yaml

from colorutils import runs, stats, tables
from colorutils.grids import REPLICATE_NAMES, STATUS_FILE, Grid, load_grid

__all__ = ["RESULTS_STATIC", "collect", "metric_names", "grid_summary_table", "aggregate",
           "plot_summary", "RESULTS_INTRO", "write_results_page"]

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


def grid_summary_table(grid: Grid, rows: list[dict] | None = None, digits: int = 3) -> str:
    """Markdown: one row per group of runs (the replicate parameters, e.g. seeds, averaged),
    ``mean ± std`` per metric (a :class:`colorutils.tables.Table`)."""
    rows = collect(grid) if rows is None else rows
    names = metric_names(grid, rows)
    table_rows = []
    for label, members in _groups(grid, rows).items():
        done = [r for r in members if r["status"] == "complete"]
        table_rows.append({"runs": label, "complete": f"{len(done)}/{len(members)}", **{
            name: _cell([float(r[name]) for r in done if isinstance(r.get(name), (int, float))],
                        digits) for name in names}})
    return tables.Table(table_rows, ["runs", "complete", *names]).to_markdown()


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
run folders under `runs/`; edit the text in `colorutils/results.py`, not here.

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
                     "row pools the replicate runs (seeds): mean ± standard deviation.\n")
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
