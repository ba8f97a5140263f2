"""``make test-colab``: every chapter on a simulated Google Colab GPU runtime (without the GPU).

What it builds and checks, in order:

1. **Python 3.13** (Colab's version since 2026-08-25): ``$COLAB_PYTHON``, else ``python3.13``
   on ``PATH``, else a pyenv 3.13.x.  Where there is none it says so and exits 0 (skipped).
2. **A virtual environment with Colab's packages** (``.venv-colab``): the book's runtime
   dependencies, the kernel (ipykernel) and pydot (where graphviz's ``dot`` exists, as on
   Colab), installed with the constraints
   ``tests/colab/constraints.txt`` (Colab's ``pip freeze``, see ``derive_constraints.py``), so
   every one of them and of their dependencies has Colab's version; pip itself is Colab's too.
   It is reused while the constraints, the package list and the Python are unchanged.  A
   stand-in ``google.colab`` module goes into ``site-packages/google/colab`` beside protobuf's
   ``google.protobuf`` (``google`` is a namespace package: no ``google/__init__.py`` is
   written, so nothing of protobuf is shadowed), and a kernel ``colab-sim`` whose python is
   this environment imports it at start-up, as Colab's kernel does.  Papermill and nbclient are
   not on Colab, so they stay in the book's ``.venv`` and drive that kernel.
3. **pip's plan for the set-up cell**: the cell of every chapter is executed here with a
   recording ``subprocess.run``, giving the exact pip command it runs on Colab;
   ``COLORBOOK_PIP_SOURCE`` points it at this clone (``git+file://ROOT@COMMIT``, HEAD unless
   ``$COLAB_SIM_REF`` names another ref, e.g. the release tag).  The same command with
   ``--dry-run --report -`` is printed as a table; it fails if pip would upgrade, downgrade or
   replace any package of the environment or any package Colab ships at another version.
4. **Every chapter** (``notebooks/*.ipynb``) executed by papermill with ``-k colab-sim`` and
   ``-p scale smoke``, in order, from an empty working folder (Colab's ``/content`` has no
   checkout, so ``colorutils`` and its CIFAR-10 pack come from the installed package), with
   fresh run folders on a stand-in Google Drive: ``google.colab.drive.mount`` makes
   ``MOUNT/MyDrive`` a local folder (``$COLORBOOK_DRIVE_MOUNT`` points the chapters at it), and
   no ``$COLORBOOK_RUNS`` is set, so the run root is the chapters' Drive default.  The first
   chapter's set-up cell does the real install.
5. **Each model trained once**: the run folders' ``history.json`` before and after each chapter
   give the models every chapter trained; no run may be trained by two chapters (chapter 03
   trains nothing chapter 02 trained), and the count per chapter is printed.
6. **A disconnect resumes from Drive**: chapter 02 runs again into another root on the
   stand-in Drive (``-p run_root``, 3 epochs, seeds given as the text ``"[0]"``), is killed
   (papermill and its kernel) once a run has finished an epoch, and is run again: that run
   keeps the epochs it had and trains only the rest.
7. **The Turing test plays in chapter 06's output** (the page inline, its pairs embedded).
8. **pip freeze before and after**: the set-up cells may add ``colorutils`` and nothing else.

Logs and executed notebooks go to ``_build/test-colab/``.  Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import types

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
CONSTRAINTS = HERE / "constraints.txt"
KERNEL_NAME = "colab-sim"
PIP_SOURCE_ENV_VAR = "COLORBOOK_PIP_SOURCE"
#: Packages on Colab that the book uses besides its declared dependencies.
ALSO_PREINSTALLED = {
    "ipykernel": "the notebook kernel",
    "pydot": "chapter 05 draws the Keras layer graph with it and graphviz where present",
}
#: Installed only where this machine has the system program too, as Colab does (graphviz's
#: ``dot``): with pydot but without ``dot``, keras.utils.plot_model writes no file in a notebook.
NEEDS_PROGRAM = {"pydot": "dot"}
#: Versions the log reports first.
HEADLINE = ("tensorflow", "keras", "tensorflow-datasets", "numpy", "protobuf", "ipykernel", "pip")
STAMP_FORMAT = 1
STAND_IN = '''"""Stand-in for Colab's ``google.colab`` package, written by tests/colab/simulate.py.

