"""Figures in the chapters: numbered, captioned and described.

The conventions are those of ``book/AUTHORING.md``. A code cell *draws a figure* when it
calls ``plt.show()``, calls a figure function of ``colorutils.viz`` (one that creates a
matplotlib figure), or has an image output. Such a cell must carry, in its metadata::

    "mystnb": {"figure": {"caption": "...", "name": "fig-NN-what"},
               "image": {"alt": "what the image shows, for a reader who cannot see it"}}

with ``NN`` the chapter's number (names are book-wide labels), produce one display output only (a
trailing expression or ``display()`` would become a second figure with the same name), and
draw one figure (one ``plt.show()``, not in a loop), and the chapter's text must refer to it
as {numref}`fig-NN-what`.

Only the chapters in :data:`FIGURE_CONVENTION_CHAPTERS` are held to this; add a chapter's
notebook stem there once its figures are captioned.
"""

from __future__ import annotations

import ast
import json
import pathlib
import re

import book_checks
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# ---------------------------------------------------------------------------------------
# The chapters whose figures follow the convention. ADD A CHAPTER HERE when it is rewritten.
FIGURE_CONVENTION_CHAPTERS = {
    "00_data", "01_color_spaces", "02_regression_vs_classification",
    "03_rebalancing_and_decoding", "04_architectures", "05_fusion_network", "06_evaluation",
    "07_interplay", "08_colorize_your_photos",
}
# ---------------------------------------------------------------------------------------

NAME = re.compile(r"^fig-(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*$")


def _viz_figure_functions() -> set[str]:
    """Public functions of colorutils/viz.py that create a matplotlib figure."""
    tree = ast.parse((ROOT / "colorutils" / "viz.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and \
                        sub.func.attr in {"subplots", "figure", "subplot_mosaic"}:
                    names.add(node.name)
    return names


VIZ_FIGURES = _viz_figure_functions()


def _source(cell) -> str:
    return "".join(cell["source"])


def _python(source: str) -> ast.Module | None:
    lines = [("pass" if line.lstrip().startswith(("%", "!")) else line)
             for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _call_name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        return f"{f.value.id}.{f.attr}"
    return f.id if isinstance(f, ast.Name) else ""


def draws_figure(cell) -> bool:
    """True for a code cell that shows a figure (see the module docstring)."""
    if cell["cell_type"] != "code":
        return False
    if any(key.startswith("image/") for out in cell.get("outputs", [])
           for key in out.get("data", {})):
        return True
    tree = _python(_source(cell))
    calls = {_call_name(n) for n in ast.walk(tree) if isinstance(n, ast.Call)} if tree else set()
    return "plt.show" in calls or any(c == f"viz.{f}" for c in calls for f in VIZ_FIGURES)


def figure_cell_problems(cell) -> list[str]:
    """What a figure-drawing cell lacks (empty when it follows the convention)."""
    problems = []
    meta = cell.get("metadata", {}).get("mystnb", {})
    figure = meta.get("figure", {})
    caption = str(figure.get("caption", "")).strip()
    name = str(figure.get("name", ""))
    alt = meta.get("image", {}).get("alt")
    if not caption:
        problems.append("no caption (metadata mystnb.figure.caption)")
    elif "\n\n" in caption:
        problems.append("the caption must be one paragraph")
    if not NAME.match(name):
        problems.append(f"name {name!r} is not like 'fig-01-what' (metadata mystnb.figure.name)")
    why = book_checks.alt_problem(alt, "")
    if why:
        problems.append(f"alt text: {why} (metadata mystnb.image.alt)")
    elif alt.strip() == caption:
        problems.append("alt text repeats the caption: describe what the image shows")
    tree = _python(_source(cell))
    if tree and tree.body:
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        if any(_call_name(c) in {"display", "IPython.display"} for c in calls):
            problems.append("display() adds a second output to the figure")
        shows = [c for c in calls if _call_name(c) == "plt.show"]
        loops = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))]
        if len(shows) > 1 or any(c in ast.walk(loop) for loop in loops for c in shows):
            problems.append("shows more than one figure: one figure (one plt.show()) per cell")
        last = tree.body[-1]
        if isinstance(last, ast.Expr) and not (
                isinstance(last.value, ast.Call)
                and _call_name(last.value) in {"plt.show", "print", "fig.show"}):
            problems.append("ends with an expression: its repr would be a second figure output")
    return problems


