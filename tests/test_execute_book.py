"""tools/execute_book.py, the first step of ``make book``: the pages and grids it runs, the
order a page's reuse of other pages' runs imposes, and its lanes."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import socket
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("execute_book", ROOT / "tools" / "execute_book.py")
execute_book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute_book)


def test_plan_covers_every_executed_page_and_grid_with_its_prerequisites():
    pages = execute_book.executable_pages()
    assert "book/intro" in pages and len([p for p in pages if p.startswith("notebooks/")]) == len(
        list((ROOT / "notebooks").glob("*.ipynb")))
    assert "book/results" not in pages  # plain Markdown: nothing to execute
    order, needs = execute_book.plan(pages, execute_book.grid_tasks())
    assert sorted(order) == sorted(pages + ["grid:07_interplay"])
    assert "grid:07_interplay" in needs["notebooks/07_interplay"]  # the grid trains first
    assert set(needs["notebooks/06_evaluation"]) == {  # it scores their models
        "notebooks/02_regression_vs_classification", "notebooks/03_rebalancing_and_decoding",
        "notebooks/05_fusion_network"}
    # 03 starts beside 02 (it waits for a run 02 still trains: colorutils.files.locked)
    assert needs["notebooks/03_rebalancing_and_decoding"] == []
    assert order[:2] == ["notebooks/02_regression_vs_classification",
                         "notebooks/03_rebalancing_and_decoding"]


def test_plan_refuses_a_prerequisite_that_is_no_page(monkeypatch):
    monkeypatch.setitem(execute_book.AFTER, "notebooks/09_new", ["notebooks/99_gone"])
    with pytest.raises(SystemExit, match="99_gone"):
        execute_book.plan(execute_book.executable_pages(), execute_book.grid_tasks())


def _run(order, needs, lanes, fail=()):
    log, lock, active, most = [], threading.Lock(), [0], [0]

    def run_task(name, lane):
        with lock:
            log.append(("start", name))
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
            log.append(("end", name))
        return f"{name} broke" if name in fail else None

    failed = execute_book.schedule(order, needs, lanes, run_task, log=lambda m: None)
    return log, most[0], failed


def test_schedule_starts_a_task_only_after_its_prerequisites_and_fills_the_lanes():
    order = ["a", "b", "c", "d", "e"]
    needs = {"a": [], "b": [], "c": ["a"], "d": ["a", "b"], "e": ["c"]}
    log, most, failed = _run(order, needs, lanes=2)
    assert failed == [] and most == 2
    for task, reqs in needs.items():
        for r in reqs:
            assert log.index(("end", r)) < log.index(("start", task))
    assert {n for kind, n in log if kind == "end"} == set(order)


def test_schedule_stops_starting_tasks_after_a_failure():
    order = ["a", "b", "c"]
    log, _, failed = _run(order, {"a": [], "b": ["a"], "c": ["b"]}, lanes=2, fail={"a"})
    assert failed == ["a"] and ("start", "b") not in log and ("start", "c") not in log


def test_one_lane_runs_everything_in_order():
    order = ["x", "y", "z"]
    log, most, failed = _run(order, {"x": [], "y": [], "z": ["x"]}, lanes=1)
    assert failed == [] and most == 1
    assert [n for kind, n in log if kind == "start"] == order


def test_a_locked_run_folder_is_waited_for_when_asked(tmp_path, monkeypatch):
    """What lets chapter 03 start beside chapter 02: with a wait (make book sets
    $COLORBOOK_LOCK_WAIT), a run folder a live process on this host holds is waited for until
    its lock goes; without one it is refused at once, as before."""
    from colorutils import files
    from colorutils.errors import UserError

    run = tmp_path / "run"
    run.mkdir()
    lock = run / files.LOCK_FILE
    lock.write_text(f"{os.getppid()} {socket.gethostname()}\n")  # a live holder: our parent
    monkeypatch.delenv(files.LOCK_WAIT_ENV, raising=False)
    t0 = time.monotonic()
    with pytest.raises(UserError, match="in use by process"):
        with files.locked(str(run)):
            pass
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(UserError, match="in use by process"):
        with files.locked(str(run), wait=0.3):
            pass
    threading.Timer(0.5, lock.unlink).start()  # the holder finishes
    monkeypatch.setenv(files.LOCK_WAIT_ENV, "30")
    t0 = time.monotonic()
    with files.locked(str(run)):
        assert lock.read_text().split()[0] == str(os.getpid())
    assert 0.4 < time.monotonic() - t0 < 10 and not lock.exists()
    monkeypatch.setenv(files.LOCK_WAIT_ENV, "soon")
    with pytest.raises(UserError, match="COLORBOOK_LOCK_WAIT"):
        with files.locked(str(run)):
            pass
