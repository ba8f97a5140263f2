"""Author-year labels for the book's bibliography (a local Sphinx extension).

sphinxcontrib-bibtex renders ``{cite}`key``` in the text as ``[Zhang et al., 2016]``
(``bibtex_reference_style: author_year``), but the bibliography itself keeps the labels of
its pybtex style, e.g. ``[ZIE16]`` or ``[BGonzalezMorinRodesG17]``, which a reader cannot
match with the citation. This extension registers the pybtex style ``author_year_plain``:
pybtex's ``plain`` entries, sorted by author, year and title, labelled the way the text
cites them (``Zhang et al., 2016``, ``Kingma and Ba, 2015``, ``Fairchild, 2013``; ``a``,
``b`` appended when two entries would share a label). ``_config.yml`` selects it with
``bibtex_default_style: author_year_plain``.
"""

from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person) -> str:
    parts = [*person.rich_prelast_names, *person.rich_last_names]
    return " ".join(part.render_as("text") for part in parts)


def author_year_label(entry) -> str:
    """``Zhang et al., 2016`` for an entry (authors, else editors, else its key)."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in persons]
    if not names:
        who = entry.key
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    year = entry.fields.get("year", "n.d.")
    return f"{who}, {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [author_year_label(entry) for entry in sorted_entries]
        seen: dict[str, int] = {}
        for label in labels:
            if labels.count(label) > 1:  # Zhang et al., 2016a and 2016b
                seen[label] = seen.get(label, 0) + 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearPlainStyle(PlainStyle):
    default_label_style = "author_year"


def setup(app):
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", "author_year_plain", AuthorYearPlainStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