def _chapter(path: pathlib.Path) -> str:
    return path.stem.split("_", 1)[0]


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem in FIGURE_CONVENTION_CHAPTERS],
                         ids=lambda p: p.name)
def test_every_figure_is_captioned_named_described_and_referenced(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    text = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    figures = [c for c in cells if draws_figure(c)]
    assert figures, f"{path.name} draws no figure: is it in FIGURE_CONVENTION_CHAPTERS by mistake?"
    problems = []
    for cell in figures:
        first = _source(cell).strip().splitlines()[0][:70]
        problems += [f"cell {first!r}: {p}" for p in figure_cell_problems(cell)]
        name = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("name", "")
        if name and not name.startswith(f"fig-{_chapter(path)}-"):
            problems.append(f"cell {first!r}: name {name!r} must start with "
                            f"'fig-{_chapter(path)}-' (the chapter's number)")
        if name and f"{{numref}}`{name}`" not in text:
            problems.append(f"figure {name!r} is never referred to as {{numref}}`{name}`")
    for cell in cells:
        if cell["cell_type"] == "code" and "figure" in cell.get("metadata", {}).get(
                "mystnb", {}) and not draws_figure(cell):
            problems.append(f"cell {_source(cell)[:60]!r} has a figure caption but draws none")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_figure_names_are_unique_in_the_book():
    seen: dict[str, str] = {}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            name = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("name")
            if name:
                assert name not in seen, f"{name} in both {seen[name]} and {path.name}"
                seen[name] = path.name


def test_every_chapter_in_the_set_exists():
    stems = {p.stem for p in NOTEBOOKS}
    assert FIGURE_CONVENTION_CHAPTERS <= stems, FIGURE_CONVENTION_CHAPTERS - stems


# the checker itself, on hand-made cells
def _cell(source, tags=(), mystnb=None, outputs=()):
    meta = {"tags": list(tags)}
    if mystnb is not None:
        meta["mystnb"] = mystnb
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": list(outputs)}


GOOD = {"figure": {"caption": "**Four spaces.** One photo.", "name": "fig-01-spaces"},
        "image": {"alt": "The astronaut photo in four colour spaces"}}


def test_what_counts_as_drawing_a_figure():
    assert draws_figure(_cell("fig = viz.show_images(x)\nplt.show()"))
    assert draws_figure(_cell("viz.plot_color_spaces(rgb)"))
    assert draws_figure(_cell("x = 1", outputs=[{"data": {"image/png": "iVBOR"}}]))
    assert not draws_figure(_cell("mask = viz.ab_plane(50)[1]"))  # no figure made
    assert not draws_figure(_cell("print(psnr)"))
    assert "show_images" in VIZ_FIGURES and "ab_plane" not in VIZ_FIGURES


def test_a_conventional_figure_cell_passes():
    assert figure_cell_problems(_cell("fig = viz.show_images(x)\nplt.show()\nprint('ok')",
                                      tags=["hide-input"], mystnb=GOOD)) == []


@pytest.mark.parametrize("cell,problem", [
    (_cell("plt.show()", tags=["hide-input"]), "no caption"),
    (_cell("plt.show()", tags=["hide-input"],
           mystnb={**GOOD, "figure": {"caption": "x", "name": "spaces"}}), "name"),
    (_cell("plt.show()", tags=["hide-input"], mystnb={**GOOD, "image": {"alt": "x.png"}}),
     "alt text"),
    (_cell("plt.show()", tags=["hide-input"], mystnb={"figure": GOOD["figure"]}), "alt text"),
    (_cell("plt.show()\npsnr", tags=["hide-input"], mystnb=GOOD), "ends with an expression"),
    (_cell("display(fig)", tags=["hide-input"], mystnb=GOOD), "display()"),
    (_cell("plt.show()\nviz.show_images(y)\nplt.show()", tags=["hide-input"], mystnb=GOOD),
     "one figure"),
    (_cell("for x in xs:\n    viz.show_images(x)\n    plt.show()", tags=["hide-input"],
           mystnb=GOOD), "one figure"),
])
def test_figure_cell_problems_are_named(cell, problem):
    assert any(problem in p for p in figure_cell_problems(cell)), figure_cell_problems(cell)