Its presence matters: the chapters' set-up cells take their Colab branch when
``google.colab`` is in ``sys.modules``, which the ``colab-sim`` kernel arranges at start-up.
``drive.mount`` is the stand-in of Google Drive.
"""
SIMULATED = True
'''
DRIVE_STAND_IN = '''"""Stand-in for ``google.colab.drive``: ``mount`` makes ``MOUNTPOINT/MyDrive`` a local folder."""
import os


def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
    os.makedirs(os.path.join(mountpoint, "MyDrive"), exist_ok=True)
    print(f"Mounted at {mountpoint}")
'''
DRIVE_MOUNT_ENV_VAR = "COLORBOOK_DRIVE_MOUNT"
DRIVE_RUN_ROOT = ("MyDrive", "colorization-book", "runs")  # colorutils.settings.DRIVE_RUN_ROOT


def say(msg: str = "") -> None:
    print(msg, flush=True)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- Python 3.13


def python_version(exe: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([exe, "-c", "import sys; print(*sys.version_info[:3])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return tuple(int(x) for x in out.stdout.split())


def find_python313() -> str | None:
    """A Python 3.13 interpreter, or None."""
    candidates = []
    if os.environ.get("COLAB_PYTHON"):
        candidates.append(os.environ["COLAB_PYTHON"])
    if shutil.which("python3.13"):
        candidates.append(shutil.which("python3.13"))
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        if root:
            found = sorted(pathlib.Path(root, "versions").glob("3.13*/bin/python3.13"))
            candidates += [str(p) for p in reversed(found)]
    for exe in candidates:
        version = python_version(exe)
        if version and version[:2] == (3, 13):
            return exe
    return None


# --------------------------------------------------------------------------- environment


def runtime_dependency_names() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0] for req in project["dependencies"]]


def preinstalled_names() -> list[str]:
    extra = [n for n in ALSO_PREINSTALLED
             if n not in NEEDS_PROGRAM or shutil.which(NEEDS_PROGRAM[n])]
    return runtime_dependency_names() + extra


def colab_pins(path: pathlib.Path = CONSTRAINTS) -> dict[str, str]:
    """``{canonical name: version}`` of Colab's packages (the constraints file)."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def venv_python(venv: pathlib.Path) -> pathlib.Path:
    return venv / "bin" / "python"


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def pip(venv: pathlib.Path, *args, **kw) -> subprocess.CompletedProcess:
    return run([venv_python(venv), "-m", "pip", *args], **kw)


def freeze(venv: pathlib.Path) -> dict[str, str]:
    """``{canonical name: version}`` installed in ``venv`` (pip included)."""
    out = pip(venv, "list", "--format=json", capture_output=True, text=True).stdout
    return {canonical(d["name"]): d["version"] for d in json.loads(out)}


