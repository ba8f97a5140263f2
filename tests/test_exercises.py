"""Every chapter ends with exercises a student can do, and their solutions run in CI.

The exercises are ``sphinx-exercise`` directives in the chapter's last markdown cells, under a
heading ``## Exercises``. This test reads the notebooks (it runs nothing) and checks, per
chapter:

* at least :data:`MIN_EXERCISES` exercises, each with a label and exactly one solution,
  folded (``:class: dropdown``);
* at least one exercise that extends the code: its worked solution is a code cell tagged
  ``exercise-solution``, inside a gated solution (``solution-start`` ... ``solution-end``),
  so the rendered book shows the code and its output in the folded solution;
* at least one exercise that changes a parameter: a papermill command for this chapter;
* every number a solution quotes through ``{glue:text}`` is glued by a code cell of the same
  chapter (computed by the book, not typed in);
* no solution cell is excluded from execution (no nbval skip tag, no ``raises-exception``).

The solution cells are *executed* where the rest of the chapter is: by nbval at
``scale="smoke"`` in ``make test`` (``pytest --nbval-lax notebooks``, which runs every code
cell, these included, and fails on an exception) and at ``scale="book"`` by ``make book``
(``nb_execution_raise_on_error``). They reuse the models the chapter trained, so they cost
seconds, not training.
"""

from __future__ import annotations

import ast
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MIN_EXERCISES = 3
SOLUTION_TAG = "exercise-solution"
SKIP_TAGS = {"nbval-skip", "skip-execution", "raises-exception"}

DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{(exercise|solution|solution-start|solution-end)\}"
                       r"[ \t]*(.*)$", re.M)
OPTION = re.compile(r"^:(\w+):[ \t]*(.*)$")
GLUE_USE = re.compile(r"\{glue:(?:text|any|md)\}`([^`:]+)(?::[^`]*)?`")
GLUE_DEF = re.compile(r"""\bglue\(\s*(f?)(["'])(.+?)\2""")


def _source(cell) -> str:
    return "".join(cell["source"])


def _options(text: str, start: int) -> dict[str, str]:
    """The ``:key: value`` lines right after a directive's first line."""
    options = {}
    for line in text[start:].splitlines()[1:]:
        found = OPTION.match(line.strip())
        if not found:
            break
        options[found[1]] = found[2].strip()
    return options


def _glue_pattern(name: str, is_f_string: bool) -> re.Pattern:
    if not is_f_string:
        return re.compile(re.escape(name) + "$")
    parts = re.split(r"\{[^}]*\}", name)  # f"ex01_ab{k}" -> ex01_ab.+
    return re.compile(".+".join(re.escape(p) for p in parts) + "$")


def exercise_problems(nb: dict, stem: str) -> list[str]:
    """What the exercises of one chapter notebook lack (empty when they are complete)."""
    cells = nb["cells"]
    heading = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                    and re.search(r"^## Exercises\s*$", _source(c), re.M)), None)
    if heading is None:
        return ["no '## Exercises' section"]
    problems = []
    exercises, solutions, gated_open, solution_cells = [], [], None, 0
    for cell in cells[heading:]:
        text = _source(cell)
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "code":
            if SOLUTION_TAG in tags:
                solution_cells += 1
                if gated_open is None:
                    problems.append("an exercise-solution cell outside a solution-start/end")
                if tags & SKIP_TAGS:
                    problems.append(f"an exercise-solution cell is not executed ({tags & SKIP_TAGS})")
                try:
                    ast.parse(text)
                except SyntaxError as err:
                    problems.append(f"an exercise-solution cell does not parse: {err}")
            continue
        for found in DIRECTIVE.finditer(text):
            kind, argument = found[2], found[3].strip()
            options = _options(text, found.start())
            if kind == "exercise":
                if "label" not in options:
                    problems.append(f"exercise {argument!r} has no :label:")
                exercises.append(options.get("label"))
            elif kind in ("solution", "solution-start"):
                solutions.append(argument)
                if "dropdown" not in options.get("class", "").split():
                    problems.append(f"the solution of {argument} is not folded (:class: dropdown)")
                if kind == "solution-start":
                    if gated_open is not None:
                        problems.append(f"solution-start {argument} inside {gated_open}")
                    gated_open = argument
            elif kind == "solution-end":
                if gated_open is None:
                    problems.append("a solution-end without a solution-start")
                gated_open = None
    if gated_open is not None:
        problems.append(f"solution-start {gated_open} is never ended")
    if len(exercises) < MIN_EXERCISES:
        problems.append(f"{len(exercises)} exercises, fewer than {MIN_EXERCISES}")
    for label in exercises:
        if label and solutions.count(label) != 1:
            problems.append(f"exercise {label} has {solutions.count(label)} solutions, not 1")
    for label in set(solutions) - set(exercises):
        problems.append(f"a solution refers to {label}, which is no exercise of this chapter")
    if solution_cells == 0:
        problems.append(f"no code cell tagged {SOLUTION_TAG} (an exercise that extends the code)")
    markdown = "\n".join(_source(c) for c in cells[heading:] if c["cell_type"] == "markdown")
    if not re.search(rf"papermill\s+notebooks/{re.escape(stem)}\.ipynb\s+\S+\.ipynb", markdown):
        problems.append("no papermill command for this chapter (an exercise that changes a "
                        "parameter)")
    glued = [_glue_pattern(m[3], bool(m[1])) for c in cells if c["cell_type"] == "code"
             for m in GLUE_DEF.finditer(_source(c))]
    for key in sorted(set(GLUE_USE.findall(markdown))):
        if not any(p.match(key) for p in glued):
            problems.append(f"{{glue:text}}`{key}` is quoted but no code cell glues it")
    return problems


