"""Results tables: one helper for every table the book shows or writes.

A :class:`Table` holds rows of values and knows how to show them:

* in a notebook, as an HTML table (IPython's rich display calls :meth:`Table._repr_html_`):
  column headers carry their units, numbers are right-aligned, and the best value of every
  column with a direction is **bold** (an arrow in the header says which way is better);
* in a file (a results page, a README), as a Markdown table (:meth:`Table.to_markdown`);
* in a terminal, as aligned plain text (``str(table)``).

Cells may be strings (shown as given), integers (``1,234``), floats (``digits`` decimals,
``n/a`` for NaN), None (empty), or a summary over seeds: any object with ``mean`` and ``std``
attributes (:class:`colorutils.stats.Summary`), shown as ``mean ± std`` and ranked by its mean.

Examples
--------
>>> t = Table([{"model": "regression", "PSNR (dB)": 22.91, "AuC": 0.871},
...            {"model": "classification", "PSNR (dB)": 21.4, "AuC": 0.902}],
...           best={"PSNR (dB)": "max", "AuC": "max"}, digits={"PSNR (dB)": 2})
>>> print(t.to_markdown())
| model | PSNR (dB) ↑ | AuC ↑ |
|---|---:|---:|
| regression | **22.91** | 0.871 |
| classification | 21.40 | **0.902** |
>>> print(t)
model           PSNR (dB) ↑  AuC ↑
regression            22.91  0.871
classification        21.40  0.902
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Table", "DIRECTIONS", "format_value"]

#: How a column ranks its values: ``max`` (higher is better), ``min`` (lower is better),
#: ``one`` (closest to 1 is best, e.g. a ratio to the truth).
DIRECTIONS = {"max": "↑", "min": "↓", "one": "→1"}


#: Inline styles of the HTML table: padded cells (texts never touch), a font a little
#: smaller than the prose so that eight or nine columns fit the book's 704 px text column.
TABLE_STYLE = "border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0"
CELL_STYLE = "padding: 0.3em 0.5em; line-height: 1.3;"


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _has_spread(value) -> bool:
    return hasattr(value, "mean") and hasattr(value, "std") and _is_number(value.mean)


def format_value(value: Any, digits: int | str = 3) -> str:
    """One cell as text: see the module docstring for each kind of value.

    ``digits`` is a number of decimals, or a format specification such as ``".3g"``.

    >>> format_value(0.12345), format_value(1234), format_value(float("nan")), format_value(None)
    ('0.123', '1,234', 'n/a', '')
    """
    spec = f".{digits}f" if isinstance(digits, int) else digits
    if value is None:
        return ""
    if _has_spread(value):
        std = value.std
        mean = format(float(value.mean), spec)
        return mean if std is None or math.isnan(std) else f"{mean} ± {format(float(std), spec)}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    if _is_number(value):
        value = float(value)
        if math.isnan(value):
            return "n/a"
        return format(value, spec) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return str(value)


def _rank_value(value) -> float | None:
    """The number a cell is ranked by (its mean for a summary), or None if it has none."""
    if _has_spread(value):
        value = value.mean
    if not _is_number(value) or not math.isfinite(float(value)):
        return None
    return float(value)


class Table:
    """Rows of results with headers, units and the best value per column marked.

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per row, ``column key -> value``.
    columns : sequence of keys, or mapping ``key -> header``, optional
        The columns in order (default: every key of the rows, first seen first).  A mapping
        gives each column its header, e.g. ``{"psnr": "PSNR (dB)"}``: put units in headers.
    best : mapping ``column -> "max" | "min" | "one"``, optional
        The direction of each ranked column (keys or headers); its best value is marked.
    digits : int, str or mapping, optional
        Decimals of float cells (or a format specification such as ``".3g"``), for all
        columns or per column (keys or headers); default 3.
    reference_rows : sequence of str
        Rows shown for reference but never marked best, named by the value of their first
        column (e.g. ``"ground_truth"``, the ceiling of every metric).
    caption : str, optional
        A line above the table (HTML ``<caption>``; a paragraph before the Markdown table).
    """

    def __init__(self, rows: Sequence[Mapping], columns: Sequence | Mapping | None = None, *,
                 best: Mapping[str, str] | None = None, digits: int | str | Mapping = 3,
                 reference_rows: Sequence[str] = (), caption: str | None = None):
        self.rows = [dict(r) for r in rows]
        if columns is None:
            columns = list(dict.fromkeys(k for r in self.rows for k in r))
        self.headers = (dict(columns) if isinstance(columns, Mapping)
                        else {c: str(c) for c in columns})
        self.columns = list(self.headers)
        self.best = {self._key(c): d for c, d in (best or {}).items()}
        for column, direction in self.best.items():
            if direction not in DIRECTIONS:
                raise ValueError(f"best[{column!r}]={direction!r}: use one of "
                                 f"{', '.join(map(repr, DIRECTIONS))}.")
        self.digits = ({self._key(c): d for c, d in digits.items()}
                       if isinstance(digits, Mapping) else {c: digits for c in self.columns})
        self.reference_rows = tuple(reference_rows)
        self.caption = caption

    def _key(self, column) -> str:
        """A column key from its key or its header."""
        if column in self.headers:
            return column
        for key, header in self.headers.items():
            if header == column:
                return key
        raise KeyError(f"no column {column!r}; columns: {', '.join(map(str, self.headers))}.")

    # ------------------------------------------------------------------ cells
    def header(self, column) -> str:
        """The header of ``column``, with the arrow of its direction if it is ranked."""
        arrow = DIRECTIONS.get(self.best.get(column, ""), "")
        return f"{self.headers[column]} {arrow}" if arrow else str(self.headers[column])

    def cell(self, row: Mapping, column) -> str:
        """The text of one cell (``digits`` of its column)."""
        return format_value(row.get(column), self.digits.get(column, 3))

    def best_rows(self, column) -> set[int]:
        """Indices of the rows holding the best value of ``column`` (ties: all of them)."""
        direction = self.best.get(column)
        if direction is None:
            return set()
        digits = self.digits.get(column, 3)
        scores = {}
        for i, row in enumerate(self.rows):
            value = _rank_value(row.get(column))
            if value is None or str(row.get(self.columns[0])) in self.reference_rows:
                continue
            if isinstance(digits, int):
                value = round(value, digits)
            scores[i] = {"max": value, "min": -value, "one": -abs(value - 1.0)}[direction]
        top = max(scores.values(), default=None)
        return {i for i, s in scores.items() if s == top}

    def _numeric(self, column) -> bool:
        values = [self.rows[i].get(column) for i in range(len(self.rows))]
        present = [v for v in values if v is not None]
        return bool(present) and all(_is_number(v) or _has_spread(v) for v in present)

    def _grid(self, mark, escape=str) -> list[list[str]]:
        """Cell texts (through ``escape``), row by row, best cells through ``mark``."""
        best = {c: self.best_rows(c) for c in self.columns}
        return [[mark(escape(self.cell(row, c))) if i in best[c] else escape(self.cell(row, c))
                 for c in self.columns] for i, row in enumerate(self.rows)]

    # ------------------------------------------------------------------ outputs
    def to_markdown(self) -> str:
        """The table in Markdown (GitHub / MyST pipe table), best cells in ``**bold**``."""
        align = ["---:" if self._numeric(c) else "---" for c in self.columns]
        lines = ["| " + " | ".join(self.header(c) for c in self.columns) + " |",
                 "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in self._grid(lambda t: f"**{t}**")]
        return (f"{self.caption}\n\n" if self.caption else "") + "\n".join(lines)

    def _repr_html_(self) -> str:
        """The table in HTML (what a notebook and the rendered book show).

        The styles are inline so that they hold in any theme (the book, Jupyter, Colab):
        cells are padded (no two cells' texts touch), a number never breaks across lines but
        ``mean ± std`` may put its ``± std`` on a second line, headers wrap at spaces (a long
        header takes two lines rather than widening the table past the text column), and the
        table's text is a little smaller than the prose.
        """
        right = {c: self._numeric(c) for c in self.columns}

        def td(tag, text, column):  # numbers right-aligned, text left (whatever the theme)
            align = "right" if right[column] else "left"
            valign = "bottom" if tag == "th" else "top"
            return (f'<{tag} style="{CELL_STYLE} text-align: {align}; white-space: normal; '
                    f'vertical-align: {valign}">{text}</{tag}>')

        def unbroken(text):  # a number never breaks; "mean ± std" may take two lines
            if not text:
                return text
            parts = html.escape(text).split(" ± ")
            return " ".join(f'<span style="white-space: nowrap">{"± " * (i > 0)}{p}</span>'
                            for i, p in enumerate(parts))

        head = "".join(td("th", html.escape(self.header(c)), c) for c in self.columns)
        body = "".join(
            "<tr>" + "".join(td("td", text, c) for text, c in zip(cells, self.columns,
                                                                 strict=True)) + "</tr>"
            for cells in self._grid(lambda t: f"<strong>{t}</strong>", unbroken))
        caption = (f'<caption style="caption-side: top; text-align: left">'
                   f"{html.escape(self.caption)}</caption>" if self.caption else "")
        legend = self.legend()
        foot = (f'<tfoot><tr><td colspan="{len(self.columns)}" style="{CELL_STYLE} '
                f'text-align: left; font-size: smaller">{html.escape(legend)}</td></tr></tfoot>'
                if legend else "")
        return (f'<table class="colorutils-table" style="{TABLE_STYLE}">{caption}<thead><tr>'
                f"{head}</tr></thead><tbody>{body}</tbody>{foot}</table>")

    def legend(self) -> str:
        """What the marks mean, for the directions in use ("" when nothing is ranked)."""
        meaning = {"max": "↑ higher is better", "min": "↓ lower is better",
                   "one": "→1 closest to 1 is best"}
        used = [meaning[d] for d in DIRECTIONS if d in self.best.values()]
        return f"Bold: the best value of each column ({'; '.join(used)})." if used else ""

    def to_text(self) -> str:
        """Aligned plain text: first column left-aligned, the others right-aligned."""
        cells = [[self.header(c) for c in self.columns]] + self._grid(lambda t: t)
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                         .rstrip() for row in cells)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()
