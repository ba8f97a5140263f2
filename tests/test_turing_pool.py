"""``colorutils turing pool``: a class's answer files (the CSV the Turing-test page downloads)
pooled into a fooling rate with a 95 % Wilson score interval, checked on known counts."""

from __future__ import annotations

import math
import pathlib
import re

import pytest

from colorutils import cli, evaluation, turing

HEADER = "trial,pair_id,method,left,right,chosen_side,correct,fooled,response_ms\n"
ROOT = pathlib.Path(__file__).resolve().parents[1]
Z = 1.959963984540054  # the 97.5 % quantile of the standard normal


def answers(tmp_path, name: str, fooled: int, n: int) -> str:
    """An answer file as turing.js writes it: ``fooled`` of ``n`` answers picked the fake."""
    rows = [f"{i + 1},p{i},unet,real,colorized,{'right' if i < fooled else 'left'},"
            f"{0 if i < fooled else 1},{1 if i < fooled else 0},{900 + i}\n" for i in range(n)]
    path = tmp_path / name
    path.write_text(HEADER + "".join(rows))
    return str(path)


def test_columns_are_the_pages():
    js = (ROOT / "book" / "_static" / "turing" / "turing.js").read_text()
    columns = re.search(r"var COLUMNS = \[([^\]]*)\]", js).group(1)
    assert re.findall(r'"(\w+)"', columns) == list(turing.ANSWER_COLUMNS)
    assert HEADER.strip().split(",") == list(turing.ANSWER_COLUMNS)


def test_wilson_interval_by_hand():
    # 10 of 25: p = 0.4, z^2/n = 0.153658; centre (0.4 + 0.076829) / 1.153658 = 0.413318,
    # half-width 1.959964 * sqrt(0.0096 + 0.0015366) / 1.153658 = 0.179287
    low, high = evaluation.wilson_interval(10, 25)
    assert low == pytest.approx(0.234031, abs=1e-5) and high == pytest.approx(0.592605, abs=1e-5)
    # 0 of n: the lower end is 0 and the upper end z^2 / (n + z^2), not the Wald interval's 0
    low, high = evaluation.wilson_interval(0, 10)
    assert low == pytest.approx(0, abs=1e-12) and high == pytest.approx(Z**2 / (10 + Z**2))
    with pytest.raises(ValueError, match="successes=11 out of n=10"):
        evaluation.wilson_interval(11, 10)


def test_pool_three_files(tmp_path, capsys):
    files = [answers(tmp_path, "ana.csv", 3, 10), answers(tmp_path, "ben.csv", 5, 10),
             answers(tmp_path, "chloe.csv", 2, 5)]
    assert cli.main(["turing", "pool", *files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{files[0]}: fooled 3 of 10, fooling rate 30.0% "
                        f"(95% CI {evaluation.wilson_interval(3, 10)[0]:.1%} to "
                        f"{evaluation.wilson_interval(3, 10)[1]:.1%}, Wilson)")
    assert lines[-1] == ("pooled (3 files): fooled 10 of 25, fooling rate 40.0% "
                         "(95% CI 23.4% to 59.3%, Wilson)")
    assert len(lines) == 4
    rows = turing.pool_answers(files)
    assert [(r["fooled"], r["n"]) for r in rows] == [(3, 10), (5, 10), (2, 5), (10, 25)]
    assert math.isclose(rows[-1]["rate"], 0.4)


@pytest.mark.parametrize("content, words", [
    ("", "no answers in it"),
    (HEADER, "no answers in it"),
    ("trial,pair_id,answer\n1,p0,left\n", "no column fooled, correct (its columns: trial, "
                                          "pair_id, answer)"),
    (HEADER + "1,p0,unet,real,colorized,left,1,1,900\n", "line 2: fooled='1' and correct='1'"),
    (HEADER + "1,p0,unet,real,colorized,left,1,0,900\n2,p1,unet,real,colorized,left,yes,,9\n",
     "line 3: fooled='' and correct='yes'"),
])
def test_a_bad_file_is_named_with_what_is_wrong(tmp_path, capsys, content, words):
    good = answers(tmp_path, "good.csv", 1, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert cli.main(["turing", "pool", good, str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}" in err and words in err, err


def test_same_download_name_in_two_folders(tmp_path):
    (tmp_path / "ana").mkdir()
    (tmp_path / "ben").mkdir()
    rows = turing.pool_answers([answers(tmp_path, "ana/turing_test_answers.csv", 1, 4),
                                     answers(tmp_path, "ben/turing_test_answers.csv", 4, 4)])
    assert [r["name"].split("/")[-2:] for r in rows[:2]] == [
        ["ana", "turing_test_answers.csv"], ["ben", "turing_test_answers.csv"]]
    assert (rows[-1]["fooled"], rows[-1]["n"]) == (5, 8)


def test_missing_and_repeated_files(tmp_path, capsys):
    good = answers(tmp_path, "good.csv", 1, 2)
    assert cli.main(["turing", "pool", good, str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: cannot read it" in capsys.readouterr().err
    assert cli.main(["turing", "pool", good, good]) == 2
    assert "good.csv: given twice" in capsys.readouterr().err
