"""Nothing lost when things go wrong (issue 23): ``colorutils train`` and ``colorize`` under faults.

Each test injects one fault a user meets (a process killed mid-write, Ctrl-C, a full disk, a
read-only folder, two trainings in one folder, damaged checkpoint files, photos that would
take gigabytes) and checks what the user would notice: the exit status, one line instead of a
traceback, no partial file under a final name, and a run folder the next command continues.

Kills and memory are measured on subprocesses (``python -m colorutils.cli``, or a small
driver that makes the process die inside a save); the rest calls ``cli.main`` in-process on
copies of one tiny trained run (2 epochs of 16 photos at 16 px).  Full disks and read-only
folders are real: a small tmpfs and a read-only bind mount (root only; skipped elsewhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "OMP_NUM_THREADS": "2"}
TINY = ["--scale", "smoke", "--image-size", "16", "--width", "0.125", "--train-images", "16",
        "--eval-images", "8", "--batch-size", "8", "--quiet"]
#: Peak resident memory allowed to a command on an extreme photo (TensorFlow itself ~ 0.6 GB).
RSS_LIMIT_MIB = 2048


# --------------------------------------------------------------------------- helpers


def _cli(capsys, *argv) -> tuple[int, str, str]:
    """``colorutils ARGV`` in this process: (status, stdout, stderr)."""
    from colorutils import cli

    status = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def _train(capsys, dataset, run_dir, epochs, *extra):
    return _cli(capsys, "train", "--dataset", f"folder:{dataset}", "--run-dir", run_dir,
                "--epochs", epochs, *TINY, *extra)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _history(run_dir) -> list[int]:
    return json.loads((pathlib.Path(run_dir) / "history.json").read_text())["epoch"]


def _metrics_agree(run_dir, epochs: int) -> None:
    metrics = json.loads((pathlib.Path(run_dir) / "metrics.json").read_text())
    assert _history(run_dir) == list(range(1, epochs + 1))
    assert metrics["epochs"] == epochs and metrics["final_logs"]["epoch"] == epochs


def _temporaries(folder) -> list[str]:
    """Files a writer left behind (``.x.tmp<pid>-n.ext``, or the ``x.tmp<pid>.ext`` of old)."""
    return [str(p) for p in pathlib.Path(folder).rglob("*") if ".tmp" in p.name]


def _whole_images(folder) -> list[str]:
    """Every PNG under ``folder`` decoded completely (a truncated one raises)."""
    names = []
    for path in sorted(pathlib.Path(folder).rglob("*.png")):
        with Image.open(path) as img:
            img.load()
        names.append(path.name)
    return names


def _driver(tmp_path, body: str, argv) -> list[str]:
    """A command line running ``body`` (which patches something), then ``colorutils ARGV``."""
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(body) + textwrap.dedent("""
        from colorutils import cli
        sys.exit(cli.main(sys.argv[1:]))
    """))
    return [sys.executable, str(script), *map(str, argv)]


def _killed_half_way(tmp_path, module: str, owner: str, method: str, argv) -> list[str]:
    """A command line whose first ``owner.method(self, path, ...)`` call (e.g. PIL's
    ``Image.Image.save``) writes its file, cuts it in half and SIGKILLs the process."""
    return _driver(tmp_path, f"""
        import os, signal, sys
        import {module}
        original = {owner}.{method}
        def dying(self, path, *args, **kwargs):
            original(self, path, *args, **kwargs)
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        {owner}.{method} = dying
    """, argv)


def _peak_rss(cmd, limit_mib=RSS_LIMIT_MIB, timeout=600):
    """Run ``cmd``; (returncode, stderr, peak RSS in MiB).  Killed at ``limit_mib`` (so a
    runaway command fails the test instead of the machine)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak, start = 0.0, time.time()
    while proc.poll() is None and time.time() - start < timeout:
        with contextlib.suppress(OSError, ValueError):
            status = pathlib.Path(f"/proc/{proc.pid}/status").read_text()
            rss = [int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS:")]
            peak = max(peak, rss[0] / 1024 if rss else 0.0)
        if peak > limit_mib:
            proc.kill()
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate()
    return proc.returncode, err, peak


@contextlib.contextmanager
def _mounted(target: pathlib.Path, *args):
    """``mount ARGS TARGET`` for the block (skip the test where mounting is not allowed)."""
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount here ({done.stderr.strip()})")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _gray_png(path: pathlib.Path, width: int, height: int) -> None:
    """A 1-bit gray PNG of ``width x height`` (a stripe pattern), a few hundred KB written in
    a fraction of a second; decoded, it is ``width * height`` bytes and more."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    z = zlib.compressobj(1)
    row = b"\x00" + b"\xaa" * ((width + 7) // 8)
    parts = [z.compress(row) for _ in range(height)] + [z.flush()]
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """class/file folder: 2 classes x 8 colourful 32 x 24 photos."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name in ("meadow", "sunset"):
        (root / name).mkdir()
        for i in range(8):
            coarse = rng.uniform(0, 255, (2, 3, 3)).astype(np.uint8)
            Image.fromarray(coarse).resize((32, 24), Image.BILINEAR).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def finished(photos, tmp_path_factory):
    """A finished 2-epoch run (in-process): (run folder, runs root).  Tests copy it to damage."""
    from colorutils import cli

    runs = tmp_path_factory.mktemp("runs")
    status = cli.main(["train", "--dataset", f"folder:{photos}", "--runs-dir", str(runs),
                       "--epochs", "2", *TINY])
    assert status == 0
    run_dir = next(p.parent for p in runs.rglob("metrics.json"))
    _metrics_agree(run_dir, 2)
    return run_dir, runs


@pytest.fixture
def copied(finished, tmp_path):
    """A copy of the finished run to damage."""
    return pathlib.Path(shutil.copytree(finished[0], tmp_path / "run"))


# --------------------------------------------------------------------------- 1. colorize killed


def test_colorize_killed_while_writing_leaves_no_partial_photo(finished, photos, tmp_path,
                                                               capsys):
    """SIGKILL after half of the first output is written; the rerun redoes it."""
    out = tmp_path / "out"
    cmd = _killed_half_way(tmp_path, "PIL.Image", "PIL.Image.Image", "save",
                           ["colorize", photos / "meadow", "--model", finished[0], "--out", out])
    killed = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not list(out.glob("*_colorized.png")), "a half-written photo carries a final name"

    status, stdout, err = _cli(capsys, "colorize", photos / "meadow", "--model", finished[0],
                               "--out", out)
    assert status == 0, err
    assert "colorized 8 of 8" in stdout and "kept" not in stdout
    assert len(_whole_images(out)) == 8 and not _temporaries(out)


# --------------------------------------------------------------------------- 2. full disk, kill


def test_full_disk_before_training_is_one_line_and_leaves_nothing(photos, tmp_path, capsys):
    with _mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=256k", "tmpfs") as small:
        run_dir = small / "run"
        status, _, err = _train(capsys, photos, run_dir, 2)
        assert status == 2 and len(_lines(err)) == 1, err
        assert "No space left on device" in err and str(run_dir) in err
        assert "Traceback" not in err and not _temporaries(small)
        assert not (run_dir / "lock").exists()


def test_colorize_on_a_full_disk_reports_write_errors_and_no_partial_photo(
        finished, photos, tmp_path, capsys):
    big = tmp_path / "big"
    big.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):  # noise compresses badly: about 190 KB of PNG each
        Image.fromarray(rng.integers(0, 255, (256, 256), dtype=np.uint8)).save(big / f"{i}.png")
    with _mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=400k", "tmpfs") as out:
        status, _, err = _cli(capsys, "colorize", big, "--model", finished[0], "--out", out)
        assert status == 1 and "Traceback" not in err
        assert "cannot write" in err and "No space left on device" in err
        assert "not written (write errors" in _lines(err)[-1] and "unreadable" not in err
        assert 1 <= len(_whole_images(out)) < 4 and not _temporaries(out)


