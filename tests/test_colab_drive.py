"""On Colab the chapters keep their run folders on Google Drive (issue 26, "Runs on Drive").

The top cells of each chapter (set-up, parameters, values papermill injects, parameters check)
run here with a stand-in ``google.colab`` whose ``drive.mount`` makes a local folder: the run
root must end up on that Drive, the same for every chapter, unless the reader opts out.
"""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "colab"))

from top_cells import run_top  # noqa: E402

from colorutils import files, settings  # noqa: E402

#: The chapters that keep run folders (00 and 01 train nothing and write no run folder).
TRAINING = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if p.name[:2] >= "02")


@pytest.fixture
def drive(tmp_path, monkeypatch):
    """A stand-in Drive mount point; no ``$COLORBOOK_RUNS``, smoke scale."""
    monkeypatch.setenv(settings.DRIVE_MOUNT_ENV_VAR, str(tmp_path / "drive"))
    monkeypatch.delenv(files.RUNS_ENV_VAR, raising=False)
    monkeypatch.setenv("COLORBOOK_SCALE", "smoke")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "drive" / settings.DRIVE_RUN_ROOT


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.name[:2])
def test_on_colab_every_chapter_keeps_its_runs_on_drive(path, drive, capsys):
    ns = run_top(path, colab=True)
    assert ns["mounted"] == [str(drive.parents[2])], "Drive was not mounted once"
    assert ns["cfg"].run_root == str(drive) == os.environ[files.RUNS_ENV_VAR]
    assert drive.is_dir()
    assert ns["pip"], "the set-up cell installed nothing on (stand-in) Colab"
    assert f"run folders: {drive}" in capsys.readouterr().out


@pytest.mark.parametrize("path", TRAINING[:2], ids=lambda p: p.name[:2])
def test_run_root_given_through_papermill_wins_and_mounts_nothing(path, drive, tmp_path):
    ns = run_top(path, injected={"run_root": str(tmp_path / "mine")}, colab=True)
    assert ns["cfg"].run_root == str(tmp_path / "mine") and ns["mounted"] == []


def test_opting_out_of_drive_keeps_runs_local(drive):
    ns = run_top(TRAINING[0], injected={"use_drive": False}, colab=True)
    assert ns["mounted"] == [] and ns["cfg"].run_root == "runs"


def test_a_failed_mount_falls_back_with_one_line(drive, capsys):
    ns = run_top(TRAINING[0], colab=True, mount_error=ValueError("mount failed: declined"))
    assert ns["cfg"].run_root == "runs"
    out = [line for line in capsys.readouterr().out.splitlines() if "Drive" in line]
    assert len(out) == 1 and "mount failed: declined" in out[0] and "use_drive" in out[0]


def test_outside_colab_the_runs_stay_where_they_were(drive, monkeypatch):
    ns = run_top(TRAINING[0])
    assert ns["mounted"] == [] and ns["pip"] == [] and ns["cfg"].run_root == "runs"
    monkeypatch.setenv(files.RUNS_ENV_VAR, "/data/runs")  # colorutils experiments sets it
    assert run_top(TRAINING[0], colab=True)["cfg"].run_root == "/data/runs"


def test_the_simulated_colab_counts_the_models_each_chapter_trains(tmp_path):
    """make test-colab's check that chapters run in order train each model once."""
    import json

    import simulate

    def history(run, seconds):
        (tmp_path / run).mkdir(parents=True, exist_ok=True)
        (tmp_path / run / "history.json").write_text(json.dumps({"seconds": seconds}))

    history("smoke/cifar10/a", [1.0])
    before = simulate.trained_epochs(tmp_path)
    history("smoke/cifar10/a", [1.0, 2.0])  # resumed: one more epoch
    history("smoke/cifar10/b", [3.0])
    history("smoke/cifar10/c", [])  # created, no epoch finished
    after = simulate.trained_epochs(tmp_path)
    assert simulate.newly_trained(before, after) == ["smoke/cifar10/a", "smoke/cifar10/b"]
    assert simulate.newly_trained(after, after) == []
    assert simulate.trained_twice({"02": ["a", "b"], "03": ["c"]}) == {}
    assert simulate.trained_twice({"02": ["a", "b"], "03": ["b"]}) == {"b": ["02", "03"]}
