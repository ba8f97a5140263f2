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
    assert re.search(r"^make test-colab\b", ci, re.M)
    assert re.search(r"^make test-full\b", ci, re.M)


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


def _nbstripout_args() -> list[str]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert {"nbstripout", "ruff"} <= set(hooks), "pre-commit needs the nbstripout and ruff hooks"
    entry = shlex.split(hooks["nbstripout"]["entry"]) + hooks["nbstripout"].get("args", [])
    assert entry[0] == "nbstripout"
    return entry[1:]


def test_committed_notebooks_are_stripped_as_pre_commit_strips_them(tmp_path):
    """nbstripout (with the hook's arguments) must leave every committed notebook unchanged,
    in particular the stored output that nbval compares in chapter 01."""
    args = _nbstripout_args()
    assert "--keep-id" in args, "without --keep-id nbstripout renumbers every cell id"
    exe = shutil.which("nbstripout", path=str(pathlib.Path(sys.executable).parent))
    assert exe, "nbstripout is missing: make setup installs the [dev] extra"
    copies = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        copies.append((path, tmp_path / path.name))
        shutil.copy(path, copies[-1][1])
    subprocess.run([exe, *args, *[str(c) for _, c in copies]], check=True)
    changed = [p.name for p, c in copies if c.read_bytes() != p.read_bytes()]
    assert not changed, f"nbstripout would change {changed}: strip them, or mark keep_output"
    checked = [c for p, c in copies for cell in json.loads(c.read_text())["cells"]
               if "NBVAL_CHECK_OUTPUT" in "".join(cell["source"])]
    assert checked, "no cell compares its output (NBVAL_CHECK_OUTPUT)"
    for copy in checked:
        nb = json.loads(copy.read_text())
        for cell in nb["cells"]:
            if "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
                assert cell["outputs"], f"{copy.name}: nbstripout dropped nbval's stored output"


@pytest.mark.parametrize("name", ["CONTRIBUTING.md"])
def test_contributing_says_how_to_test_and_how_outputs_stay_out_of_git(name):
    text = (ROOT / name).read_text()
    for needle in ("make test", "make test-colab", "pre-commit install", "nbstripout",
                   "keep_output", "NBVAL_CHECK_OUTPUT"):
        assert needle in text, f"{name} should mention {needle}"
