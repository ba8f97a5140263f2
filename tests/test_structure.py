"""The library's shape: layers that point downward, no private name across modules, short code.

Read from the source with :mod:`ast` (nothing is imported), so a violation names the file and
line.  The rules (the design's "Layers point downward only"):

* a module imports only modules of its own layer or of lower layers (:data:`LAYERS`), without
  import cycles, and nothing imports ``colorutils.cli``;
* no private name (``_x``) of one module is used by another;
* a ``colorutils`` import inside a function says why it is not at the top: a comment with
  ``start-up`` or ``cycle`` on its line or the line above;
* no function is longer than :data:`MAX_FUNCTION_LINES` lines (its docstring not counted);
* no public name is defined in two modules (one home per concept): a top-level ``def`` or
  ``class`` without a leading underscore, or a top-level assignment of a name in ``__all__``
  (importing a name from its home is not defining it).
"""

from __future__ import annotations

import ast
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "colorutils"

#: From the bottom up; a module may import its own layer and the layers below.
LAYERS = [
    # errors; files on disk, free of TensorFlow (run folders, atomic writes, photo files,
    # progress bars, the shipped model); the chapters' settings; colour conversions
    ["errors", "files", "settings", "color"],
    # data sources and pipelines, quantization, losses
    ["quantize", "data", "losses"],
    # the model zoo and compiling, the figures
    ["models", "viz"],
    ["train"],
    ["inference"],
    ["metrics", "evaluation", "turing"],
    ["experiments"],
    # the colorize command, the command line, and the package facade (its lazy
    # ``colorutils.evaluate`` reaches down to evaluation; library modules import submodules,
    # never names from the package)
    ["colorize", "cli", "__init__"],
]
LAYER = {name: i for i, layer in enumerate(LAYERS) for name in layer}
MAX_FUNCTION_LINES = 60
#: Functions allowed above MAX_FUNCTION_LINES (none).
LONG_FUNCTIONS: set[str] = set()


def _modules() -> dict[str, pathlib.Path]:
    return {p.stem: p for p in sorted(PACKAGE.glob("*.py"))}


