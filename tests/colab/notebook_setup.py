"""What Colab reads in every chapter, written into the notebooks from one template.

Four parts of each ``notebooks/*.ipynb`` belong to this script; it touches nothing else:

1. the notebook metadata: ``accelerator: GPU`` and ``colab: {name, provenance}`` (Colab opens
   a GPU runtime and shows the name), next to the ``kernelspec`` python3 that papermill needs;
2. in the first markdown cell, right after its title line, the "Open in Colab" badge;
3. the first code cell, the Colab set-up cell (tags ``colab-setup`` and ``remove-cell``, so
   the rendered book hides it): on Colab only, ``pip install "colorutils @ git+URL@vVERSION"``, the
   runtime dependencies only (no extras), at the release tag of ``colorutils.__version__``;
4. the metadata of every cell that nbval compares (``NBVAL_CHECK_OUTPUT`` in its source): the
   tag ``nbval-check-output`` (nbval reads the comment only when the line is exactly
   ``# NBVAL_CHECK_OUTPUT``), ``keep_output: true`` so that nbstripout keeps the stored
   output nbval needs, and its
   ``execution_count`` 1 (nbval skips a cell without a count, as "unrun", and nbstripout
   clears every count).

It is also the pre-commit hook that keeps outputs out of git (``--strip``): nbstripout's
``strip_output`` (outputs, counts and UI metadata go; cell ids and ``keep_output`` cells
stay), then the four parts above, so a committed notebook is a fixed point of both.

The repository URL and branch are read from ``_config.yml`` (``repository.url``/``branch``,
the one place they are written), the version from ``colorutils/__init__.py``.  After changing
either, run::

    python tests/colab/notebook_setup.py          # rewrite those parts of every chapter
    python tests/colab/notebook_setup.py --check  # exit 1 if a chapter is out of date
    python tests/colab/notebook_setup.py --strip FILES  # the pre-commit hook: strip, then write

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
#: nbval's tag for "compare this cell's output": its comment marker counts only as a comment
#: line of exactly ``# NBVAL_CHECK_OUTPUT``, so the tag makes any mention of it work.
NBVAL_TAG = "nbval-check-output"
PIP_SOURCE_ENV_VAR = "COLORBOOK_PIP_SOURCE"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

SETUP_TEMPLATE = '''\
# Colab set-up (hidden in the book): on Google Colab, install the book's library colorutils.
# A chapter that trains keeps its models on Google Drive there (parameters run_root and
# use_drive), so that later chapters reuse them and a disconnect resumes.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    # The release these chapters were written for, without extras: Colab's own packages
    # already satisfy its dependencies, so pip adds colorutils and changes nothing else.
    # {env_var} (any pip requirement URL, e.g. a fork at a tag) overrides it.
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

    setup = first_code_cell(nb)
    if setup is None or not ("colab-setup" in setup.get("metadata", {}).get("tags", [])
                             or "google.colab" in "".join(setup["source"])):
        raise ValueError(f"{name}: the first code cell must be the Colab set-up cell")
    setup["source"] = _lines(setup_source(url, ver))
    tags = setup.setdefault("metadata", {}).get("tags", [])
    setup["metadata"]["tags"] = SETUP_TAGS + [t for t in tags if t not in SETUP_TAGS]
    setup["outputs"] = []
    setup["execution_count"] = None

    for cell in cells:
        if cell["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            cell["metadata"] = dict(sorted({**cell.get("metadata", {}),
                                            "keep_output": True}.items()))
            tags = cell["metadata"].get("tags", [])
            if NBVAL_TAG not in tags:
                cell["metadata"]["tags"] = tags + [NBVAL_TAG]
            cell["execution_count"] = 1 if cell.get("outputs") else None

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


def first_code_cell(nb: dict) -> dict | None:
    """The set-up cell's place: the first code cell (after the title cell and, where a chapter
    has it, the cell saying what each scale costs)."""
    return next((c for c in nb["cells"] if c["cell_type"] == "code"), None)


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


#: What nbstripout's command line strips from metadata besides outputs and counts.
STRIP_EXTRA_KEYS = ["metadata.signature", "metadata.widgets", "cell.metadata.collapsed",
                    "cell.metadata.ExecuteTime", "cell.metadata.execution",
                    "cell.metadata.heading_collapsed", "cell.metadata.hidden",
                    "cell.metadata.scrolled"]


def strip(nb: dict) -> dict:
    """nbstripout's ``strip_output`` with ``--keep-id``: outputs, counts and UI metadata go,
    except the outputs of cells marked ``keep_output``."""
    import nbformat
    from nbstripout import strip_output

    node = nbformat.from_dict(nb)
    strip_output(node, keep_output=False, keep_count=False, keep_id=True,
                 extra_keys=STRIP_EXTRA_KEYS)
    return json.loads(json.dumps(node))


def clean(text: str, name: str, stripped: bool = True) -> str:
    """The notebook text as it should be committed."""
    nb = json.loads(text)
    if stripped:
        nb = strip(nb)
    return dumps(apply(nb, name))


def stale(paths=None, stripped: bool = True) -> list[pathlib.Path]:
    """The notebooks that differ from their committed form (stripped, Colab parts written)."""
    out = []
    for path in paths or sorted(NOTEBOOKS.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        if clean(text, path.name, stripped) != text:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook differs")
    parser.add_argument("--strip", action="store_true",
                        help="also strip outputs and counts (the pre-commit hook)")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.check:
        bad = stale(paths)
        for path in bad:
            print(f"{path}: not as committed notebooks must be; run python "
                  f"tests/colab/notebook_setup.py --strip {path}", file=sys.stderr)
        return 1 if bad else 0
    changed = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = clean(text, path.name, stripped=args.strip)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path}")
            changed += 1
    return 1 if args.strip and changed else 0


if __name__ == "__main__":
    sys.exit(main())