def test_killed_while_saving_a_checkpoint_resumes(photos, tmp_path, capsys):
    """SIGKILL after half of the first resume state is written; the rerun completes."""
    run_dir = tmp_path / "run"
    cmd = _killed_half_way(tmp_path, "keras", "keras.Model", "save_weights",
                           ["train", "--dataset", f"folder:{photos}", "--run-dir", run_dir,
                            "--epochs", 2, *TINY])
    killed = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    status, _, err = _train(capsys, photos, run_dir, 2)
    assert status == 0 and "Traceback" not in err, err
    _metrics_agree(run_dir, 2)
    assert not _temporaries(run_dir) and not (run_dir / "lock").exists()


# --------------------------------------------------------------------------- 3. memory


def test_a_3_by_5000_photo_is_colorized_in_bounded_memory(finished, tmp_path):
    strip = tmp_path / "strip.png"
    Image.fromarray(np.tile(np.arange(5000) % 256, (3, 1)).astype(np.uint8)).save(strip)
    out = tmp_path / "out"
    # at --size 32 the short side of 3 px becomes 32: the model would run at 32 x 53,344 px
    code, err, peak = _peak_rss([sys.executable, "-m", "colorutils.cli", "colorize", str(strip),
                                 "--model", str(finished[0]), "--out", str(out), "--size", "32"])
    assert peak < RSS_LIMIT_MIB, f"peak RSS {peak:.0f} MiB"
    assert code == 0, err[-2000:]
    with Image.open(out / "strip_colorized.png") as img:
        assert img.size == (5000, 3)


