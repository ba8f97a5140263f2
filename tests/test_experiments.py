"""colorutils.experiments: papermill grids run, skip what is done, refuse bad grids, isolate failures."""

from __future__ import annotations

import csv
import json
import pathlib
import shutil

import pytest

pytest.importorskip("papermill")

from colorutils import cli, experiments  # noqa: E402
from colorutils.errors import UserError  # noqa: E402

PROBE = pathlib.Path(__file__).parent / "notebooks" / "experiment_probe.ipynb"
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _grid(tmp_path, name="probe", **spec) -> pathlib.Path:
    import yaml

    shutil.copy(PROBE, tmp_path / PROBE.name)
    spec = {"notebook": PROBE.name, "parameters": {"scale": "smoke"}, **spec}
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_notebook_parameters_are_read_without_running_it():
    params = experiments._notebook_parameters(PROBE)
    assert params["x"] == 1.0 and params["fail"] is False and params["metrics_path"] is None
    assert params["scale"].startswith("os.environ.get")  # not a literal: its source text


@pytest.mark.slow
def test_two_run_grid_completes_then_is_skipped(tmp_path, capsys):
    grid_file = _grid(tmp_path, grid={"x": [1.0, 3.0]})
    runs = tmp_path / "runs"
    code, out = _run(["experiments", "run", str(grid_file), "--runs-dir", str(runs)], capsys)
    assert code == 0, out
    root = runs / "probe"
    for rid, x in (("x=1.0", 1.0), ("x=3.0", 3.0)):
        run = root / rid
        assert json.loads((run / "parameters.json").read_text()) == {"scale": "smoke", "x": x}
        assert json.loads((run / "metrics.json").read_text())["square"] == x * x
        assert json.loads((run / "status.json").read_text())["status"] == "complete"
        executed = json.loads((run / PROBE.name).read_text())
        assert any("injected-parameters" in c["metadata"].get("tags", [])
                   for c in executed["cells"]), "papermill did not inject the parameters"
        assert f"probe: scale=smoke x={x}" in (run / "log.txt").read_text()
    rows = list(csv.DictReader((root / "summary.csv").open()))
    assert [(r["run_id"], float(r["square"])) for r in rows] == [("x=1.0", 1.0), ("x=3.0", 9.0)]
    assert (root / "summary.png").stat().st_size > 5000
    assert "| x=3.0 | 1/1 |" in (root / "summary.md").read_text()

    mtime = (root / "x=1.0" / "metrics.json").stat().st_mtime
    code, out = _run(["experiments", "run", str(grid_file), "--runs-dir", str(runs)], capsys)
    assert code == 0 and "0 to run, 2 complete" in out, out
    assert (root / "x=1.0" / "metrics.json").stat().st_mtime == mtime

    # Changing a shared parameter makes the old runs stale: they would run again.
    stale = experiments.load_grid(_grid(tmp_path, grid={"x": [1.0, 3.0]},
                                        parameters={"scale": "book"}), runs)
    assert [r.status() for r in stale.runs] == ["stale", "stale"]
    _grid(tmp_path, grid={"x": [1.0, 3.0]})  # back to the grid that ran

    # The results page picks the grid up, with its table and figure.
    page = tmp_path / "book" / "results.md"
    experiments._write_results_page([grid_file], runs, page)
    text = page.read_text()
    assert "## Grid `probe`" in text and "| x=1.0 | 1/1 | " in text
    assert (page.parent / "_static" / "results" / "probe.png").exists()
    assert "Colab" in text


def test_unknown_parameter_is_refused_before_any_run(tmp_path, capsys):
    grid_file = _grid(tmp_path, grid={"x": [1.0, 2.0], "learning_rate": [0.1]})
    runs = tmp_path / "runs"
    code, out = _run(["experiments", "run", str(grid_file), "--runs-dir", str(runs)], capsys)
    assert code == 2
    assert "unknown parameter 'learning_rate'" in out and "metrics_path" in out
    assert len(out.strip().splitlines()) == 1, "a user error is one line"
    assert not runs.exists(), "nothing may start when the grid is invalid"


