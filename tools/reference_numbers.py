"""Reference numbers: the range a correct implementation lands in, per chapter and scale.

The table is ``data/reference_numbers.csv``, one row per figure a chapter writes to its
numbers file (``runs/<scale>/<dataset>/chapters/<notebook>.json``):

``chapter``   the notebook's name without ``.ipynb``
``key``       the figure's place in that JSON file, keys joined by ``/`` (a key may hold dots:
              ``headline/color.auc.mean``); a list of per-seed values is read as its mean, and
              a ``.mean`` with ``.std`` and ``.n`` beside it as a summary over ``n`` seeds
``scale``, ``dataset``  where it was measured
``value``     the measured mean (empty while pending)
``tolerance`` half-width of the accepted range: 3 sample standard deviations over the seeds,
              at least ``FLOOR`` (empty when fewer than two seeds were measured)
``seeds``     how many seeds the value averages
``status``    ``measured`` or ``pending`` (no measurement yet: the figure is named, no number)
``source``    where the number comes from

Commands (standard library only)::

    python tools/reference_numbers.py check runs/book/cifar10/chapters/03_*.json
    python tools/reference_numbers.py measure runs/book/cifar10/chapters/*.json

``check`` prints one line per reference figure of that chapter, scale and dataset (in range,
out of range, no range yet, missing) and exits 1 if a figure is out of range or missing;
``measure`` prints table rows (CSV) computed from chapter files, for the instructor to paste.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import statistics
import sys

TABLE = pathlib.Path(__file__).resolve().parents[1] / "data" / "reference_numbers.csv"
COLUMNS = ["chapter", "key", "scale", "dataset", "value", "tolerance", "seeds", "status",
           "source"]
STATUSES = ("measured", "pending")
#: Smallest tolerance, relative to the value (a figure that never moved over the seeds).
FLOOR = 0.005
SPREAD = 3.0  # standard deviations


def load(path: str | pathlib.Path = TABLE) -> list[dict]:
    """The table's rows, values as floats (None when empty); raises ValueError naming the
    file, the line and the fix for a malformed row."""
    path = pathlib.Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {COLUMNS}")
        rows = []
        for line, row in enumerate(reader, start=2):
            where = f"{path}, line {line} ({row['chapter']} {row['key']})"
            if row["status"] not in STATUSES:
                raise ValueError(f"{where}: status {row['status']!r}; use one of {STATUSES}")
            try:
                for name in ("value", "tolerance"):
                    row[name] = float(row[name]) if row[name] else None
                row["seeds"] = int(row["seeds"]) if row["seeds"] else 0
            except ValueError as err:
                raise ValueError(f"{where}: {err}; give a number or leave it empty") from None
            measured = row["status"] == "measured"
            if measured != (row["value"] is not None) or (measured and row["seeds"] < 1):
                raise ValueError(f"{where}: a measured row has a value and seeds >= 1, a "
                                 "pending row has no value")
            if row["tolerance"] is not None and row["seeds"] < 2:
                raise ValueError(f"{where}: a tolerance needs the spread of >= 2 seeds")
            rows.append(row)
    return rows


def lookup(numbers: dict, key: str):
    """The figure at ``key`` (``a/b/c``) of a chapter's numbers: a float (the mean of a list
    of per-seed values) and the per-seed values; raises KeyError naming the missing part."""
    node = numbers
    for part in key.split("/"):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"{key}: no {part!r} here")
        node = node[part]
    values = [float(v) for v in node] if isinstance(node, list) else [float(node)]
    return statistics.fmean(values), values


def tolerance(values: list[float]) -> float | None:
    """``SPREAD`` sample standard deviations of per-seed values, at least ``FLOOR`` of their
    mean; None for one value (no spread to go by)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return max(SPREAD * statistics.stdev(values), FLOOR * abs(mean))


def check(rows: list[dict], numbers: dict) -> list[tuple[str, str]]:
    """(verdict, line) for each reference row of this chapter file's chapter, scale and
    dataset; verdicts ``ok``, ``out of range``, ``no range yet``, ``missing``."""
    settings = numbers.get("settings", {})
    mine = [r for r in rows if r["chapter"] == numbers.get("notebook")
            and r["scale"] == settings.get("scale") and r["dataset"] == settings.get("dataset")]
    out = []
    for row in mine:
        try:
            value, _ = lookup(numbers, row["key"])
        except KeyError as err:
            out.append(("missing", f"{row['key']}: {err.args[0]}"))
            continue
        ref = "pending" if row["value"] is None else f"{row['value']:.4g}"
        if row["tolerance"] is None:
            out.append(("no range yet", f"{row['key']} = {value:.4g} (reference {ref}, "
                                        f"{row['seeds']} seed(s): no spread measured)"))
            continue
        low, high = row["value"] - row["tolerance"], row["value"] + row["tolerance"]
        verdict = "ok" if low <= value <= high else "out of range"
        out.append((verdict, f"{row['key']} = {value:.4g}, expected {low:.4g} to {high:.4g} "
                             f"({ref} ± {row['tolerance']:.2g}, {row['seeds']} seeds)"))
    return out


def measure(numbers: dict, keys: list[str], source: str) -> list[dict]:
    """Table rows for ``keys`` of one chapter file (mean over seeds, tolerance from them)."""
    settings = numbers.get("settings", {})
    rows = []
    for key in keys:
        value, values = lookup(numbers, key)
        tol = tolerance(values)
        if key.endswith(".mean") and len(values) == 1:  # a summary: mean, std, n beside it
            try:
                std, n = (lookup(numbers, key[:-4] + part)[0] for part in ("std", "n"))
                values = [value] * int(n)
                tol = max(SPREAD * std, FLOOR * abs(value)) if n >= 2 else None
            except (KeyError, TypeError):
                pass
        rows.append({"chapter": numbers.get("notebook"), "key": key,
                     "scale": settings.get("scale"), "dataset": settings.get("dataset"),
                     "value": f"{value:.4g}", "tolerance": "" if tol is None else f"{tol:.2g}",
                     "seeds": len(values), "status": "measured", "source": source})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("check", "measure"))
    parser.add_argument("numbers", nargs="+", help="chapter numbers files (JSON)")
    parser.add_argument("--table", default=str(TABLE), help="the reference table (CSV)")
    parser.add_argument("--source", default="make book", help="measure: the source column")
    args = parser.parse_args(argv)
    try:
        rows = load(args.table)
        files = {p: json.loads(pathlib.Path(p).read_text(encoding="utf-8"))
                 for p in args.numbers}
    except (OSError, ValueError) as err:
        print(f"reference_numbers: error: {err}", file=sys.stderr)
        return 2
    bad = 0
    writer = csv.DictWriter(sys.stdout, COLUMNS) if args.action == "measure" else None
    for path, numbers in files.items():
        if writer:
            keys = [r["key"] for r in rows if r["chapter"] == numbers.get("notebook")]
            try:
                writer.writerows(measure(numbers, list(dict.fromkeys(keys)), args.source))
            except KeyError as err:
                print(f"reference_numbers: error: {path}: {err.args[0]}", file=sys.stderr)
                return 2
            continue
        for verdict, line in check(rows, numbers) or [("no range yet", "no reference rows")]:
            print(f"{path}: {verdict}: {line}")
            bad += verdict in ("out of range", "missing")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