def test_a_20000_px_png_in_a_training_folder_is_skipped_with_a_line(photos, tmp_path):
    folder = pathlib.Path(shutil.copytree(photos, tmp_path / "photos"))
    # a name whose hash puts it in the training split (colorutils.data derives the splits)
    name = next(f"huge{i}.png" for i in range(100)
                if int(hashlib.md5(f"meadow/huge{i}.png".encode()).hexdigest(), 16) % 100 < 80)
    _gray_png(folder / "meadow" / name, 20000, 20000)
    code, err, peak = _peak_rss([sys.executable, "-m", "colorutils.cli", "train", "--dataset",
                                 f"folder:{folder}", "--run-dir", str(tmp_path / "run"),
                                 "--epochs", "1", *TINY])
    assert peak < RSS_LIMIT_MIB, f"peak RSS {peak:.0f} MiB"
    assert code == 0, err[-2000:]
    assert name in err and "too large" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, expect", [
    (["train", "--image-size", "100000", "--dataset", "folder:/no/such/folder"],
     "--image-size 100000 is above the limit 1024"),
    (["colorize", "x.png", "--model", "m", "--out", "o", "--size", "100000"],
     "--size 100000 must be an integer from 16 to 1024"),
])
def test_size_arguments_have_upper_bounds(argv, expect, capsys):
    status, _, err = _cli(capsys, *argv)
    assert status == 2 and len(_lines(err)) == 1 and expect in err, err


# --------------------------------------------------------------------------- 4. classifier


def test_training_an_image_classifier_ends_with_its_run_folder(photos, tmp_path, capsys):
    run_dir = tmp_path / "classifier"
    status, out, err = _train(capsys, photos, run_dir, 1, "--model", "rgb_classifier")
    assert status == 0, err
    assert _lines(out)[-1] == f"run folder: {run_dir}"
    assert _history(run_dir) == [1]


# --------------------------------------------------------------------------- 5. damaged files


@pytest.mark.parametrize("pattern", ["*.weights.h5*", "*.json*"])
def test_damaged_resume_state_is_named_in_one_line_and_the_advice_works(
        pattern, copied, photos, capsys):
    damaged = sorted((copied / "backup").glob(pattern))
    assert damaged
    for path in damaged:
        path.write_bytes(b"")
    status, _, err = _train(capsys, photos, copied, 3)
    assert status == 2 and len(_lines(err)) == 1, err
    assert any(str(path) in err for path in damaged) and "delete" in err

    shutil.rmtree(copied / "backup")  # what the line says to do
    status, _, err = _train(capsys, photos, copied, 3)
    assert status == 0, err
    _metrics_agree(copied, 3)


def test_only_the_newest_state_damaged_falls_back_to_the_one_before(copied, photos, capsys):
    newest = sorted((copied / "backup").glob("*.weights.h5*"))
    newest = max(newest, key=lambda p: (p.suffix != ".bkp", p.name))  # Keras' .bkp is older
    newest.write_bytes(b"")
    status, _, err = _train(capsys, photos, copied, 3)
    assert status == 0, err
    assert str(newest) in err and "continuing from the state after epoch 1" in err
    _metrics_agree(copied, 3)


def test_an_empty_best_model_falls_back_to_the_last_one(copied, photos, tmp_path, capsys):
    (copied / "best.keras").write_bytes(b"")
    status, out, err = _train(capsys, photos, copied, 2)
    assert status == 0 and "Traceback" not in err, err
    assert "best.keras" in err and "last.keras" in err
    status, _, err = _cli(capsys, "colorize", photos / "meadow" / "0.png", "--model", copied,
                          "--out", tmp_path / "out")
    assert status == 0, err
    assert _whole_images(tmp_path / "out") == ["0_colorized.png"]


def test_a_damaged_history_is_rebuilt_and_agrees_with_the_metrics(copied, photos, capsys):
    (copied / "history.json").write_text('{"epoch": [1, ')
    status, _, err = _train(capsys, photos, copied, 3)
    assert status == 0, err
    _metrics_agree(copied, 3)


# --------------------------------------------------------------------------- 6. lock, read-only


