"""The colorization Turing test for a class: answer files pooled into a fooling rate.

Each person who plays the Turing-test page (``book/_static/turing/``, written by
:mod:`colorutils.turing`) can download their answers as a CSV file, one row per pair
(:data:`ANSWER_COLUMNS`, the page's ``COLUMNS``).  ``colorutils turing pool CSV...`` reads a
class's files and prints each file's fooling rate (the share of pairs where the colorized photo
was taken for the real one) and the pooled rate, each with a 95 % Wilson score interval
(:func:`colorutils.stats.wilson_interval`).  This module needs no TensorFlow, so the command
answers at once.
"""

from __future__ import annotations

import csv
import os

from colorutils import stats
from colorutils.errors import UserError, first_line

__all__ = ["ANSWER_COLUMNS", "read_answers", "pool_answers", "pool_command"]

#: The columns of the answer file the Turing-test page downloads (``COLUMNS`` in turing.js).
ANSWER_COLUMNS = ("trial", "pair_id", "method", "left", "right", "chosen_side", "correct",
                  "fooled", "response_ms")


def read_answers(path: str | os.PathLike) -> tuple[int, int]:
    """(pairs where the colorization was picked, pairs answered) of one answer file.

    Raises :class:`~colorutils.errors.UserError` naming the file and what is wrong with it.
    """
    name = os.fspath(path)
    fix = "give the CSV the Turing-test page downloads (its button 'Download answers (CSV)')"
    try:
        with open(name, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{name}: cannot read it ({first_line(err)}); {fix}.") from None
    if not rows:
        raise UserError(f"{name}: no answers in it; {fix}, after playing at least one pair.")
    missing = [c for c in ("fooled", "correct") if c not in header]
    if missing:
        raise UserError(f"{name}: no column {', '.join(missing)} (its columns: "
                        f"{', '.join(header) or 'none'}); {fix}.")
    fooled = 0
    for line, row in enumerate(rows, start=2):
        if row["fooled"] not in ("0", "1") or row["correct"] not in ("0", "1") \
                or row["fooled"] == row["correct"]:
            raise UserError(f"{name}, line {line}: fooled={row['fooled']!r} and correct="
                            f"{row['correct']!r}; each answer has one of them 1 and the other "
                            "0: fix or delete that line.")
        fooled += row["fooled"] == "1"
    return fooled, len(rows)


def pool_answers(paths) -> list[dict]:
    """One row per answer file (named by its path: the page names every download
    ``turing_test_answers.csv``) and a last, pooled row: ``{"name", "fooled", "n", "rate",
    "low", "high"}``, with the 95 % Wilson score interval (:func:`stats.wilson_interval`).

    Pooling adds up the answers of every file, as if every answer were independent; answers
    of one person are not, so with few people the interval is too narrow.
    """
    paths = [os.fspath(p) for p in paths]
    real = [os.path.realpath(p) for p in paths]
    twice = sorted({p for p, r in zip(paths, real, strict=True) if real.count(r) > 1})
    if twice:
        raise UserError(f"{', '.join(twice)}: given twice; each answer file counts once.")
    counts = [(p, *read_answers(p)) for p in paths]
    files = f"{len(paths)} file{'s' * (len(paths) != 1)}"
    counts.append((f"pooled ({files})", sum(c[1] for c in counts), sum(c[2] for c in counts)))
    return [{"name": name, "fooled": k, "n": n, "rate": k / n,
             **dict(zip(("low", "high"), stats.wilson_interval(k, n), strict=True))}
            for name, k, n in counts]


def pool_command(args) -> int:
    """``colorutils turing pool CSV...``: each file's fooling rate, then the pooled one."""
    for row in pool_answers(args.answers):
        print(f"{row['name']}: fooled {row['fooled']} of {row['n']}, fooling rate "
              f"{row['rate']:.1%} (95% CI {row['low']:.1%} to {row['high']:.1%}, Wilson)")
    return 0