def site_packages(venv: pathlib.Path) -> pathlib.Path:
    out = run([venv_python(venv), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
              capture_output=True, text=True).stdout.strip()
    return pathlib.Path(out)


def install_stand_in(site: pathlib.Path) -> pathlib.Path:
    """Write ``google/colab/__init__.py`` into ``site`` without making ``google`` a package."""
    google = site / "google"
    if (google / "__init__.py").exists():
        raise RuntimeError(f"{google} is a regular package; the stand-in would shadow it")
    target = google / "colab" / "__init__.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STAND_IN, encoding="utf-8")
    (target.parent / "drive.py").write_text(DRIVE_STAND_IN, encoding="utf-8")
    return target


def install_kernel(venv: pathlib.Path) -> pathlib.Path:
    """The kernelspec ``colab-sim`` (python of ``venv``, ``google.colab`` imported at start)."""
    folder = venv / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(venv_python(venv)), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=import google.colab"],
        "display_name": "Simulated Colab (Python 3.13)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return folder


def stamp_of(python: str) -> dict:
    return {
        "format": STAMP_FORMAT,
        "python": ".".join(map(str, python_version(python) or ())),
        "constraints_sha256": hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest(),
        "packages": preinstalled_names(),
    }


def ensure_venv(venv: pathlib.Path, python: str) -> bool:
    """Create (or reuse) the Colab environment; True if it was reused."""
    stamp_file = venv / ".colab-sim.json"
    wanted = stamp_of(python)
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == wanted \
            and venv_python(venv).exists():
        return True
    if venv.exists():
        say(f"test-colab: rebuilding {venv.name} (constraints, packages or Python changed)")
        shutil.rmtree(venv)
    run([python, "-m", "venv", venv])
    constraints = ["-c", CONSTRAINTS]
    pip(venv, "install", "-q", *constraints, "pip")  # Colab's pip, not the bundled one
    pip(venv, "install", "-q", *constraints, *wanted["packages"])
    install_stand_in(site_packages(venv))
    install_kernel(venv)
    stamp_file.write_text(json.dumps(wanted, indent=1) + "\n")
    return False


# --------------------------------------------------------------------------- the set-up cell


def setup_cell(nb_path: pathlib.Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "colab-setup" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise RuntimeError(f"{nb_path.name}: expected one cell tagged colab-setup")
    return "".join(cells[0]["source"])


def setup_command(source: str, pip_source: str | None) -> list[str] | None:
    """The command the set-up cell runs on Colab (``None``: it runs none), found by executing
    the cell with ``google.colab`` present and a recording ``subprocess.run``."""
    calls = []

    def record(cmd, *args, **kwargs):
        calls.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0)

    saved_env = os.environ.get(PIP_SOURCE_ENV_VAR)
    saved_module = sys.modules.get("google.colab")
    with contextlib.ExitStack() as stack:
        stack.callback(setattr, subprocess, "run", subprocess.run)
        subprocess.run = record
        sys.modules["google.colab"] = types.ModuleType("google.colab")
        if pip_source is None:
            os.environ.pop(PIP_SOURCE_ENV_VAR, None)
        else:
            os.environ[PIP_SOURCE_ENV_VAR] = pip_source
        try:
            exec(compile(source, "<colab-setup>", "exec"), {"__name__": "__colab_setup__"})
        finally:
            if saved_module is None:
                sys.modules.pop("google.colab", None)
            else:
                sys.modules["google.colab"] = saved_module
            if saved_env is None:
                os.environ.pop(PIP_SOURCE_ENV_VAR, None)
            else:
                os.environ[PIP_SOURCE_ENV_VAR] = saved_env
    if not calls:
        return None
    if len(calls) != 1:
        raise RuntimeError(f"the set-up cell runs {len(calls)} commands; expected one pip install")
    return calls[0]


def pip_install_args(cmd: list[str]) -> list[str]:
    """The arguments after ``python -m pip install`` of a set-up command."""
    if cmd[1:4] != ["-m", "pip", "install"]:
        raise RuntimeError(f"the set-up cell runs {cmd!r}, not `python -m pip install ...`")
    return cmd[4:]


def judge_plan(report: dict, installed: dict[str, str], colab: dict[str, str]):
    """Rows ``(name, version, verdict, ok)`` for pip's ``--report`` of an install.

    A package pip would install is a failure if it is in the environment already (an upgrade,
    downgrade or reinstall of a preinstalled package) or if Colab ships it at another version.
    """
    rows = []
    for item in report.get("install", []):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        key = canonical(name)
        if key in installed:
            verb = ("reinstall" if installed[key] == version else
                    "upgrade" if _newer(version, installed[key]) else "downgrade")
            rows.append((name, version, f"{verb} of preinstalled {name} {installed[key]}", False))
        elif key in colab and colab[key] != version:
            rows.append((name, version, f"Colab ships {name} {colab[key]}: would replace it",
                         False))
        elif key in colab:
            rows.append((name, version, "same version as Colab's (not in this simulation)", True))
        elif key == "colorutils":
            url = item.get("download_info", {}).get("url", "")
            commit = item.get("download_info", {}).get("vcs_info", {}).get("commit_id", "")
            rows.append((name, version, f"new: the book's library from {url} {commit[:12]}",
                         True))
        else:
            rows.append((name, version, "new (not on Colab)", True))
    return rows


def _newer(a: str, b: str) -> bool:
    try:
        from packaging.version import Version

        return Version(a) > Version(b)
    except Exception:  # noqa: BLE001 - an unparsable version: call it a change either way
        return a > b


def freeze_changes(before: dict[str, str], after: dict[str, str], allowed=("colorutils",)):
    """Lines describing what changed between two freezes, except the ``allowed`` additions."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        if key in allowed and key not in before:
            continue
        lines.append(f"{key}: {before.get(key, '(absent)')} -> {after.get(key, '(removed)')}")
    return lines


# --------------------------------------------------------------------------- runs on Drive


def trained_epochs(root: pathlib.Path) -> dict[str, list]:
    """``{run folder relative to root: its history's epoch records}`` of every run under
    ``root`` (the ``seconds`` of each epoch tell a kept epoch from a retrained one)."""
    out = {}
    for history in sorted(root.rglob("history.json")) if root.is_dir() else []:
        try:
            data = json.loads(history.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # being written this instant
            continue
        out[str(history.parent.relative_to(root))] = list(data.get("seconds", []))
    return out


def newly_trained(before: dict[str, list], after: dict[str, list]) -> list[str]:
    """The runs that gained epochs between two :func:`trained_epochs` snapshots."""
    return sorted(run for run, epochs in after.items() if len(epochs) > len(before.get(run, [])))


def trained_twice(by_chapter: dict[str, list[str]]) -> dict[str, list[str]]:
    """``{run: [chapters]}`` of the runs that more than one chapter trained."""
    seen: dict[str, list[str]] = {}
    for chapter, trained in by_chapter.items():
        for run in trained:
            seen.setdefault(run, []).append(chapter)
    return {run: chapters for run, chapters in seen.items() if len(chapters) > 1}


def turing_game_missing(executed: pathlib.Path) -> str | None:
    """Chapter 06 on Colab shows the playable Turing test in its output (a ``srcdoc`` frame
    with the pairs as ``data:`` URIs, ``colorutils.turing.inline_page``): None if it does,
    else what is missing."""
    if not executed.exists():
        return f"{executed.name} was not executed"
    html = [o.get("data", {}).get("text/html", "") for c in json.loads(executed.read_text())["cells"]
            for o in c.get("outputs", [])]
    html = ["".join(h) if isinstance(h, list) else h for h in html]
    game = [h for h in html if "<iframe srcdoc=" in h]
    if not game:
        return "no Turing-test frame in chapter 06's output"
    if "data:image/png;base64," not in game[0] or "TURING_PAIRS" not in game[0]:
        return "the Turing-test frame carries no pairs"
    return None


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill papermill and its kernel (which runs in a session of its own), as a lost VM would."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for p in [*family, psutil.Process(proc.pid)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait()


class Chapters:
    """Runs chapters with papermill on the simulated Colab kernel."""

    def __init__(self, kernel, env, content, out_dir, logs, timeout):
        self.kernel, self.env, self.content = kernel, env, content
        self.out_dir, self.logs, self.timeout = out_dir, logs, timeout

    def start(self, nb: pathlib.Path, log: pathlib.Path, *params: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "papermill", str(nb), str(self.out_dir / nb.name),
               "-k", self.kernel, "-p", "scale", "smoke", *params, "--cwd", str(self.content),
               "--execution-timeout", str(self.timeout), "--no-progress-bar", "--log-output"]
        with open(log, "w") as fh:
            return subprocess.Popen(cmd, env=self.env, stdout=fh, stderr=subprocess.STDOUT)

    def run(self, nb: pathlib.Path, *params: str, log_name: str | None = None) -> bool:
        log = self.logs / f"{log_name or nb.stem}.log"
        ok = self.start(nb, log, *params).wait() == 0
        if not ok:
            say(f"  FAILED (log: {log})\n  " + "\n  ".join(
                log.read_text(errors="replace").splitlines()[-25:]))
        return ok

    def run_in_order(self, notebooks, root: pathlib.Path):
        """Every chapter in order; the models each trains (runs under ``root``) are counted."""
        failed, times, by_chapter = [], {}, {}
        for nb in notebooks:
            before, t0 = trained_epochs(root), time.monotonic()
            ok = self.run(nb)
            times[nb.name] = time.monotonic() - t0
            by_chapter[nb.stem[:2]] = newly_trained(before, trained_epochs(root))
            say(f"test-colab: {nb.name:<40} {times[nb.name]:6.0f} s  "
                f"{len(by_chapter[nb.stem[:2]]):2} models trained  {'ok' if ok else 'FAILED'}")
            if not ok:
                failed.append(nb.name)
        twice = trained_twice(by_chapter)
        say(f"test-colab: run root on the stand-in Drive: {root} "
            f"({len(trained_epochs(root))} runs); models trained by two chapters: "
            f"{twice or 'none'}")
        return failed, times, twice

    def kill_and_resume(self, nb: pathlib.Path, root: pathlib.Path, epochs: int = 3,
                        train_images: int = 512) -> str:
        """Kill ``nb`` once a run under ``root`` has an epoch, rerun it; '' if it resumed.

        ``epochs`` of ``train_images`` photos: enough steps that the kill lands between the
        first epoch and the last (smoke scale trains eagerly, a few seconds an epoch)."""
        params = ("-p", "run_root", str(root), "-p", "epochs", str(epochs),
                  "-p", "train_images", str(train_images), "-p", "seeds", "[0]")
        proc = self.start(nb, self.logs / f"{nb.stem}.killed.log", *params)
        at_kill: dict[str, list] = {}
        while proc.poll() is None and not at_kill:
            at_kill = {r: e for r, e in trained_epochs(root).items() if 0 < len(e) < epochs}
            time.sleep(0.2)
        time.sleep(1.0)  # the epoch's backup is written just after its history entry
        kill_tree(proc)
        if not at_kill:
            return "no run had finished an epoch and not all its epochs when the chapter ended"
        run = next(iter(at_kill))
        kept = trained_epochs(root)[run]
        say(f"test-colab: killed {nb.name} (papermill and kernel) with {run} at epoch "
            f"{len(kept)} of {epochs}; running it again")
        if len(kept) >= epochs:
            return f"{run} finished all {epochs} epochs before the kill; give it more photos"
        if not self.run(nb, *params, log_name=f"{nb.stem}.resumed"):
            return "the rerun failed"
        final = trained_epochs(root).get(run, [])
        say(f"test-colab: {run}: seconds of its epochs before the kill {kept}, after the "
            f"rerun {final}")
        # Resumed: its first epoch is the one trained before the kill, and it has all epochs.
        if len(final) != epochs or final[0] != kept[0]:
            return f"{run} has epochs {final}: expected the first, {kept[0]}, kept, {epochs} in all"
        return ""


# --------------------------------------------------------------------------- main


def git(*args) -> str:
    return run(["git", "-C", ROOT, *args], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the chapters on a simulated Colab")
    parser.add_argument("--venv", type=pathlib.Path, default=ROOT / ".venv-colab")
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "_build" / "test-colab")
    parser.add_argument("--timeout", type=int, default=1800, help="papermill seconds per cell")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="chapters to run (default: notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    venv, work = args.venv.resolve(), args.work.resolve()
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    started = time.monotonic()

    python = find_python313()
    if python is None:
        say("test-colab: SKIPPED: no Python 3.13 found (set COLAB_PYTHON, put python3.13 on "
            "PATH, or `pyenv install 3.13`); Colab runs Python 3.13.")
        return 0

    t0 = time.monotonic()
    reused = ensure_venv(venv, python)
    install_stand_in(site_packages(venv))  # the current stand-in, also in a reused venv
    say(f"test-colab: {'reused' if reused else 'built'} {venv} in {time.monotonic() - t0:.0f} s")
    if "colorutils" in freeze(venv):  # a fresh Colab runtime has no colorutils
        pip(venv, "uninstall", "-q", "-y", "colorutils")
    before = freeze(venv)
    vpy = venv_python(venv)
    say(f"test-colab: {run([vpy, '--version'], capture_output=True, text=True).stdout.strip()} "
        f"({vpy})")
    say("test-colab: " + ", ".join(f"{n} {before.get(n, '(absent)')}" for n in HEADLINE))
    colab = colab_pins()
    off = {n: (v, colab[n]) for n, v in before.items() if n in colab and colab[n] != v}
    if off:
        say(f"test-colab: FAILED: the environment differs from Colab's versions: {off}")
        return 1

    ref = os.environ.get("COLAB_SIM_REF") or git("rev-parse", "HEAD")
    pip_source = f"git+file://{ROOT}@{ref}"
    dirty = git("status", "--porcelain", "--", "colorutils", "data", "pyproject.toml")
    if dirty and not os.environ.get("COLAB_SIM_REF"):
        say("test-colab: note: uncommitted changes in colorutils/, data/ or pyproject.toml are "
            "not installed (the set-up cell installs a commit; commit them first):\n" + dirty)
    commands = {nb.name: setup_command(setup_cell(nb), pip_source) for nb in notebooks}
    defaults = {nb.name: setup_command(setup_cell(nb), None) for nb in notebooks}
    if any(c is None for c in commands.values()) or len({json.dumps(c[1:]) for c in
                                                         commands.values()}) != 1:
        say(f"test-colab: FAILED: the chapters' set-up cells differ or install nothing: "
            f"{commands}")
        return 1
    install_args = pip_install_args(next(iter(commands.values())))
    default_args = pip_install_args(next(iter(defaults.values())))
    say(f"test-colab: on Colab the set-up cell runs: pip install {' '.join(default_args)}")
    say(f"test-colab: here ({PIP_SOURCE_ENV_VAR}={pip_source}): "
        f"pip install {' '.join(install_args)}")

    report = json.loads(pip(venv, "install", *install_args, "--dry-run", "--quiet",
                            "--report", "-", capture_output=True, text=True).stdout)
    rows = judge_plan(report, before, colab)
    say("test-colab: pip's plan for the set-up cell (pip install --dry-run --report -):")
    width = max([len(r[0]) for r in rows] + [7])
    for name, version, verdict, ok in rows:
        say(f"  {'ok  ' if ok else 'FAIL'} {name:<{width}} {version:<10} {verdict}")
    bad = [r for r in rows if not r[3]]
    say(f"test-colab: preinstalled packages pip would change: "
        f"{', '.join(r[0] for r in bad) if bad else 'none'}")
    if bad:
        say("test-colab: FAILED: lower colorutils' dependency bounds in pyproject.toml to "
            "versions Colab ships (tests/colab/constraints.txt)")
        return 1

    shutil.rmtree(work, ignore_errors=True)
    content, out_dir, logs = work / "content", work / "executed", work / "logs"
    for d in (content, out_dir, logs):
        d.mkdir(parents=True)
    env = dict(os.environ)
    for var in ("PYTHONPATH", "COLORBOOK_SCALE", "VIRTUAL_ENV"):
        env.pop(var, None)
    for var in ("COLORBOOK_RUNS", DRIVE_MOUNT_ENV_VAR):
        env.pop(var, None)
    env.update({PIP_SOURCE_ENV_VAR: pip_source, DRIVE_MOUNT_ENV_VAR: str(work / "drive"),
                "JUPYTER_PATH": str(venv / "share" / "jupyter"),
                "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "2")})
    chapters = Chapters(KERNEL_NAME, env, content, out_dir, logs, args.timeout)
    failed, times, twice = chapters.run_in_order(notebooks, work / "drive" / pathlib.Path(
        *DRIVE_RUN_ROOT))
    if twice:
        failed.append("each model trained once")
    for nb in notebooks:
        if nb.name.startswith("06_") and nb.name not in failed:
            missing = turing_game_missing(out_dir / nb.name)
            say(f"test-colab: chapter 06 shows the playable Turing test inline: "
                f"{missing or 'yes'}")
            if missing:
                failed.append(f"Turing test inline ({missing})")
    if any(nb.name.startswith("02_") for nb in notebooks) and not failed:
        resume = chapters.kill_and_resume(
            next(nb for nb in notebooks if nb.name.startswith("02_")),
            work / "drive" / "MyDrive" / "resume-check")
        if resume:
            failed.append(f"resume from Drive ({resume})")

    after = freeze(venv)
    changes = freeze_changes(before, after)
    say(f"test-colab: pip freeze after the set-up cells: colorutils "
        f"{after.get('colorutils', '(not installed)')} added; other changes: "
        f"{'; '.join(changes) if changes else 'none'}")
    if "colorutils" in after:
        probe = run([vpy, "-c", "import colorutils, colorutils.data as c; "
                     "print(colorutils.__version__, colorutils.__file__, c.pack_dir(), "
                     "c.split_sizes())"], cwd=content, capture_output=True, text=True, env=env)
        say(f"test-colab: installed colorutils (from {content}): {probe.stdout.strip()}")
    say(f"test-colab: {len(notebooks) - len(failed)}/{len(notebooks)} chapters passed in "
        f"{sum(times.values()):.0f} s; total {time.monotonic() - started:.0f} s")
    if failed or changes or "colorutils" not in after:
        say(f"test-colab: FAILED: {', '.join(failed) or 'pip freeze changed'}")
        return 1
    say("test-colab: PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