@pytest.mark.parametrize("spec, message", [
    ({"parameters": {"scale": "huge"}}, "smoke, book, colab, full"),
    ({"grid": {"x": 2.0}}, "must be a non-empty list"),
    ({"grid": {"metrics_path": ["a"]}}, "set by the runner"),
    ({"notebook": "missing.ipynb"}, "not found"),
    ({"seeds": [1]}, "unknown key"),
])
def test_bad_grids_are_refused_with_the_fix(tmp_path, spec, message):
    with pytest.raises(UserError, match=message):
        experiments.load_grid(_grid(tmp_path, **spec), tmp_path / "runs")


def test_notebook_without_metrics_path_is_refused(tmp_path):
    nb = json.loads(PROBE.read_text())
    for cell in nb["cells"]:
        if "parameters" in cell["metadata"].get("tags", []):
            cell["source"] = [s for s in cell["source"] if "metrics_path" not in s]
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    with pytest.raises(UserError, match="metrics_path = None"):
        experiments.load_grid(_grid(tmp_path, notebook="nb.ipynb"), tmp_path / "runs")


@pytest.mark.slow
def test_raising_run_is_reported_and_others_complete(tmp_path, capsys):
    grid_file = _grid(tmp_path, name="mixed", grid={"x": [1.0, 2.0], "fail": [False, True]})
    runs = tmp_path / "runs"
    code, out = _run(["experiments", "run", str(grid_file), "--runs-dir", str(runs)], capsys)
    assert code == 1, out
    root = runs / "mixed"
    status = {p.name: json.loads((p / "status.json").read_text())["status"]
              for p in root.iterdir() if p.is_dir()}
    assert status == {"x=1.0__fail=false": "complete", "x=2.0__fail=false": "complete",
                      "x=1.0__fail=true": "failed", "x=2.0__fail=true": "failed"}
    failed_nb = root / "x=1.0__fail=true" / PROBE.name
    assert "ValueError: probe failure requested (x=1.0)" in out
    assert str(failed_nb) in out, "the report names the failed run's notebook"
    assert failed_nb.exists() and not (root / "x=1.0__fail=true" / "metrics.json").exists()
    rows = {r["run_id"]: r for r in csv.DictReader((root / "summary.csv").open())}
    assert rows["x=2.0__fail=true"]["status"] == "failed" and rows["x=2.0__fail=false"]["square"]

    # Failed runs are skipped (and reported) until --retry-failed, which runs only them.
    code, out = _run(["experiments", "run", str(grid_file), "--runs-dir", str(runs),
                      "--dry-run"], capsys)
    assert code == 0 and "0 to run" in out and "2 failed before" in out
    code, out = _run(["experiments", "run", str(grid_file), "--runs-dir", str(runs),
                      "--retry-failed", "--dry-run"], capsys)
    assert "2 to run" in out and out.count("] run ") == 2


def test_book_grid_files_are_valid(tmp_path):
    grids = sorted((ROOT / "experiments").glob("*.yml"))
    if not grids:
        pytest.skip("no grid files in experiments/ yet")
    for path in grids:
        try:
            grid = experiments.load_grid(path, tmp_path)
        except UserError as err:
            if "not found" in str(err):
                continue  # the chapter is not written yet
            raise
        assert grid.runs, f"{path.name} has no runs"


def test_write_metrics_flattens_and_refuses_text(tmp_path):
    path = tmp_path / "m" / "metrics.json"
    assert experiments.write_notebook_metrics(None, {"a": 1}) is None
    experiments.write_notebook_metrics(str(path), {"fusion": {"psnr": 21.5, "auc": float("nan")},
                                                   "n": 3})
    assert json.loads(path.read_text()) == {"fusion.auc": None, "fusion.psnr": 21.5, "n": 3.0}
    with pytest.raises(ValueError, match="'verdict'"):
        experiments.write_notebook_metrics(str(path), {"verdict": "better"})
