"""Publishing: the Pages workflow, the licences, the citation, and how outputs stay out of git."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
README = (ROOT / "README.md").read_text()
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"

sys.path.insert(0, str(ROOT / "tests" / "colab"))
import notebook_setup  # noqa: E402

VERSION = notebook_setup.version()


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_workflow_is_valid_yaml_using_the_official_pages_actions():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers and "pull_request" in triggers
    used = {step["uses"].split("@")[0] for step in _steps(workflow) if "uses" in step}
    for action in ("actions/checkout", "actions/setup-python", "actions/configure-pages",
                   "actions/upload-pages-artifact", "actions/deploy-pages"):
        assert action in used, f"{WORKFLOW.name} does not use {action}"
    assert all("@" in step["uses"] for step in _steps(workflow) if "uses" in step), (
        "pin every action to a version")
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert "build" in deploy["needs"]
    upload = next(s for s in _steps(workflow) if s.get("uses", "").startswith(
        "actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"


def test_workflow_runs_the_ci_entry_point_and_caches_executions():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    runs = [step.get("run", "") for step in _steps(workflow)]
    assert any(r.strip() == ".ci/run" for r in runs), "the workflow must run .ci/run"
    cache = next(s for s in _steps(workflow) if s.get("uses", "").startswith("actions/cache"))
    paths = cache["with"]["path"].split()
    assert "_build/.jupyter_cache" in paths and "runs/book" in paths
    for source in ("notebooks/", "colorutils/", "_config.yml", "pyproject.toml"):
        assert source in cache["with"]["key"], f"the cache key must change with {source}"
    assert "restore-keys" not in cache["with"], (
        "a cache from other library code would publish stale executions")


def test_workflow_does_not_write_the_repository_address():
    text = WORKFLOW.read_text()
    assert REPO_URL not in text
    assert REPO_URL.split("github.com/")[1] not in text


def test_ci_runs_the_colab_simulation_and_the_full_dry_run():
    ci = (ROOT / ".ci" / "run").read_text()
    # each guarded by the time left of CI's 90 minutes (indented inside its `if`)
    assert re.search(r"^\s*make test-colab\b", ci, re.M)
    assert re.search(r"^\s*make test-full\b", ci, re.M)
    assert re.search(r"^make test-slow\b", ci, re.M) and re.search(r"^make book\b", ci, re.M)


def test_licence_file_covers_code_text_and_says_what_it_does_not_cover():
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "CC BY 4.0" in licence
    assert "data/cifar10" in licence
    assert PYPROJECT["license"] == "MIT"
    assert "LICENSE" in PYPROJECT["license-files"]
    assert "CC BY 4.0" in README and "MIT" in README


def test_readme_names_the_release_the_set_up_cell_installs():
    tags = set(re.findall(r"@v(\d+\.\d+\.\d+)", README))
    assert tags == {VERSION}, f"README names v{tags}, the set-up cells install v{VERSION}"


def _readme_bibtex() -> dict:
    entry = re.search(r"```bibtex\n(@\w+\{.*?\n\})\n```", README, re.S)
    assert entry, "README lacks its bibtex entry"
    fields = dict(re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$", entry[1], re.M))
    return {k: v.strip("{}") for k, v in fields.items()}


def test_citation_file_agrees_with_readme_config_and_pyproject():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    bib = _readme_bibtex()
    assert cff["cff-version"] == "1.2.0" and cff["message"]
    assert cff["title"] == bib["title"] == CONFIG["title"]
    assert [a["name"] for a in cff["authors"]] == [bib["author"]] == [CONFIG["author"]]
    assert cff["url"] == cff["repository-code"] == bib["url"] == REPO_URL
    assert str(cff["version"]) == VERSION, (
        f"CITATION.cff says version {cff['version']}, colorutils is {VERSION}")
    assert cff["license"] == PYPROJECT["license"]
    cited = cff["preferred-citation"]
    assert cited["title"] == bib["title"] and str(cited["year"]) == bib["year"]
    assert cited["url"] == REPO_URL and cited["license"] == "CC-BY-4.0"
    assert str(cited["year"]) == str(CONFIG["copyright"])


def _strip_hook() -> list[str]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert {"nbstripout", "ruff"} <= set(hooks), "pre-commit needs the nbstripout and ruff hooks"
    hook = hooks["nbstripout"]
    assert any(d.startswith("nbstripout==") for d in hook["additional_dependencies"])
    return shlex.split(hook["entry"]) + hook.get("args", [])


def test_committed_notebooks_are_stripped_as_pre_commit_strips_them(tmp_path):
    """The nbstripout hook must leave every committed notebook unchanged, and keep what nbval
    compares in chapter 01: the stored output and an execution count (without one nbval
    skips the cell as unrun)."""
    entry = _strip_hook()
    assert entry[0] == "python"
    copies = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        copies.append((path, tmp_path / path.name))
        shutil.copy(path, copies[-1][1])
    done = subprocess.run([sys.executable, *entry[1:], *[str(c) for _, c in copies]],
                          cwd=ROOT, capture_output=True, text=True)
    changed = [p.name for p, c in copies if c.read_bytes() != p.read_bytes()]
    assert not changed and done.returncode == 0, (
        f"the hook would change {changed}: run .venv/bin/pre-commit run --all-files "
        f"({done.stdout}{done.stderr})")
    checked = [cell for _, c in copies for cell in json.loads(c.read_text())["cells"]
               if "NBVAL_CHECK_OUTPUT" in "".join(cell["source"])]
    assert checked, "no cell compares its output (NBVAL_CHECK_OUTPUT)"
    for cell in checked:
        assert cell["outputs"] and cell["execution_count"] is not None, (
            "the hook dropped what nbval compares")
        # nbval reads the marker only as a comment line of exactly "# NBVAL_CHECK_OUTPUT"
        marked = any(line.strip().lstrip("#").strip() == "NBVAL_CHECK_OUTPUT"
                     for line in "".join(cell["source"]).splitlines())
        assert marked or "nbval-check-output" in cell["metadata"].get("tags", []), (
            "nbval would not compare this cell: tag it nbval-check-output")


def test_the_strip_hook_strips_an_executed_notebook(tmp_path):
    path = ROOT / "notebooks" / "01_color_spaces.ipynb"
    nb = json.loads(path.read_text())
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = cell["outputs"] or [
            {"name": "stdout", "output_type": "stream", "text": ["x\n"]}]
        cell["metadata"]["ExecuteTime"] = {"start_time": "2026-01-01"}
    executed = tmp_path / path.name
    executed.write_text(notebook_setup.dumps(nb))
    subprocess.run([sys.executable, *_strip_hook()[1:], str(executed)], cwd=ROOT)
    assert executed.read_text() == path.read_text()


@pytest.mark.parametrize("name", ["CONTRIBUTING.md"])
def test_contributing_says_how_to_test_and_how_outputs_stay_out_of_git(name):
    text = (ROOT / name).read_text()
    for needle in ("make test", "make test-colab", "pre-commit install", "nbstripout",
                   "keep_output", "NBVAL_CHECK_OUTPUT"):
        assert needle in text, f"{name} should mention {needle}"


def test_the_bibliography_parses_and_every_citation_has_an_entry():
    """A broken references.bib stops `make book` at its very end (sphinxcontrib-bibtex); this
    fails in seconds instead, and names the key a page cites but the file lacks."""
    pybtex = pytest.importorskip("pybtex.database", reason="pybtex comes with the [book] extra")
    root = pathlib.Path(__file__).resolve().parents[1]
    entries = pybtex.parse_file(str(root / "book" / "references.bib")).entries
    cited = set()
    pages = [p for p in root.glob("book/**/*.md") if p.name != "AUTHORING.md"]  # it has examples
    for page in [*pages, *root.glob("notebooks/*.ipynb")]:
        for keys in re.findall(r"\{cite[pt]?\}`([^`\n]+)`", page.read_text(encoding="utf-8")):
            cited.update(k.strip() for k in keys.split(","))
    missing = sorted(cited - set(entries))
    assert not missing, f"cited but not in book/references.bib: {missing}"