def test_a_second_training_in_the_same_folder_is_refused_in_one_line(photos, tmp_path, capsys):
    run_dir = tmp_path / "run"
    cmd = _driver(tmp_path, """
        import sys, time
        from colorutils import files
        write_history = files.write_history
        def slow(*args, **kwargs):
            write_history(*args, **kwargs)
            time.sleep(300)
        files.write_history = slow
    """, ["train", "--dataset", f"folder:{photos}", "--run-dir", run_dir, "--epochs", 2, *TINY])
    first = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (run_dir / "history.json").exists() and time.time() < deadline:
            assert first.poll() is None, "the first training ended early"
            time.sleep(0.2)
        status, _, err = _train(capsys, photos, run_dir, 2)
        assert status == 2 and len(_lines(err)) == 1, err
        assert f"in use by process {first.pid}" in err
    finally:
        first.kill()
        first.wait()
    status, _, err = _train(capsys, photos, run_dir, 2)  # the dead process's lock: taken over
    assert status == 0, err
    _metrics_agree(run_dir, 2)


def test_a_read_only_run_folder_is_refused_before_training(copied, photos, tmp_path, capsys):
    with _mounted(tmp_path / "ro", "--bind", "-o", "ro", str(copied)) as ro:
        start = time.time()
        status, _, err = _train(capsys, photos, ro, 3)
        assert status == 2 and len(_lines(err)) == 1, err
        assert "Read-only file system" in err and str(ro) in err
        assert time.time() - start < 60  # no epoch trained first


# --------------------------------------------------------------------------- 7. the rest


def test_ctrl_c_is_one_line_with_status_130_and_the_epochs_saved(photos, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "colorutils.cli", "train", "--dataset",
                             f"folder:{photos}", "--run-dir", str(run_dir), "--epochs", "200",
                             *TINY], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if len(_history(run_dir)) >= 2:
                break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        # Before train._CtrlC, a Ctrl-C was lost twice on a loaded 2-core machine
        # (raised where TensorFlow swallows exceptions). A user who presses it again must
        # get the same one line.
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = _lines(err)[-1]
    assert last.startswith("colorutils train: stopped in epoch ") and "run the same command" in last
    n = int(last.split("stopped in epoch ")[1].split(";")[0])
    assert f"epochs 1 to {n - 1} are saved" in last
    assert _history(run_dir) == list(range(1, n)) and not (run_dir / "lock").exists()


def test_a_folder_dataset_is_identified_by_its_absolute_path(finished, photos, capsys,
                                                              monkeypatch):
    run_dir, runs = finished
    monkeypatch.chdir(photos.parent)
    status, out, err = _cli(capsys, "train", "--dataset", f"folder:{photos.name}/", "--runs-dir",
                            runs, "--epochs", 2, *TINY)
    assert status == 0, err
    assert "loaded" in out and _lines(out)[-1].endswith(str(run_dir))


def test_fewer_epochs_than_a_finished_run_has_are_said(finished, photos, capsys):
    status, out, err = _cli(capsys, "train", "--dataset", f"folder:{photos}", "--runs-dir",
                            finished[1], "--epochs", 1, *TINY)
    assert status == 0, err
    assert "finished 2 epochs, more than the 1 asked for" in err


def test_a_training_set_without_colour_warns(tmp_path, capsys):
    gray = tmp_path / "gray" / "only"
    gray.mkdir(parents=True)
    for i in range(16):
        Image.fromarray(np.full((24, 32), 40 * (i % 6), np.uint8)).convert("RGB").save(
            gray / f"{i}.png")
    status, _, err = _train(capsys, gray.parent, tmp_path / "run", 1)
    assert status == 0, err
    assert re.search(r"warning: .*none of the first \d+ training photos has colour", err), err


def test_colorize_takes_quiet(finished, photos, tmp_path, capsys):
    status, _, err = _cli(capsys, "colorize", photos / "meadow" / "1.png", "--model",
                          finished[0], "--out", tmp_path, "--quiet")
    assert status == 0 and not err.strip(), err


# --------------------------------------------------------------------------- 8. exact resume


def test_a_resumed_run_has_the_losses_of_an_uninterrupted_one(finished, photos, tmp_path,
                                                              capsys):
    whole = json.loads((finished[0] / "history.json").read_text())
    run_dir = tmp_path / "resumed"
    assert _train(capsys, photos, run_dir, 1)[0] == 0  # interrupted after epoch 1 ...
    assert _train(capsys, photos, run_dir, 2)[0] == 0  # ... and resumed
    resumed = json.loads((run_dir / "history.json").read_text())
    assert resumed["epoch"] == whole["epoch"] == [1, 2]
    np.testing.assert_allclose(resumed["loss"], whole["loss"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(resumed["val_loss"], whole["val_loss"], rtol=0, atol=1e-6)