def _parse(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported(node) -> list[tuple[str, list[str]]]:
    """``[(colorutils module, names imported from it)]`` of one import statement."""
    if isinstance(node, ast.Import):
        return [(a.name.split(".")[1], []) for a in node.names
                if a.name.startswith("colorutils.")]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == "colorutils":  # from colorutils import a, b: modules (or __version__)
            return [(a.name, []) if a.name in _modules() else ("__init__", [a.name])
                    for a in node.names]
        if node.module.startswith("colorutils."):
            return [(node.module.split(".")[1], [a.name for a in node.names])]
    return []


def _imports(tree: ast.Module):
    """``(module, names, node, at_top)`` for every colorutils import of a module."""
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        for module, names in _imported(node):
            yield module, names, node, id(node) in top


def test_every_module_has_a_layer():
    missing = sorted(set(_modules()) - set(LAYER))
    assert not missing, f"give these modules a layer in LAYERS: {missing}"


def test_imports_point_downward_and_never_at_the_command_line():
    problems = []
    for name, path in _modules().items():
        for module, _, node, _ in _imports(_parse(path)):
            if module == "cli" and name != "cli":
                problems.append(f"{path.name}:{node.lineno} imports colorutils.cli")
            elif LAYER.get(module, -1) > LAYER[name]:
                problems.append(f"{path.name}:{node.lineno} ({name}, layer {LAYER[name]}) "
                                f"imports {module} (layer {LAYER[module]}), a higher layer")
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    graph = {name: {m for m, _, _, _ in _imports(_parse(p)) if m != name}
             for name, p in _modules().items()}

    def visit(node, stack):
        if node in stack:
            return stack[stack.index(node):] + [node]
        for nxt in sorted(graph.get(node, ())):
            cycle = visit(nxt, stack + [node])
            if cycle:
                return cycle
        return None

    for name in graph:
        cycle = visit(name, [])
        assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to colorutils modules (``from colorutils import data as d``, ...)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "colorutils":
            for a in node.names:
                if a.name in _modules():
                    names[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("colorutils."):
            pass
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("colorutils.") and a.asname:
                    names[a.asname] = a.name.split(".")[1]
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_crosses_a_module_boundary():
    problems = []
    for name, path in _modules().items():
        tree = _parse(path)
        for module, imported, node, _ in _imports(tree):
            problems += [f"{path.name}:{node.lineno} imports {module}.{n}"
                         for n in imported if _private(n) and module != name]
        aliases = _aliases(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and aliases[node.value.id] != name
                    and _private(node.attr)):
                problems.append(f"{path.name}:{node.lineno} uses "
                                f"{aliases[node.value.id]}.{node.attr}")
    assert not problems, "\n".join(problems)


def test_imports_inside_functions_say_why():
    problems = []
    for name, path in _modules().items():
        lines = path.read_text().splitlines()
        for module, _, node, at_top in _imports(_parse(path)):
            if at_top or (name == "cli" and module == "cli"):  # python -m colorutils.cli
                continue
            here = lines[node.lineno - 1] + " " + lines[node.lineno - 2]
            if not re.search(r"#.*\b(start-up|cycle)\b", here):
                problems.append(f"{path.name}:{node.lineno} imports {module} inside a "
                                "function without a '# start-up: ...' or '# cycle: ...' reason")
    assert not problems, "\n".join(problems)


def _code_lines(node) -> int:
    """Lines of a function, its docstring left out."""
    n = node.end_lineno - node.lineno + 1
    first = node.body[0] if node.body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        n -= first.end_lineno - first.lineno + 1
    return n


def test_functions_are_short():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(_parse(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = f"{name}.{node.name}"
                if _code_lines(node) > MAX_FUNCTION_LINES and qual not in LONG_FUNCTIONS:
                    long.append(f"{path.name}:{node.lineno} {qual}: {_code_lines(node)} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def _exported(tree: ast.Module) -> set[str]:
    """The names in a module's ``__all__`` (empty if it has none)."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                  for t in node.targets)):
            return {e.value for e in getattr(node.value, "elts", [])
                    if isinstance(e, ast.Constant)}
    return set()


def _defined(tree: ast.Module) -> set[str]:
    """Public names a module defines: top-level ``def`` / ``class`` without a leading
    underscore, and top-level assignments of names in its ``__all__``."""
    exported, names = _exported(tree), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name) and t.id in exported}
    return {n for n in names if not n.startswith("_")}


def _homes(trees: dict[str, ast.Module]) -> dict[str, list[str]]:
    """``{name: [modules defining it]}`` for the names defined in more than one module."""
    homes: dict[str, list[str]] = {}
    for module, tree in trees.items():
        for name in _defined(tree):
            homes.setdefault(name, []).append(module)
    return {name: sorted(mods) for name, mods in homes.items() if len(mods) > 1}


def test_no_public_name_is_defined_in_two_modules():
    twice = _homes({name: _parse(path) for name, path in _modules().items()})
    assert not twice, "one home per name; defined in several modules:\n" + "\n".join(
        f"{name}: {', '.join(mods)}" for name, mods in sorted(twice.items()))


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The walkers see an upward import, a private name and a long function."""
    tree = ast.parse("from colorutils import cli\nfrom colorutils.data import _x\n"
                     "def f():\n" + "    pass\n" * 61)
    found = list(_imports(tree))
    assert [m for m, _, _, _ in found] == ["cli", "data"] and found[1][1] == ["_x"]
    assert _code_lines(tree.body[2]) == 62 > MAX_FUNCTION_LINES
    a = ast.parse('__all__ = ["K", "f"]\nK = 1\nJ = 2\ndef f(): pass\nclass _P: pass\n')
    b = ast.parse("from a import f\nK = 3\ndef f(): pass\ndef g(): pass\n")
    assert _defined(a) == {"K", "f"} and _defined(b) == {"f", "g"}
    assert _homes({"a": a, "b": b}) == {"f": ["a", "b"]}
