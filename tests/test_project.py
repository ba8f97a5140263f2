"""Project conventions a reader or a CI run would notice when broken."""

from __future__ import annotations

import json
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
    colab_src = "".join(colab[0]["source"])
    assert "if \"google.colab\" in sys.modules" in colab_src
    assert REPO_URL in colab_src, f"{path.name}: Colab cell must install from {REPO_URL}"
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
        colab = f"colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}"
        assert f"{colab}/blob/main/notebooks/{path.name}" in readme, (
            f"README lacks the Colab badge of {path.name}")


def test_cli_help_works():
    out = subprocess.run([sys.executable, "-m", "colorutils.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for sub in ("colorize", "evaluate", "experiments"):
        assert sub in out


def test_bad_scale_names_allowed_values():
    from colorutils import settings

    with pytest.raises(ValueError, match="smoke, book, full"):
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