def unglued_names(nb: dict) -> list[str]:
    """The names that the chapter's markdown quotes with ``{glue:text}`` (conclusions and
    solutions alike) but that no code cell of the chapter glues."""
    glued = [_glue_pattern(m[3], bool(m[1])) for c in nb["cells"] if c["cell_type"] == "code"
             for m in GLUE_DEF.finditer(_source(c))]
    markdown = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    return [key for key in sorted(set(GLUE_USE.findall(markdown)))
            if not any(p.match(key) for p in glued)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_number_the_prose_quotes_is_glued(path):
    missing = unglued_names(json.loads(path.read_text()))
    assert not missing, f"{path.name}: quoted with {{glue:text}} but glued by no code cell: {missing}"


def test_an_unglued_name_in_the_prose_is_found():
    nb = {"cells": [_code('glue("ch99-psnr", 24.1, display=False)', tags=()),
                    _md("PSNR {glue:text}`ch99-psnr:.2f` dB, {glue:text}`ch99-verdict`.")]}
    assert unglued_names(nb) == ["ch99-verdict"]


def _labels(nb: dict) -> list[str]:
    text = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    return [_options(text, m.start()).get("label") for m in DIRECTIVE.finditer(text)
            if m[2] == "exercise"]


def test_every_chapter_from_00_to_08_is_checked():
    assert [p.stem[:2] for p in CHAPTERS] == [f"{n:02d}" for n in range(9)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_ends_with_exercises_whose_solutions_run(path):
    problems = exercise_problems(json.loads(path.read_text()), path.stem)
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_exercise_labels_are_unique_in_the_book():
    labels = [label for p in CHAPTERS for label in _labels(json.loads(p.read_text()))]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    assert not duplicates, f"exercise labels used twice: {duplicates}"


def test_the_book_loads_sphinx_exercise():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r"^\s*- sphinx_exercise\b", config, re.M), (
        "_config.yml: add sphinx_exercise to sphinx.config.extensions")


# ----------------------------------------------------------------------- the checker itself
def _md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": [text]}


def _code(text, tags=(SOLUTION_TAG,)):
    return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": [text],
            "outputs": [], "execution_count": None}


def _exercise(label, solution_class="dropdown"):
    return (f"```{{exercise}} Title\n:label: {label}\n\nText.\n```\n\n"
            f"```{{solution}} {label}\n:class: {solution_class}\n\nAnswer.\n```\n")


GOOD = [
    _md("# Chapter\n\nWhat you will learn."),
    _md("## Exercises\n\n" + _exercise("ex-99-a")
        + "````{exercise} Predict\n:label: ex-99-b\n\n```bash\n"
          "papermill notebooks/99_demo.ipynb out.ipynb -p x 1\n```\n````\n"
        + "````{solution-start} ex-99-b\n:class: dropdown\n````\n"),
    _code('glue("ex99_value", 1.0, display=False)\nglue(f"ex99_k{1}", 2, display=False)'),
    _md("It is {glue:text}`ex99_value:.2f` and {glue:text}`ex99_k1`.\n\n```{solution-end}\n```\n"
        + _exercise("ex-99-c")),
]


def test_the_checker_passes_complete_exercises():
    assert exercise_problems({"cells": GOOD}, "99_demo") == []


@pytest.mark.parametrize("change, problem", [
    (lambda cells: cells[:1], "no '## Exercises' section"),
    (lambda cells: cells[:3] + [_md(cells[3]["source"][0].split("```{exercise}")[0])],
     "fewer than 3"),
    (lambda cells: cells[:3] + [_md(cells[3]["source"][0].replace(
        ":class: dropdown", ":class: note"))], "not folded"),
    (lambda cells: cells[:2] + [_code("glue('other', 1)")] + cells[3:],
     "no code cell glues it"),
    (lambda cells: cells[:2] + [_code("x = 1", tags=())] + cells[3:],
     "no code cell tagged exercise-solution"),
    (lambda cells: cells[:2] + [_code(cells[2]["source"][0], tags=(SOLUTION_TAG, "nbval-skip"))]
     + cells[3:], "is not executed"),
    (lambda cells: [cells[0], _md(cells[1]["source"][0].replace("papermill", "run"))] + cells[2:],
     "no papermill command"),
    (lambda cells: cells[:3] + [_md(cells[3]["source"][0].replace("```{solution-end}\n```", ""))],
     "never ended"),
])
def test_the_checker_names_what_is_missing(change, problem):
    problems = exercise_problems({"cells": change([dict(c) for c in GOOD])}, "99_demo")
    assert any(problem in p for p in problems), problems
