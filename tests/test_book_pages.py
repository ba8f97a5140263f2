"""Every page of the built book, as a reader sees it in headless Chromium.

The book (``_build/html``, from ``make book``) is served on localhost and each page is opened
in a fresh browser context (a first-time visitor: empty local storage). The rules are those
of ``tests/book_checks.py``: no markdown-table text, no traceback or error output, no
absolute path of the build machine, no image that fails to load, no figure without a
numbered caption, no image without a meaningful alt text, no table wider than the text
column, no table cells whose texts touch, no console error. One test per page; a failure
lists ``page: rule: snippet`` for each defect. Each chapter's notebook is read too: at least
40 % of its code visible, at least three exercises (``book_checks.check_notebook``).

Runs only when ``COLORBOOK_CHECK_BOOK=1`` (``make test-browser`` sets it, after ``make book`` in
``.ci/run``): in a plain ``make test`` a book built earlier may be stale. Skips when Chromium
(``apt-get install chromium``, or ``$CHROMIUM``), Playwright or the built book is missing.
``$BOOK_HTML`` points it at another build.
"""

from __future__ import annotations

import json
import os
import pathlib

import book_checks
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
HTML = pathlib.Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
PAGES = book_checks.book_pages(HTML) if (HTML / "index.html").exists() else []

pytestmark = pytest.mark.browser


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"]]
    stack = list(toc.get("parts", []))
    while stack:
        item = stack.pop(0)
        for entry in item.get("chapters", []) + item.get("sections", []):
            files.append(entry["file"])
            stack.append(entry)
    return files


@pytest.fixture(scope="module")
def chromium():
    if os.environ.get("COLORBOOK_CHECK_BOOK") != "1":
        pytest.skip("checks the built book only when COLORBOOK_CHECK_BOOK=1 (make test-browser)")
    if not (HTML / "index.html").exists():
        pytest.skip(f"no built book at {HTML}: run `make book` first")
    with book_checks.chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def book_url():
    with book_checks.serve(HTML) as base:
        yield base


def test_every_toc_entry_was_built_and_is_checked(chromium):
    missing = [f for f in _toc_files() if f"{f}.html" not in PAGES]
    assert not missing, f"pages of book/_toc.yml not in {HTML}: {missing}"


@pytest.mark.parametrize("page", PAGES or ["(no built book)"])
def test_page_reads_clean(chromium, book_url, page):
    context = book_checks.offline_context(chromium, book_url,
                                          viewport={"width": 1280, "height": 900})
    try:
        facts, events = book_checks.inspect_page(context, book_url + page)
    finally:
        context.close()
    defects = book_checks.check_page(page, facts, events, base_url=book_url,
                                     machine_roots=[str(ROOT), str(HTML)])
    assert not defects, book_checks.format_report(defects)


CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_shows_its_code_and_ends_with_exercises(notebook):
    if os.environ.get("COLORBOOK_CHECK_BOOK") != "1":
        pytest.skip("checks the book's chapters only when COLORBOOK_CHECK_BOOK=1 (make test-browser)")
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    defects = book_checks.check_notebook(f"notebooks/{notebook.name}", nb)
    assert not defects, book_checks.format_report(defects)
