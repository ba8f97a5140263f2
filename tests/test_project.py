"""Project conventions a reader or a CI run would notice when broken."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]

sys.path.insert(0, str(ROOT / "tests" / "colab"))
import derive_constraints  # noqa: E402
import notebook_setup  # noqa: E402
import simulate  # noqa: E402

VERSION = notebook_setup.version()


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {r.replace(" ", "") for r in reqs}


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {r.replace(" ", "") for r in pip if not r.startswith("-e")}


def test_environment_matches_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec python3 missing (papermill needs it)")
    cells = nb["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    params = "".join(tagged[0]["source"])
    assert re.search(r"^scale\s*=", params, re.M), f"{path.name}: parameters cell lacks `scale`"
    first_md = next(c for c in cells if c["cell_type"] == "markdown")
    assert "What you will learn" in "".join(first_md["source"]), (
        f"{path.name}: the first text cell should say what the reader will learn")
    colab = [c for c in cells if "google.colab" in "".join(c["source"])]
    assert colab, f"{path.name}: no Colab set-up cell"
    assert cells.index(colab[0]) < cells.index(tagged[0]), "Colab cell before parameters"
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        checked = "NBVAL_CHECK_OUTPUT" in "".join(cell["source"])
        if not checked:
            assert not cell.get("outputs"), (
                f"{path.name}: outputs must be stripped (cell: {''.join(cell['source'])[:60]!r})")
            assert cell.get("execution_count") is None


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} missing from book/_toc.yml"


def test_readme_has_two_commands_and_colab_badges():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    for path in NOTEBOOKS:
        assert notebook_setup.colab_url(path.name) in readme, (
            f"README lacks the Colab badge of {path.name} ({notebook_setup.colab_url(path.name)})")


# ---------------------------------------------------------------------------------------------
# Colab: what a student who clicks "Open in Colab" gets
# ---------------------------------------------------------------------------------------------


def _setup_cell(nb):
    return notebook_setup.first_code_cell(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_setup_cell_installs_the_release_without_extras_and_is_hidden(path):
    nb = json.loads(path.read_text())
    cell = _setup_cell(nb)
    tags = cell.get("metadata", {}).get("tags", [])
    assert cell["cell_type"] == "code" and "colab-setup" in tags, (
        f"{path.name}: the first code cell must be the Colab set-up cell (tag colab-setup)")
    assert "remove-cell" in tags, f"{path.name}: the set-up cell must be hidden (remove-cell)"
    src = "".join(cell["source"])
    found = notebook_setup.SOURCE_PATTERN.search(src)
    assert found, f"{path.name}: the set-up cell must install git+URL@vVERSION"
    assert found["url"] == REPO_URL, f"{path.name}: installs from {found['url']}, not {REPO_URL}"
    assert found["version"] == VERSION, (
        f"{path.name}: pins v{found['version']}, but colorutils is {VERSION}; run "
        f"python tests/colab/notebook_setup.py")
    assert "colorutils[" not in src, f"{path.name}: Colab must install no extras"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_setup_cell_runs_one_pip_install_only_on_colab(path):
    src = "".join(_setup_cell(json.loads(path.read_text()))["source"])
    default = simulate.setup_command(src, None)
    assert default == [sys.executable, "-m", "pip", "install", "-q",
                       f"colorutils @ git+{REPO_URL}@v{VERSION}"]
    local = simulate.setup_command(src, "git+file:///tmp/clone@abc123")
    assert local[-1] == "colorutils @ git+file:///tmp/clone@abc123"
    # Outside Colab the cell runs nothing.
    calls = []
    real_run = subprocess.run
    try:
        subprocess.run = lambda *a, **k: calls.append(a)
        exec(compile(src, path.name, "exec"), {})
    finally:
        subprocess.run = real_run
    assert "google.colab" not in sys.modules and calls == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_metadata_and_badge_in_the_first_cell(path):
    nb = json.loads(path.read_text())
    meta = nb["metadata"]
    assert meta.get("accelerator") == "GPU", f"{path.name}: metadata.accelerator GPU missing"
    assert meta.get("colab", {}).get("name") == path.name
    assert isinstance(meta["colab"].get("provenance"), list)
    first_md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    lines = "".join(first_md["source"]).splitlines()
    assert lines[0].startswith("# ") and lines[1] == ""
    assert lines[2] == notebook_setup.badge(path.name), (
        f"{path.name}: the Open in Colab badge belongs right after the title")
    assert "What you will learn" in "".join(lines[3:])


def test_colab_parts_of_every_notebook_are_up_to_date():
    stale = notebook_setup.stale()
    assert not stale, (f"{[p.name for p in stale]}: run python tests/colab/notebook_setup.py")


def test_python_and_dependencies_admit_colab():
    """Colab installs colorutils with its runtime dependencies only; Colab's own versions
    (tests/colab/constraints.txt) must satisfy every range, and Python 3.13 the bound."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert SpecifierSet(project["requires-python"]).contains("3.13.15")
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str)
                        and d.startswith("python"))
    assert conda_python == "python" + project["requires-python"], (
        "environment.yml's python must match requires-python")
    colab = simulate.colab_pins()
    for req in map(Requirement, project["dependencies"]):
        version = colab.get(simulate.canonical(req.name))
        assert version is not None, f"{req.name} is not on Colab: the set-up cell would add it"
        assert req.specifier.contains(version), (
            f"{req}: Colab ships {req.name} {version}; pip would replace it")


