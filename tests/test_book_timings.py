"""The profile of ``make book``: tools/book_timings.py on a fabricated build, and the kernel
timer (tools/kernel_timer.py) that splits a notebook's seconds into training, evaluation and
building."""

from __future__ import annotations

import datetime
import importlib.util
import json
import pathlib
import sqlite3
import types

import pytest

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


book_timings = _load("book_timings")
kernel_timer = _load("kernel_timer")

T0 = datetime.datetime(2026, 12, 5, 12, 0, 0, tzinfo=datetime.timezone.utc)


def _utc(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def _fabricate(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    build, runs = tmp_path / "_build", tmp_path / "runs"
    (build / ".jupyter_cache").mkdir(parents=True)
    with sqlite3.connect(build / ".jupyter_cache" / "global.db") as con:
        con.execute("CREATE TABLE nbcache (pk INTEGER PRIMARY KEY, hashkey TEXT, uri TEXT,"
                    " description TEXT, data JSON, created DATETIME, accessed DATETIME)")
        rows = [  # (uri, execution seconds, end of execution in seconds after T0)
            ("/repo/notebooks/02_regression.ipynb", 400.0, 300.0),  # an old record ...
            ("/repo/notebooks/02_regression.ipynb", 377.0, 1000.0),  # ... and this build's
            ("/repo/notebooks/03_rebalancing.ipynb", 310.0, 1320.0),
            ("/repo/book/intro.ipynb", 64.0, 5.0),  # before the build: cached
        ]
        for i, (uri, secs, end) in enumerate(rows):
            stamp = _utc(end).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format
            con.execute("INSERT INTO nbcache VALUES (?, ?, ?, '', ?, ?, ?)",
                        (i, f"h{i}", uri, json.dumps({"execution_seconds": secs}), stamp, stamp))
    run = runs / "07_interplay" / "alpha-0"
    run.mkdir(parents=True)
    (run / "parameters.json").write_text("{}")
    started = _utc(100.0).astimezone().replace(tzinfo=None)  # experiments writes local time
    (run / "status.json").write_text(json.dumps(
        {"status": "complete", "started": started.isoformat(timespec="seconds"),
         "seconds": 150.0}))
    kernels = build / "timings"
    kernels.mkdir()
    base = T0.timestamp()
    for pid, start, end, secs in [
            (1, 102, 248, {"train": 60.0, "evaluate": 20.0, "build": 10.0}),  # the grid run
            (2, 625, 999, {"train": 200.0, "evaluate": 50.0, "build": 30.0}),  # chapter 02
            (3, 1011, 1319, {"train": 150.0, "evaluate": 40.0, "build": 0.0})]:  # chapter 03
        (kernels / f"kernel-{pid}.json").write_text(json.dumps(
            {"pid": pid, "started": base + start, "updated": base + end, "seconds": secs}))
    return build, runs


def test_profile_of_a_fabricated_build(tmp_path):
    build, runs = _fabricate(tmp_path)
    prof = book_timings.profile(str(build), str(runs), since=T0.timestamp() + 50)
    by_name = {pathlib.Path(nb["notebook"]).name: nb for nb in prof["notebooks"]}
    ch02 = by_name["02_regression.ipynb"]
    assert ch02["seconds"] == 377.0 and not ch02["cached"]  # the latest record wins
    assert ch02["split"] == {"train": 200.0, "evaluate": 50.0, "build": 30.0, "rest": 97.0}
    assert by_name["03_rebalancing.ipynb"]["split"]["rest"] == 120.0
    assert by_name["intro.ipynb"]["cached"] and by_name["intro.ipynb"]["split"] is None
    (grid,) = prof["grid_runs"]
    assert (grid["grid"], grid["run"], grid["seconds"]) == ("07_interplay", "alpha-0", 150.0)
    assert grid["split"] == {"train": 60.0, "evaluate": 20.0, "build": 10.0, "rest": 60.0}
    assert prof["total_seconds"] == 377.0 + 310.0 + 150.0  # the cached intro is left out
    assert prof["grid_seconds"] == 150.0
    assert prof["split_seconds"]["train"] == 410.0


def test_main_writes_timings_json_and_prints_a_table(tmp_path, capsys):
    build, runs = _fabricate(tmp_path)
    assert book_timings.main(["--build", str(build), "--runs", str(runs)]) == 0
    prof = json.loads((build / "timings.json").read_text())
    assert {nb["notebook"].rsplit("/", 1)[-1] for nb in prof["notebooks"]} == {
        "02_regression.ipynb", "03_rebalancing.ipynb", "intro.ipynb"}
    out = capsys.readouterr().out
    assert "02_regression.ipynb" in out and "alpha-0" in out and "total" in out


def test_no_build_gives_an_empty_profile(tmp_path):
    prof = book_timings.profile(str(tmp_path / "_build"), str(tmp_path / "runs"))
    assert prof["notebooks"] == [] and prof["grid_runs"] == [] and prof["total_seconds"] == 0


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_timer_counts_each_call_once_in_its_own_category():
    clock = FakeClock()
    timer = kernel_timer.Timer(clock)

    def keras_fit():  # 5 s of training, of which 1 s validation (stays training)
        clock.now += 4
        validate()

    def validate():
        clock.now += 1

    def predict():
        clock.now += 2

    fit_ = timer.wrap(keras_fit, "train")
    validate = timer.wrap(validate, "evaluate")  # noqa: F811 (wrapped like keras' evaluate)

    def library_fit():  # 3 s building around Keras' fit
        clock.now += 3
        fit_()

    library_fit = timer.wrap(library_fit, "build")
    library_fit()
    timer.wrap(predict, "evaluate")()
    assert timer.seconds == {"train": 5.0, "evaluate": 2.0, "build": 3.0}
    assert timer.wrap(fit_, "build") is fit_  # wrapped once only


def test_timer_patches_imported_modules_and_the_zoo_table():
    def unet():
        return "net"

    class Model:
        def fit(self):
            return "fitted"

    fake_models = types.SimpleNamespace(unet=unet, BUILDERS={"unet": unet})
    fake_keras = types.SimpleNamespace(Model=Model, models=types.SimpleNamespace())
    timer = kernel_timer.Timer()
    done = timer.patch({"colorutils.models": fake_models, "keras": fake_keras})
    assert "colorutils.models.unet" in done and "keras.Model.fit" in done
    assert fake_models.BUILDERS["unet"] is fake_models.unet and fake_models.unet() == "net"
    assert Model().fit() == "fitted"
    assert timer.calls["build"] == 1 and timer.calls["train"] == 1
    assert timer.patch({"colorutils.models": fake_models, "keras": fake_keras}) == []


@pytest.mark.parametrize("missing", ["colorutils.models", "keras"])
def test_timer_skips_modules_not_imported(missing):
    mods = {"colorutils.models": types.SimpleNamespace(), "keras": types.SimpleNamespace()}
    del mods[missing]
    assert kernel_timer.Timer().patch(mods) == []


def test_labelled_kernels_go_to_their_page_when_pages_overlap(tmp_path):
    """tools/execute_book.py runs pages side by side: a kernel's label, not the overlap of
    windows, says which page it ran; the profile also reports the build's wall clock."""
    build, runs = _fabricate(tmp_path)
    kernels = build / "timings"
    for path in kernels.glob("kernel-*.json"):
        path.unlink()
    base = T0.timestamp()
    for pid, start, end, label, train in [  # 03's kernel overlaps 02's window more than its own
            (7, 623, 1000, "notebooks/03_rebalancing", 11.0),
            (8, 620, 999, "notebooks/02_regression", 22.0),
            (9, 102, 248, "grid:07_interplay", 33.0)]:
        (kernels / f"kernel-{pid}.json").write_text(json.dumps(
            {"pid": pid, "started": base + start, "updated": base + end, "label": label,
             "seconds": {"train": train, "evaluate": 0.0, "build": 0.0}}))
    prof = book_timings.profile(str(build), str(runs), since=base + 50)
    by_name = {pathlib.Path(nb["notebook"]).name: nb for nb in prof["notebooks"]}
    assert by_name["02_regression.ipynb"]["split"]["train"] == 22.0
    assert by_name["03_rebalancing.ipynb"]["split"]["train"] == 11.0
    assert prof["grid_runs"][0]["split"]["train"] == 33.0
    assert prof["wall_seconds"] > 0 and "wall clock" in book_timings.table(prof)
