"""Summaries over seeds: the numbers and sentences chapter 07 reports."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest

from colorutils import evaluation

matplotlib.use("Agg")


def test_summarize_matches_textbook_t_interval():
    s = evaluation.summarize([1.0, 2.0, 3.0])
    assert s.n == 3 and s.mean == pytest.approx(2.0) and s.std == pytest.approx(1.0)
    # t_{0.975, 2} = 4.302653
    half = 4.302653 / math.sqrt(3)
    assert s.low == pytest.approx(2.0 - half, abs=1e-5)
    assert s.high == pytest.approx(2.0 + half, abs=1e-5)
    assert "± 1.000" in s.format() and "n=3" in s.format()


def test_interval_narrows_with_more_seeds_and_lower_confidence():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    wide = evaluation.summarize(x[:3])
    narrow = evaluation.summarize(x)
    assert (narrow.high - narrow.low) < (wide.high - wide.low)
    c80 = evaluation.summarize(x, confidence=0.8)
    assert (c80.high - c80.low) < (narrow.high - narrow.low)


def test_single_seed_has_no_spread():
    s = evaluation.summarize([0.7])
    assert s.n == 1 and s.mean == 0.7 and math.isnan(s.std) and not s.has_spread
    assert "no spread" in s.format()
    c = evaluation.compare([0.5], [0.7], metric="accuracy")
    assert c.verdict == "one seed" and "no conclusion" in c.sentence()


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="no values"):
        evaluation.summarize([])
    with pytest.raises(ValueError, match="non-finite"):
        evaluation.summarize([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        evaluation.summarize([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="same seeds"):
        evaluation.compare([1, 2, 3], [1, 2], names=("solo", "joint"))


def test_paired_comparison_sees_a_consistent_shift_the_spread_hides():
    # Seeds vary a lot, but b beats a by exactly 0.1 on every seed: paired => "better".
    a = [0.30, 0.50, 0.70]
    b = [0.40, 0.61, 0.79]
    c = evaluation.compare(a, b, metric="accuracy", names=("scratch", "pretext"))
    assert c.verdict == "better" and c.wins == 3
    assert c.diff.mean == pytest.approx(0.1, abs=1e-9)
    assert "pretext better on 3 of them" in c.sentence()
    assert "pretext is better than scratch" in c.sentence()
    # Unpaired intervals of the two arms overlap heavily.
    sa, sb = evaluation.summarize(a), evaluation.summarize(b)
    assert sa.high > sb.low


def test_lower_is_better_and_within_spread():
    c = evaluation.compare([10.0, 11.0, 12.0], [9.0, 10.0, 11.1], metric="ab distance",
                      higher_is_better=False, names=("solo", "joint"))
    assert c.verdict == "better"  # joint's distance is lower on every seed
    assert c.wins == 3
    noisy = evaluation.compare([0.5, 0.6, 0.4], [0.6, 0.5, 0.45], metric="accuracy")
    assert noisy.verdict == "within spread" and noisy.wins == 2
    assert "contains zero" in noisy.sentence()
    neutral = evaluation.compare([1.0, 2.0, 3.0], [1.5, 2.6, 3.4], metric="colourfulness",
                            higher_is_better=None)
    assert neutral.verdict == "higher" and "b is higher than a" in neutral.sentence()


def test_records_table_flat_metrics_and_plot(tmp_path):
    records = [
        {"arm": "solo", "seed": 1, "psnr": 21.0},
        {"arm": "solo", "seed": 0, "psnr": 20.0},
        {"arm": "joint", "seed": 0, "psnr": 22.0, "acc": 0.5},
        {"arm": "joint", "seed": 1, "psnr": 23.0, "acc": 0.7},
    ]
    assert evaluation.values_of(records, "solo", "psnr") == [20.0, 21.0]  # seed order
    summ = evaluation.summarize_records(records, ["psnr", "acc"])
    assert list(summ) == ["solo", "joint"]
    assert "acc" not in summ["solo"] and summ["joint"]["acc"].mean == pytest.approx(0.6)
    table = evaluation.summary_table(summ, ["psnr", "acc"], digits=1, labels={"psnr": "PSNR"},
                                best={"psnr": "max"}).to_markdown()
    assert "| solo | 2 | 20.5 ± 0.7 |  |" in table and "PSNR ↑" in table
    assert "| joint | 2 | **22.5 ± 0.7** | 0.6 ± 0.1 |" in table
    flat = evaluation.flat_metrics(summ)
    assert flat["joint.psnr.mean"] == pytest.approx(22.5) and flat["joint.acc.n"] == 2
    json.dumps(flat)  # JSON-ready
    with pytest.raises(ValueError, match="known: acc, psnr"):
        evaluation.summarize_records(records, ["ssim"])
    ax = evaluation.plot_seeds(records, "psnr", ylabel="PSNR (dB)")
    assert ax.get_ylabel() == "PSNR (dB)" and ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["solo", "joint"]
    points = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert sum(len(ln.get_xdata()) for ln in points) == 4  # every seed of every arm shown