def test_colab_constraints_are_derived_from_colabs_package_list():
    assert derive_constraints.main(["--check"]) == 0
    pins = simulate.colab_pins()
    assert pins["tensorflow"] == "2.20.0" and pins["keras"] == "3.13.2"
    assert not [v for v in pins.values() if "+" in v]
    assert "google-colab" not in pins and "torch" not in pins


def test_the_colab_plan_check_flags_changes_to_preinstalled_packages():
    installed = {"numpy": "2.1.3", "keras": "3.13.2"}
    colab = {"numpy": "2.1.3", "keras": "3.13.2", "pandas": "2.2.3"}

    def item(name, version):
        return {"metadata": {"name": name, "version": version}}

    rows = simulate.judge_plan({"install": [item("colorutils", "0.2.0"), item("rich", "1.0")]},
                               installed, colab)
    assert all(ok for *_, ok in rows)
    for bad in (item("numpy", "2.3.0"), item("keras", "3.0.0"), item("pandas", "3.0.0")):
        (row,) = simulate.judge_plan({"install": [bad]}, installed, colab)
        assert not row[3], row
    assert "upgrade" in simulate.judge_plan({"install": [item("numpy", "2.3.0")]},
                                            installed, colab)[0][2]
    assert simulate.freeze_changes({"numpy": "2.1.3"}, {"numpy": "2.1.3", "colorutils": "0.2"}
                                   ) == []
    assert simulate.freeze_changes({"numpy": "2.1.3"}, {"numpy": "2.2.0"}) == [
        "numpy: 2.1.3 -> 2.2.0"]


def test_the_colab_stand_in_leaves_google_protobuf_importable(tmp_path):
    """google is a namespace package shared with protobuf: the stand-in must not shadow it."""
    site = tmp_path / "site"
    (site / "google" / "protobuf_like").mkdir(parents=True)
    (site / "google" / "protobuf_like" / "__init__.py").write_text("OK = 1\n")
    simulate.install_stand_in(site)
    assert not (site / "google" / "__init__.py").exists()
    out = subprocess.run(
        [sys.executable, "-c", "import google.protobuf, google.protobuf_like, google.colab; "
         "print(google.colab.SIMULATED, google.protobuf_like.OK)"],
        env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "1"]


