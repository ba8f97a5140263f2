"""The reference table (data/reference_numbers.csv) and its checker (tools/reference_numbers.py):
what an instructor grading a chapter's numbers file would notice."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("reference_numbers",
                                               ROOT / "tools" / "reference_numbers.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def chapter_file(tmp_path, aucs, notebook="03_rebalancing_and_decoding", scale="book"):
    numbers = {"notebook": notebook, "settings": {"scale": scale, "dataset": "cifar10"},
               "models": {"classification": {"auc": aucs}}, "recipe": {"ratio": 0.8}}
    path = tmp_path / f"{notebook}.json"
    path.write_text(json.dumps(numbers))
    return numbers, path


def table(tmp_path, *rows):
    path = tmp_path / "ref.csv"
    path.write_text(",".join(ref.COLUMNS) + "\n" + "".join(r + "\n" for r in rows))
    return path


def test_the_committed_table_loads_and_names_real_figures():
    rows = ref.load()
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert {r["chapter"] for r in rows} <= notebooks
    for row in rows:
        assert row["source"], f"{row['chapter']} {row['key']}: say where the number comes from"
        assert row["scale"] in ("smoke", "book", "colab", "full")
    measured = [r for r in rows if r["status"] == "measured"]
    assert measured and all(r["value"] is not None for r in measured)
    keys = [(r["chapter"], r["key"], r["scale"], r["dataset"]) for r in rows]
    assert len(keys) == len(set(keys)), "a figure is listed twice"


def test_tolerance_is_three_standard_deviations_of_the_seeds():
    assert ref.tolerance([0.90, 0.91, 0.92]) == pytest.approx(0.03)  # s = 0.01
    assert ref.tolerance([20.0, 20.0]) == pytest.approx(0.1)  # no spread: the floor, 0.5 %
    assert ref.tolerance([0.9]) is None


def test_measure_then_check_a_students_file(tmp_path):
    numbers, _ = chapter_file(tmp_path, [0.90, 0.91, 0.92])
    row = ref.measure(numbers, ["models/classification/auc"], "test")[0]
    assert (row["value"], row["tolerance"], row["seeds"]) == ("0.91", "0.03", 3)
    path = table(tmp_path, ",".join(str(row[c]) for c in ref.COLUMNS),
                 "03_rebalancing_and_decoding,recipe/ratio,book,cifar10,,,,pending,not yet",
                 "03_rebalancing_and_decoding,recipe/psnr,book,cifar10,23.4,,1,measured,bench",
                 "03_rebalancing_and_decoding,gray/psnr,book,cifar10,,,,pending,not yet",
                 "03_rebalancing_and_decoding,recipe/ratio,full,cifar10,0.9,0.1,3,measured,gpu")
    rows = ref.load(path)
    student, _ = chapter_file(tmp_path, [0.93, 0.935])
    verdicts = [v for v, _ in ref.check(rows, student)]
    assert verdicts == ["ok", "no range yet", "missing", "missing"]  # full-scale row not used
    student, _ = chapter_file(tmp_path, [0.85, 0.86])
    verdict, line = ref.check(rows, student)[0]
    assert verdict == "out of range" and "0.855, expected 0.88 to 0.94" in line


def test_measure_reads_a_summary_of_seeds():
    numbers = {"notebook": "07_interplay", "settings": {"scale": "book", "dataset": "cifar10"},
               "headline": {"color.auc.mean": 0.90, "color.auc.std": 0.002, "color.auc.n": 3,
                            "color.psnr.mean": 24.3}}
    auc, psnr = ref.measure(numbers, ["headline/color.auc.mean", "headline/color.psnr.mean"], "t")
    assert (auc["value"], auc["tolerance"], auc["seeds"]) == ("0.9", "0.006", 3)
    assert (psnr["tolerance"], psnr["seeds"]) == ("", 1)  # no std beside it: no range


def test_check_command_exit_status(tmp_path, capsys):
    numbers, path = chapter_file(tmp_path, [0.90, 0.91, 0.92])
    row = ref.measure(numbers, ["models/classification/auc"], "test")[0]
    good = table(tmp_path, ",".join(str(row[c]) for c in ref.COLUMNS))
    assert ref.main(["check", str(path), "--table", str(good)]) == 0
    _, path = chapter_file(tmp_path, [0.5])
    assert ref.main(["check", str(path), "--table", str(good)]) == 1
    assert "out of range: models/classification/auc = 0.5" in capsys.readouterr().out


@pytest.mark.parametrize("row, words", [
    ("03_x,k,book,cifar10,0.9,,1,done,s", "status 'done'; use one of"),
    ("03_x,k,book,cifar10,,,,measured,s", "a measured row has a value"),
    ("03_x,k,book,cifar10,0.9,0.01,1,measured,s", "a tolerance needs the spread of >= 2 seeds"),
    ("03_x,k,book,cifar10,high,,1,measured,s", "give a number or leave it empty"),
])
def test_a_bad_row_is_named(tmp_path, row, words):
    with pytest.raises(ValueError, match="line 2 \\(03_x k\\)") as err:
        ref.load(table(tmp_path, row))
    assert words in str(err.value)


def test_assignment_2_quotes_the_table():
    page = (ROOT / "book" / "course" / "assignment2.md").read_text(encoding="utf-8")
    text = " ".join(page.split())
    rows = {(r["chapter"], r["key"]): r for r in ref.load() if r["scale"] == "book"}
    for key, words in [("recipe/ratio", "colourfulness ratio of {}"),
                       ("recipe/psnr", "PSNR of {} dB"), ("gray/psnr", "(gray: {} dB)"),
                       ("recipe/auc", "AuC of {}"), ("gray/auc", "(gray: {})")]:
        row = rows["03_rebalancing_and_decoding", key]
        assert row["status"] == "measured" and words.format(f"{row['value']:g}") in text, key
