"""Student versions (``make student``): every check passes on the book's function (the
solution), fails on the stub, and fails with a message that says what is wrong on a typical
mistake.  The cells are taken from the notebooks and run in a namespace holding only NumPy,
on the checks' own small hand-made inputs; no notebook is executed.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pathlib
import re

import nbformat
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("make_student", ROOT / "tools" / "make_student.py")
make_student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_student)

#: The chapters' core-idea functions a student writes, per notebook.
EXPECTED = {"02_regression_vs_classification.ipynb": ["soft_encode"],
            "03_rebalancing_and_decoding.ipynb": ["rebalance_weights", "annealed_mean"],
            "05_fusion_network.ipynb": ["fusion"]}


def stub_pairs():
    """(notebook name, stub cell, check cell) for every ``student-stub`` cell of the book."""
    pairs = []
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for n, cell in enumerate(cells):
            if make_student.STUB_TAG in make_student.tags(cell):
                after = cells[n + 1] if n + 1 < len(cells) else {}
                pairs.append((path.name, cell, after))
    return pairs


PAIRS = stub_pairs()
IDS = [cell["id"] for _, cell, _ in PAIRS]


def functions_only(code: str) -> str:
    """The ``def`` statements of a cell (what the check needs; the rest uses notebook state)."""
    tree = ast.parse(code)
    return ast.unparse(ast.Module([n for n in tree.body if isinstance(n, ast.FunctionDef)], []))


def run_check(definitions: str, check: dict) -> dict:
    namespace = {"np": np}
    exec(definitions, namespace)  # noqa: S102 - the notebook's own cells
    exec(make_student.source(check), namespace)  # noqa: S102
    return namespace


def test_the_stubs_are_the_chapters_core_functions():
    found = {}
    for name, cell, check in PAIRS:
        assert make_student.CHECK_TAG in make_student.tags(check), (
            f"{name}: cell {cell['id']} is tagged student-stub but the next cell is no check")
        assert check.get("outputs") == [] and check["id"] == cell["id"] + "-check"
        found.setdefault(name, []).extend(make_student.stub_source(make_student.source(cell))[2])
    assert found == EXPECTED


@pytest.mark.parametrize("name, cell, check", PAIRS, ids=IDS)
def test_check_passes_on_the_solution(name, cell, check, capsys):
    run_check(functions_only(make_student.source(cell)), check)
    assert "passes" in capsys.readouterr().out


@pytest.mark.parametrize("name, cell, check", PAIRS, ids=IDS)
def test_check_fails_on_the_stub_with_its_message(name, cell, check):
    stubs, _, names = make_student.stub_source(make_student.source(cell))
    with pytest.raises(NotImplementedError, match=f"{names[0]} is not written yet"):
        run_check(stubs, check)


#: Typical mistakes: (stub cell id, a wrong function, words of the check's message).
MISTAKES = [
    ("c02-11", """def soft_encode(ab, bins, k=10, sigma=5.0):
    d2 = ((ab[:, None, :] - bins[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(d2, axis=1)[:, :k]
    z = np.zeros_like(d2)
    np.put_along_axis(z, nearest, np.exp(-np.take_along_axis(d2, nearest, 1) / 50), axis=1)
    return z""", "are the weights divided by their sum?"),
    ("c02-11", """def soft_encode(ab, bins, k=10, sigma=5.0):
    d = np.sqrt(((ab[:, None, :] - bins[None, :, :]) ** 2).sum(-1))
    nearest = np.argsort(d, axis=1)[:, :k]
    w = np.exp(-np.take_along_axis(d, nearest, 1) / (2 * sigma**2))
    z = np.zeros_like(d)
    np.put_along_axis(z, nearest, w / w.sum(1, keepdims=True), axis=1)
    return z""", "d² the squared distance"),
    ("c03-09", """def rebalance_weights(prior, lam):
    return 1 / ((1 - lam) * prior + lam / len(prior))""", "divide the weights by np.sum"),
    ("c03-09", """def rebalance_weights(prior, lam):
    w = 1 / (lam * prior + (1 - lam) / len(prior))
    return w / np.sum(prior * w)""", "λ = 1 replaces the prior by the uniform"),
    ("c03-23", """def annealed_mean(logits, bins, T):
    z = np.exp(logits * T)
    return (z / z.sum(-1, keepdims=True)) @ bins""", "divide the logits by T"),
    ("c03-23", """def annealed_mean(logits, bins, T):
    z = np.exp(logits / T)
    return (z / z.sum(-1, keepdims=True)) @ bins""", "subtract the largest logit"),
    ("c03-23", """def annealed_mean(logits, bins, T):
    z = np.exp((logits - logits.max()) / T)
    return (z / z.sum()) @ bins""", "normalize over the last axis only"),
    ("c05-14", """def fusion(mid, global_vec, kernel, bias):
    tiled = np.broadcast_to(global_vec[:, None, None, :], (*mid.shape[:3], global_vec.shape[-1]))
    return np.concatenate([mid, tiled], axis=-1) @ kernel + bias""", "is the ReLU applied?"),
    ("c05-14", """def fusion(mid, global_vec, kernel, bias):
    tiled = np.broadcast_to(global_vec[:, None, None, :], (*mid.shape[:3], global_vec.shape[-1]))
    return np.maximum(np.concatenate([tiled, mid], axis=-1) @ kernel + bias, 0)""",
     "mid-level channels first"),
    ("c05-14", """def fusion(mid, global_vec, kernel, bias):
    tiled = np.broadcast_to(global_vec[:1, None, None, :], (*mid.shape[:3], global_vec.shape[-1]))
    return np.maximum(np.concatenate([mid, tiled], axis=-1) @ kernel + bias, 0)""",
     "its own global vector"),
]


@pytest.mark.parametrize("cell_id, wrong, words", MISTAKES,
                         ids=[f"{c}-{n}" for n, (c, _, _) in enumerate(MISTAKES)])
def test_check_says_what_is_wrong(cell_id, wrong, words):
    check = next(chk for _, cell, chk in PAIRS if cell["id"] == cell_id)
    with pytest.raises(AssertionError, match=re.escape(words)), \
            np.errstate(over="ignore", invalid="ignore"):
        run_check(wrong, check)


def test_make_student_writes_stubs_and_keeps_the_rest(tmp_path):
    assert make_student.main(["--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert written == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        book = json.loads(path.read_text(encoding="utf-8"))
        student = json.loads((tmp_path / path.name).read_text(encoding="utf-8"))
        nbformat.validate(nbformat.from_dict(student))
        ids = [c["id"] for c in student["cells"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate cell ids"
        assert all(c.get("outputs", []) == [] for c in student["cells"])
        stubs = [c for c in student["cells"] if make_student.STUB_TAG in make_student.tags(c)]
        assert len(stubs) == len(EXPECTED.get(path.name, []))
        for cell in stubs:
            code = make_student.source(cell)
            assert "# TODO" in code and "raise NotImplementedError" in code
            solution = next(c for c in book["cells"] if c["id"] == cell["id"])
            body = ast.parse(make_student.source(solution)).body[0].body[-1]
            assert ast.unparse(body) not in code, f"{cell['id']}: the solution leaked"
            n = student["cells"].index(cell)
            assert student["cells"][n + 1]["id"] == cell["id"] + "-check"
            assert student["cells"][n + 2]["id"] == cell["id"] + "-use"
        if not stubs:  # a chapter without stubs is the book's, outputs stripped
            assert [c["source"] for c in student["cells"]] == [c["source"] for c in book["cells"]]


def test_make_student_names_a_stub_without_its_check(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    nb = json.loads(NOTEBOOKS[3].read_text(encoding="utf-8"))
    nb["cells"] = [c for c in nb["cells"] if make_student.CHECK_TAG not in make_student.tags(c)]
    (src / "03_x.ipynb").write_text(json.dumps(nb))
    assert make_student.main(["--notebooks", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "03_x.ipynb" in err and "c03-09" in err and "student-check" in err


def test_the_course_page_names_the_stubs_and_quotes_a_real_message():
    page = (ROOT / "book" / "course" / "index.md").read_text(encoding="utf-8")
    for names in EXPECTED.values():
        for name in names:
            assert f"`{name}`" in page, f"book/course/index.md does not name the stub {name}"
    quoted = page.split("AssertionError: ", 1)[1].split("```", 1)[0]
    check = next(chk for _, cell, chk in PAIRS if cell["id"] == "c03-09")
    with pytest.raises(AssertionError) as err:
        run_check(MISTAKES[2][1], check)  # the weights not divided by E_p[w]
    assert " ".join(quoted.split()) == str(err.value), "the page quotes another message"
