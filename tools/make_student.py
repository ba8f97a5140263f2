"""Write the student versions of the chapters: ``make student`` (or ``python tools/make_student.py``).

The book's notebooks are the instructor's solutions.  In each, a code cell tagged
``student-stub`` holds a function the chapter's idea rests on (``soft_encode``,
``rebalance_weights``, ...), and the cell right after it, tagged ``student-check``, tests that
function on cases worked out by hand and on properties, never against ``colorutils``.  The
student version of a chapter is the same notebook, outputs stripped, where

* each function of a ``student-stub`` cell keeps its signature and docstring and its body
  becomes ``# TODO`` and ``raise NotImplementedError(...)``;
* the rest of that cell (the comparison with ``colorutils`` and what the chapter does with
  the function) moves to a new cell after the check, so the student first runs the check.

Only the standard library is used, so this runs without the book's environment.
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
STUB_TAG, CHECK_TAG = "student-stub", "student-check"
NOTE = ("**Student version** (written by `make student`). Write the body of {names}: each "
        "such cell is marked `# TODO`, and the cell after it checks your function on cases "
        "worked out by hand. The book's version of this notebook is the solution.")


def tags(cell: dict) -> list[str]:
    """The cell's tags (an empty list when it has none)."""
    return cell.get("metadata", {}).get("tags", [])


def source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def stub_source(code: str) -> tuple[str, str, list[str]]:
    """Split a ``student-stub`` cell: (its functions as stubs, the rest of the cell, their names).

    A stub keeps the ``def`` line(s) and the docstring; its body is ``# TODO`` and a
    ``raise NotImplementedError`` naming the function and the check cell.
    """
    lines = code.splitlines()
    tree = ast.parse(code)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if not defs:
        raise ValueError(f"a {STUB_TAG!r} cell defines no function: {lines[0]!r}")
    stubs, names = [], []
    for node in defs:
        first = node.body[0]
        has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str)
        keep = first.end_lineno if has_doc else first.lineno - 1
        indent = " " * first.col_offset
        stubs.append("\n".join(lines[node.lineno - 1:keep] + [
            f"{indent}# TODO: write the body of {node.name} (the check cell below tests it).",
            f'{indent}raise NotImplementedError("{node.name} is not written yet (see the TODO)")']))
        names.append(node.name)
    in_defs = {i for n in defs for i in range(n.lineno - 1 - len(n.decorator_list), n.end_lineno)}
    rest = "\n".join(line for i, line in enumerate(lines) if i not in in_defs).strip("\n")
    return "\n\n\n".join(stubs), rest, names


def code_cell(cell_id: str, text: str, cell_tags: list[str]) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cell_id,
            "metadata": {"tags": cell_tags} if cell_tags else {}, "outputs": [],
            "source": text.splitlines(keepends=True)}


def student_notebook(nb: dict, name: str) -> tuple[dict, list[str]]:
    """The student version of a notebook (a new dict) and the names of its stubbed functions."""
    cells, names, pending = [], [], None
    for cell in nb["cells"]:
        cell = json.loads(json.dumps(cell))  # a copy
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if pending is not None and CHECK_TAG not in tags(cell):
            raise ValueError(f"{name}: the {STUB_TAG!r} cell {pending[0]!r} must be followed "
                             f"by a cell tagged {CHECK_TAG!r}; tag its check cell")
        if STUB_TAG in tags(cell):
            stubs, rest, found = stub_source(source(cell))
            cell["source"] = (stubs + "\n").splitlines(keepends=True)
            cell["source"][-1] = cell["source"][-1].rstrip("\n")
            names += found
            pending = (cell["id"], rest)
        elif pending is not None:
            cells.append(cell)
            if pending[1]:
                cells.append(code_cell(pending[0] + "-use", pending[1], []))
            pending = None
            continue
        cells.append(cell)
    if pending is not None:
        raise ValueError(f"{name}: the last cell is tagged {STUB_TAG!r} but has no check after it")
    if names:
        listed = ", ".join(f"`{n}`" for n in names)
        note = {"cell_type": "markdown", "id": "student-note", "metadata": {},
                "source": NOTE.format(names=listed).splitlines(keepends=True)}
        cells.insert(1, note)
    return {**nb, "cells": cells}, names


def write_student(src: pathlib.Path, out: pathlib.Path) -> dict[str, list[str]]:
    """Write the student version of every notebook in ``src`` into ``out``; returns, per
    notebook with stubs, the names of its stubbed functions."""
    if not src.is_dir():
        raise FileNotFoundError(f"--notebooks {src}: no such folder of chapters")
    out.mkdir(parents=True, exist_ok=True)
    stubs = {}
    for path in sorted(src.glob("*.ipynb")):
        nb, names = student_notebook(json.loads(path.read_text(encoding="utf-8")), path.name)
        (out / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
        if names:
            stubs[path.name] = names
    return stubs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", default=str(ROOT / "notebooks"),
                        help="the book's chapters (default: notebooks/)")
    parser.add_argument("--out", default=str(ROOT / "student"),
                        help="where the student versions go (default: student/)")
    args = parser.parse_args(argv)
    try:
        stubs = write_student(pathlib.Path(args.notebooks), pathlib.Path(args.out))
    except (ValueError, FileNotFoundError, SyntaxError) as err:
        print(f"make_student: error: {err}", file=sys.stderr)
        return 2
    for name, names in stubs.items():
        print(f"{name}: {len(names)} stub(s): {', '.join(names)}")
    print(f"{sum(map(len, stubs.values()))} stubs in {len(stubs)} chapters; wrote {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