def test_cli_help_works():
    out = subprocess.run([sys.executable, "-m", "colorutils.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for sub in ("colorize", "evaluate", "experiments"):
        assert sub in out


def test_bad_scale_names_allowed_values():
    from colorutils import settings

    with pytest.raises(ValueError, match="smoke, book, colab, full"):
        settings.resolve("huge")
    with pytest.raises(ValueError, match="epochs"):
        settings.resolve("smoke", epochs=0)


TRAINING_CHAPTERS = ("02_regression_vs_classification", "03_rebalancing_and_decoding",
                     "04_architectures", "05_fusion_network", "06_evaluation", "07_interplay")


@pytest.mark.parametrize("stem", TRAINING_CHAPTERS)
def test_training_chapters_default_to_the_embedded_photos(stem):
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    params = next("".join(c["source"]) for c in nb["cells"]
                  if "parameters" in c.get("metadata", {}).get("tags", []))
    assert re.search(r'^dataset = "cifar10"', params, re.M), (
        f"{stem}: the default dataset of a chapter that trains a model is the embedded pack")


@pytest.mark.parametrize("stem", TRAINING_CHAPTERS)
def test_training_chapters_write_their_numbers_where_the_runs_are(stem):
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    source = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert f'cfg.chapter_file("{stem}")' in source, (
        f"{stem}: the numbers its prose quotes go to runs/<scale>/<dataset>/chapters/")


def test_the_full_dry_run_table_names_existing_parameters():
    """make test-full shrinks each training chapter through parameters listed in one table;
    a renamed parameter must show up here (quickly), not as a silently ignored papermill -p."""
    sys.path.insert(0, str(ROOT / "tests"))
    import full_dry_run

    assert full_dry_run.problems() == []
    bad = full_dry_run.problems({"02_regression_vs_classification": {"no_such_knob": 1}})
    assert any("no parameter 'no_such_knob'" in p for p in bad)
    assert any("03_rebalancing_and_decoding.ipynb trains a model but has no row" in p
               for p in bad)



def test_no_notebook_shows_a_machine_path_or_file_address():
    """The rendered pages show every cell's source (the Colab set-up cell folded): no
    ``file://`` address or absolute path of a build machine may appear in one."""
    sys.path.insert(0, str(ROOT / "tests"))
    import book_checks

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            found = book_checks.find_machine_path("".join(cell["source"]))
            assert found is None, f"{path.name}: {found!r} in a {cell['cell_type']} cell"


#: Chapters that write no run folder, so have no ``run_root`` (and ask for no Drive).
NO_RUN_FOLDERS = ("00_data", "01_color_spaces")
RUN_FOLDER_CODE = ("cfg.run_dir", "cfg.run_root", "chapter_file", "Study(", "train_best", ".fit(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapters_with_run_folders_choose_their_root_after_the_parameters(path):
    """On Colab the runs go to Drive (issue 26): ``run_root`` and ``use_drive`` in the
    parameters cell, applied in the check right after it, so ``papermill -p run_root`` works."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    i = next(k for k, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    params, check = ("".join(c["source"]) for c in cells[i:i + 2])
    if path.stem in NO_RUN_FOLDERS:
        code = "".join("".join(c["source"]) for c in cells)
        used = [word for word in RUN_FOLDER_CODE if word in code]
        assert not used, f"{path.name} uses run folders ({used}): give it run_root and use_drive"
        return
    assert re.search(r"^run_root = None\b", params, re.M), f"{path.name}: no run_root = None"
    assert re.search(r"^use_drive = True\b", params, re.M), f"{path.name}: no use_drive = True"
    call = "settings.choose_run_root(run_root, use_drive)"
    assert call in check and check.index(call) < check.index("settings.resolve"), (
        f"{path.name}: the cell after the parameters must call {call} before resolving")


def _colab_minutes(text: str) -> str:
    found = re.search(r'`"colab"`[^\n]*?about (\d+) min', text)
    return found[1] if found else ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_chapter_says_what_each_scale_costs_as_the_readme_does(path):
    cells = json.loads(path.read_text())["cells"]
    first = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown")
    text = "".join(cells[first + 1]["source"])
    for scale in ("smoke", "book", "colab"):
        assert f'`"{scale}"`' in text, f"{path.name}: the cost cell lacks scale {scale}"
    assert "estimate" in text and "measured" in text, f"{path.name}: say what is measured"
    row = next(line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith(f"| {path.name[:2]} ") and "colab.research" in line)
    assert _colab_minutes(text) and f"about {_colab_minutes(text)} min" in row, (
        f"{path.name}: its cost cell and the README's Colab table give other colab minutes")
