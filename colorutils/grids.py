"""Experiment grids: the grid file, its runs, and the notebook's side of the metrics contract.

A **grid file** (YAML, in ``experiments/``) names one notebook, the parameters every run shares
and the parameters to vary; the runs are the Cartesian product of the ``grid`` lists::

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

Each run lives in ``runs/<grid>/<run-id>/`` (the notebook as executed, ``parameters.json``,
``metrics.json``, ``log.txt``, ``status.json``); :mod:`colorutils.experiments` executes them
and :mod:`colorutils.results` aggregates them.

**The metrics contract.**  The runner always injects one more parameter, ``metrics_path``
(the run folder's ``metrics.json``), so the notebook's parameters cell must declare
``metrics_path = None``.  At its end the notebook writes a flat JSON object of numbers there
with :func:`write_notebook_metrics` (a no-op when ``metrics_path`` is None, as in the book
build).  A run is *complete* when papermill exits successfully and ``metrics.json`` exists.

Parameters are validated before anything starts: every name must be assigned in the
notebook's ``parameters`` cell (read with :mod:`ast`, nothing is executed), and ``scale`` must
be a known scale.

Examples
--------
>>> run_id_for({"alpha": 0.003, "seeds": [1]})
'alpha=0.003__seeds=1'
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import itertools
import json
import math
import os
import pathlib
import re
from typing import Any, Mapping

import yaml

from colorutils import runs
from colorutils.errors import UserError
from colorutils.settings import SCALES

__all__ = ["METRICS_PARAMETER", "REPLICATE_NAMES", "GRID_KEYS", "STATUS_FILE",
           "write_notebook_metrics", "notebook_parameters", "Run", "Grid", "run_id_for", "load_grid"]

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
                        "(see colorutils.grids for the format).")
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
