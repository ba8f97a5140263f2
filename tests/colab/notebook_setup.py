"""What Colab reads in every chapter, written into the notebooks from one template.

Four parts of each ``notebooks/*.ipynb`` belong to this script; it touches nothing else:

1. the notebook metadata: ``accelerator: GPU`` and ``colab: {name, provenance}`` (Colab opens
   a GPU runtime and shows the name), next to the ``kernelspec`` python3 that papermill needs;
2. in the first markdown cell, right after its title line, the "Open in Colab" badge;
3. the second cell, the Colab set-up cell (tags ``colab-setup`` and ``remove-cell``, so the
   rendered book hides it): on Colab only, ``pip install "colorutils @ git+URL@vVERSION"``, the
   runtime dependencies only (no extras), at the release tag of ``colorutils.__version__``;
4. the metadata ``keep_output: true`` of every cell that nbval compares (``NBVAL_CHECK_OUTPUT``
   in its source), so that nbstripout (pre-commit) keeps the stored output nbval needs (and
   an ``execution_count`` of null, which nbstripout writes anyway).

The repository URL and branch are read from ``_config.yml`` (``repository.url``/``branch``,
the one place they are written), the version from ``colorutils/__init__.py``.  After changing
either, run::

    python tests/colab/notebook_setup.py          # rewrite those parts of every chapter
    python tests/colab/notebook_setup.py --check  # exit 1 if a chapter is out of date

``tests/test_project.py`` runs the check.  The JSON is written the way the notebooks are
stored (``indent=1``, UTF-8, trailing newline, key order kept), so a diff shows only the change.
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SETUP_TAGS = ["colab-setup", "remove-cell"]
PIP_SOURCE_ENV_VAR = "COLORBOOK_PIP_SOURCE"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

SETUP_TEMPLATE = '''\
# Colab set-up (hidden in the book): on Google Colab, install the book's library colorutils.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    # The release these chapters were written for, without extras: Colab's own packages
    # already satisfy its dependencies, so pip adds colorutils and changes nothing else.
    # {env_var} (a pip URL such as git+file:///path/to/clone@REF) overrides it.
    source = os.environ.get(
        "{env_var}",
        "git+{url}@v{version}")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"colorutils @ {{source}}"],
                   check=True)'''

#: The default source in a set-up cell: ``git+URL@vVERSION``.
SOURCE_PATTERN = re.compile(r'"git\+(?P<url>https://[^"@]+)@v(?P<version>[^"]+)"')


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def repo_url() -> str:
    """``repository.url`` of ``_config.yml``, without a trailing slash."""
    return config()["repository"]["url"].rstrip("/")


def repo_branch() -> str:
    return config()["repository"].get("branch", "main")


def version() -> str:
    """``colorutils.__version__``, read without importing the package."""
    tree = ast.parse((ROOT / "colorutils" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError("colorutils/__init__.py does not set __version__")


def colab_url(notebook_name: str, url: str | None = None, branch: str | None = None) -> str:
    """Where Colab opens ``notebooks/NAME`` of the repository's branch."""
    url = url or repo_url()
    github_path = url.split("github.com/", 1)[1]
    return (f"https://colab.research.google.com/github/{github_path}/blob/"
            f"{branch or repo_branch()}/notebooks/{notebook_name}")


def badge(notebook_name: str, url: str | None = None, branch: str | None = None) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_name, url, branch)})"


def setup_source(url: str | None = None, ver: str | None = None) -> str:
    return SETUP_TEMPLATE.format(env_var=PIP_SOURCE_ENV_VAR, url=url or repo_url(),
                                 version=ver or version())


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def apply(nb: dict, name: str, url: str | None = None, branch: str | None = None,
          ver: str | None = None) -> dict:
    """Write the Colab parts into notebook ``nb`` (file name ``name``), in place."""
    cells = nb["cells"]
    first_md = next((c for c in cells if c["cell_type"] == "markdown"), None)
    if first_md is None or not "".join(first_md["source"]).startswith("# "):
        raise ValueError(f"{name}: the first markdown cell must start with the '# title' line")
    src = _lines("".join(first_md["source"]))
    rest = src[1:]
    # Drop a badge written earlier (and the blank line after it), then insert the current one.
    if len(rest) >= 2 and rest[0].strip() == "" and rest[1].startswith("[![Open In Colab]"):
        rest = rest[2:]
    first_md["source"] = [src[0], "\n", badge(name, url, branch) + "\n"] + rest

    if len(cells) < 2 or cells[1]["cell_type"] != "code" or not (
            "colab-setup" in cells[1].get("metadata", {}).get("tags", [])
            or "google.colab" in "".join(cells[1]["source"])):
        raise ValueError(f"{name}: the second cell must be the Colab set-up code cell")
    setup = cells[1]
    setup["source"] = _lines(setup_source(url, ver))
    tags = setup.setdefault("metadata", {}).get("tags", [])
    setup["metadata"]["tags"] = SETUP_TAGS + [t for t in tags if t not in SETUP_TAGS]
    setup["outputs"] = []
    setup["execution_count"] = None

    for cell in cells:
        if cell["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            cell["metadata"] = dict(sorted({**cell.get("metadata", {}),
                                            "keep_output": True}.items()))
            cell["execution_count"] = None  # nbstripout clears it even where it keeps output

    meta = nb.setdefault("metadata", {})
    colab = dict(meta.get("colab", {}))
    colab["name"] = name
    colab.setdefault("provenance", [])
    meta["accelerator"] = "GPU"
    meta["colab"] = dict(sorted(colab.items()))
    if meta.get("kernelspec", {}).get("name") != "python3":
        raise ValueError(f"{name}: kernelspec python3 missing (papermill needs it)")
    nb["metadata"] = dict(sorted(meta.items()))
    return nb


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def stale(paths=None) -> list[pathlib.Path]:
    """The notebooks whose Colab parts differ from the template."""
    out = []
    for path in paths or sorted(NOTEBOOKS.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        if dumps(apply(json.loads(text), path.name)) != text:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook differs")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.check:
        bad = stale(paths)
        for path in bad:
            print(f"{path}: Colab parts out of date; run python tests/colab/notebook_setup.py",
                  file=sys.stderr)
        return 1 if bad else 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = dumps(apply(json.loads(text), path.name))
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
