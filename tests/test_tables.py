"""colorutils.evaluation: what a reader sees in a results table."""

from __future__ import annotations

import math

import pytest

from colorutils import evaluation

ROWS = [
    {"method": "gray", "psnr": 24.0, "ab": 12.0, "ratio": 0.0},
    {"method": "model", "psnr": 22.5, "ab": 9.0, "ratio": 0.8},
    {"method": "ground_truth", "psnr": math.nan, "ab": 0.0, "ratio": 1.0},
]
COLUMNS = {"method": "method", "psnr": "PSNR (dB)", "ab": "ab distance", "ratio": "ratio"}


def _table(**kw):
    return evaluation.Table(ROWS, COLUMNS, best={"PSNR (dB)": "max", "ab": "min", "ratio": "one"},
                        reference_rows=["ground_truth"], **kw)


def test_best_value_per_column_is_bold_and_the_reference_never_wins():
    md = _table().to_markdown().splitlines()
    assert md[0] == "| method | PSNR (dB) ↑ | ab distance ↓ | ratio →1 |"
    assert md[1] == "|---|---:|---:|---:|"
    assert md[2] == "| gray | **24.000** | 12.000 | 0.000 |"  # PSNR rewards gray
    assert md[3] == "| model | 22.500 | **9.000** | **0.800** |"
    assert md[4] == "| ground_truth | n/a | 0.000 | 1.000 |"  # the ceiling: not ranked


def test_html_marks_the_same_cells_escapes_text_and_explains_the_marks():
    rows = ROWS + [{"method": "<b>&", "psnr": 1.0, "ab": 50.0, "ratio": 3.0}]
    out = evaluation.Table(rows, COLUMNS, best={"psnr": "max"}, caption="Scores")._repr_html_()
    assert out.count("<strong>") == 1 and ">24.000</span></strong>" in out
    assert "&lt;b&gt;&amp;" in out and ">Scores</caption>" in out
    assert "PSNR (dB) ↑" in out and "higher is better" in out


def test_ties_are_all_marked_at_the_shown_precision():
    t = evaluation.Table([{"m": "a", "x": 0.5001}, {"m": "b", "x": 0.5002}, {"m": "c", "x": 0.1}],
                     best={"x": "max"})
    assert t.best_rows("x") == {0, 1}


def test_cells_of_every_kind():
    summ = evaluation.summarize([1.0, 2.0, 3.0])
    one = evaluation.summarize([2.0])
    t = evaluation.Table([{"arm": "a", "n": 12345, "s": summ, "o": one, "none": None}],
                     digits={"s": 1, "o": 2})
    assert t.to_text().splitlines()[1].split() == ["a", "12,345", "2.0", "±", "1.0", "2.00"]
    with pytest.raises(ValueError, match="best"):
        evaluation.Table(ROWS, best={"psnr": "highest"})
    with pytest.raises(KeyError, match="no column 'SSIM'"):
        evaluation.Table(ROWS, best={"SSIM": "max"})


def test_summary_table_of_seeds_ranks_by_the_mean():
    records = [{"arm": a, "seed": s, "psnr": v} for a, s, v in
               [("x", 0, 20.0), ("x", 1, 21.0), ("y", 0, 22.0), ("y", 1, 23.0)]]
    table = evaluation.summary_table(evaluation.summarize_records(records, ["psnr"]), ["psnr"],
                                labels={"psnr": "PSNR (dB)"}, best={"psnr": "max"}, digits=1)
    assert "| y | 2 | **22.5 ± 0.7** |" in table.to_markdown()


def test_html_cells_are_padded_numbers_do_not_break_and_headers_wrap():
    import re

    summ = evaluation.summarize([25.2, 25.4, 25.5])
    out = evaluation.Table([{"model": "rebalanced", "psnr": summ, "ssim": 0.912}],
                       {"model": "model", "psnr": "PSNR (dB)", "ssim": "SSIM"},
                       best={"ssim": "max"})._repr_html_()
    cells = re.findall(r'<(td|th) style="([^"]*)">(.*?)</(?:td|th)>', out)
    assert len(cells) == 6  # 3 headers, 3 cells
    for tag, style, _text in cells:  # every cell padded: "25.37 ± 0.15" never touches "0.912"
        assert re.search(r"padding: 0\.\d+em 0\.\d+em", style), (tag, style)
    nowrap = '<span style="white-space: nowrap">'
    text_of = {re.sub("<[^>]+>", "", text): text for _, _, text in cells}
    # a number is one unbreakable piece; mean and "± std" may go on two lines, each whole
    assert text_of["25.367 ± 0.153"] == f"{nowrap}25.367</span> {nowrap}± 0.153</span>"
    assert text_of["0.912"] == f"<strong>{nowrap}0.912</span></strong>"
    assert nowrap not in text_of["PSNR (dB)"]  # a header wraps at its spaces
