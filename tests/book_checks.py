"""What a reader must never see on a page of the built book, as checks a browser test runs.

A page is loaded in headless Chromium (``tests/test_book_pages.py``); :data:`EXTRACT_JS`
collects the facts of its DOM (text blocks, cell outputs, images, figures) and the test
records the page's console errors, uncaught exceptions and failed requests.  The functions
here are pure: :func:`check_page` turns those facts into a list of :class:`Defect`, one per
thing a reader would notice.  The rules (``Defect.rule``):

``pipe-table``
    Markdown table text that was not rendered as a table: a separator such as ``|---|---|``
    (also ``|—|`` after smart quotes), or a line that starts with ``|`` and holds at least
    three ``|``.  Looked for in every text block (paragraph, list item, heading, caption,
    definition, quote; the text inside ``<pre>``, ``<code>``, ``<table>`` and maths removed)
    and in every text output of a code cell (a table printed as text).
``error-output``
    A MyST-NB error or stderr output area (``.output.traceback``, ``.output.stderr``); the
    words ``Traceback (most recent call last)`` anywhere on the page; or a line of a text
    output of a code cell that names an exception, ``SomeError:``/``SomeException:`` or
    ``(SomeError)``.  A cell that shows an error message *on purpose* (it teaches it) is
    tagged ``shows-error``; its exception lines are allowed, never its tracebacks.
``machine-path``
    An absolute path of the build machine in the page's text (code and collapsed cells
    included) or in an image's alt text: ``/work/``, ``/root/``, ``/tmp/``, ``/home/``,
    ``/Users/``, ``/opt/``, ``/mnt/``, ``/srv/``, ``/private/``, ``/var/folders/``, a
    ``file://`` address, a Windows ``C:\\Users\\``-style path, or any of the ``machine_roots``
    given (the repository's absolute path).
``broken-image``
    An ``<img>`` of the book (a local address) that did not load (``naturalWidth`` 0).
``uncaptioned-figure``
    An image in the page's article (a notebook output or a markdown image) that is not
    inside a ``<figure>`` whose ``<figcaption>`` has a caption number ("Figure 3") and a
    caption text.  Not counted: images outside the article (the theme's logos), badges
    (``shields.io``, ``*badge*``), and whatever a page shows inside an ``<iframe>`` (the
    Turing-test game is its own document).
``bad-alt``
    An image in the article whose ``alt`` is missing, empty, a file name or path
    (``_images/3fa….png``, ``x.png``, its own ``src``), a placeholder word ("image", "png",
    "figure", "plot", ...), or shorter than two words.
``wide-table``
    A table in the article wider than the text column (the article's content box, 704 px in
    the book's theme at a 1280 px window): the columns it holds past the edge sit behind a
    horizontal scroll bar.
``touching-cells``
    Two neighbouring cells of a table row whose texts are less than :data:`MIN_CELL_GAP_PX`
    apart (no padding): they read as one value, "25.33 ± 0.110.912".
``repeated-template``
    Generated prose: more than :data:`MAX_TEMPLATE_REPEATS` sentences of the page's text
    blocks that open with the same :data:`TEMPLATE_WORDS` words, numbers counted as one word
    ("#"), case ignored ("On these 16 photos PSNR prefers ..." three times).  A writer varies
    the openings; a loop that fills one f-string does not.  Code, outputs printed as text,
    tables and maths are not prose and are not counted.
``numbers-footer``
    The words "numbers quoted on this page" anywhere on the page: a chapter writes its JSON
    file quietly, and ``book/reproducibility.md`` says where each chapter's numbers are.
``console-error``
    A ``console.error`` message, an uncaught exception (page error), a request to a local
    address of the book that failed or answered HTTP 400 or more.  A resource a page marks
    as optional (``<script src="pairs.js" data-optional>``, the Turing page's generated pair
    set) may be missing: its failed request and the browser's "Failed to load resource"
    message for it are not counted.  Requests to other hosts are answered with an empty
    body by the test (the check runs offline) and not judged.

Two more rules read a chapter's notebook source rather than its page (:func:`check_notebook`,
rules in :data:`NOTEBOOK_RULES`):

``folded-code``
    A chapter whose visible code (code cells without a ``hide-input``, ``remove-input`` or
    ``remove-cell`` tag) is under :data:`MIN_VISIBLE_CODE` of its code lines, non-blank lines
    counted, the Colab set-up cell (tag ``colab-setup``) aside: a student cannot redo the
    experiment from what the page shows.
``few-exercises``
    A chapter with fewer than :data:`MIN_EXERCISES` exercises: ``exercise`` directives of
    sphinx-exercise (```` ```{exercise} ````, ``:::{exercise}``, also the ``exercise-start``
    form) in its markdown cells.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import pathlib
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

RULES = ("pipe-table", "error-output", "machine-path", "broken-image", "uncaptioned-figure",
         "bad-alt", "wide-table", "touching-cells", "repeated-template", "numbers-footer",
         "console-error")
NOTEBOOK_RULES = ("folded-code", "few-exercises")

#: Neighbouring cells' texts closer than this (CSS px) touch: "1,00025.446".
MIN_CELL_GAP_PX = 6.0
#: Share of a chapter's code lines (Colab set-up cell aside) that its page must show.
MIN_VISIBLE_CODE = 0.40
#: Exercises a chapter must end with.
MIN_EXERCISES = 3
#: Sentences of one page that may open with the same words, and how many words are compared.
MAX_TEMPLATE_REPEATS = 2
TEMPLATE_WORDS = 6

# Headless Chromium as the Turing-page test starts it (Debian's package, through Playwright).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-extensions", "--no-first-run"]
#: Debian's Chromium (``apt-get install chromium``; ``.ci/run`` installs it) or ``$CHROMIUM``.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@contextlib.contextmanager
def chromium_browser(args=CHROMIUM_ARGS):
    """Chromium driven by Playwright, for a pytest fixture; the calling test is skipped, with
    a message, when Chromium or Playwright is missing."""
    import pytest

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium; "
                    ".ci/run does) or set $CHROMIUM")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(args))
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Defect:
    """One thing a reader would notice on ``page``: which rule, and a snippet of it."""

    page: str
    rule: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.page}: {self.rule}: {self.snippet}"


# ---------------------------------------------------------------------------- text rules
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_PIPE_SEPARATOR = re.compile(rf"\|\s*:?[{_DASHES}]+:?\s*\|")
_PIPE_ROW = re.compile(r"^[ \t]*\|(?:[^|\n]*\|){2,}", re.M)


def _snippet(text: str, start: int = 0, width: int = 90) -> str:
    flat = " ".join(text[max(start, 0):].split())
    return flat[:width] + ("..." if len(flat) > width else "")


def find_pipe_table(text: str) -> str | None:
    """A snippet of markdown-table text in ``text`` (separator or ``| a | b |`` row), or None."""
    hits = [m for m in (_PIPE_SEPARATOR.search(text), _PIPE_ROW.search(text)) if m]
    if not hits:
        return None
    start = min(m.start() for m in hits)
    return _snippet(text, text.rfind("\n", 0, start) + 1)


_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
_EXCEPTION_LINE = re.compile(r"(?:^|[\s(])(?:[A-Za-z_][\w.]*)?(?:Error|Exception)(?::|\))", re.M)


def find_exception_line(text: str) -> str | None:
    """The first line of ``text`` that names an exception (``ValueError: ...``), or None."""
    m = _EXCEPTION_LINE.search(text)
    if not m:
        return None
    line_start = text.rfind("\n", 0, m.start() + 1) + 1
    line_end = text.find("\n", m.end())
    return _snippet(text[line_start:line_end if line_end >= 0 else None])


_MACHINE_PATH = re.compile(
    r"(?<![\w.~/-])(?:/(?:work|root|tmp|home|Users|opt|mnt|srv|private|var/folders)/[^\s'\"<>)\]]*"
    r"|file://[^\s'\"<>)]+"
    r"|[A-Za-z]:\\(?:Users|Windows|Program Files|tmp)\\[^\s'\"<>]*)")


def find_machine_path(text: str, machine_roots: tuple[str, ...] | list[str] = ()) -> str | None:
    """The first absolute path of a build machine in ``text``, or None."""
    hits = []
    for root in machine_roots:
        root = str(root).rstrip("/")
        if root and len(root) > 1:
            i = text.find(root)
            if i >= 0:
                hits.append((i, text[i:].split()[0] if text[i:].split() else root))
    m = _MACHINE_PATH.search(text)
    if m:
        hits.append((m.start(), m.group(0)))
    if not hits:
        return None
    i, path = min(hits)
    start = max(text.rfind("\n", 0, i) + 1, i - 40)
    return _snippet(text, start, 120)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*|[+\-\u2212]?\d[\d.,]*")


def sentence_template(sentence: str) -> str | None:
    """The first :data:`TEMPLATE_WORDS` words of ``sentence``, lower case, every number
    written ``#``; None for a shorter sentence."""
    words = ["#" if w[-1].isdigit() else w.lower() for w in _WORD.findall(sentence)]
    return " ".join(words[:TEMPLATE_WORDS]) if len(words) >= TEMPLATE_WORDS else None


def find_repeated_templates(texts) -> list[str]:
    """One snippet per sentence opening that more than :data:`MAX_TEMPLATE_REPEATS`
    sentences of ``texts`` share (``'3 sentences open with "..."'``), most frequent first."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for text in texts:
        for sentence in _SENTENCE_END.split(" ".join(text.split())):
            key = sentence_template(sentence)
            if key:
                counts[key] = counts.get(key, 0) + 1
                first.setdefault(key, sentence)
    repeated = sorted((k for k, n in counts.items() if n > MAX_TEMPLATE_REPEATS),
                      key=lambda k: -counts[k])
    return [f'{counts[k]} sentences open with "{k} ...": {_snippet(first[k], 0, 70)}'
            for k in repeated]


_NUMBERS_FOOTER = re.compile(r"numbers quoted on this page", re.I)


def find_numbers_footer(text: str) -> str | None:
    """A snippet of the "numbers quoted on this page: ..." line in ``text``, or None."""
    m = _NUMBERS_FOOTER.search(text)
    return _snippet(text, m.start()) if m else None


_FILE_LIKE = re.compile(r"(?:\.(?:png|jpe?g|gif|svg|webp|bmp|tiff?)$|^_images/|/_images/|^\.\./"
                        r"|^[0-9a-f]{16,}$|^[\w-]+\.[a-z]{2,4}$)", re.I)
_PLACEHOLDERS = {"image", "img", "png", "jpg", "figure", "fig", "plot", "picture", "photo",
                 "graph", "chart", "output", "untitled", "alt", "alt text", "none", "null"}


def alt_problem(alt: str | None, src: str = "") -> str | None:
    """Why ``alt`` is not a meaningful description of an image, or None if it is one."""
    if alt is None:
        return "no alt attribute"
    text = " ".join(alt.split())
    if not text:
        return "empty alt"
    name = src.rsplit("/", 1)[-1].split("?")[0]
    if _FILE_LIKE.search(text) or text == src or (name and text == name):
        return f"alt is a file name: {text[:60]!r}"
    if text.lower().strip(".") in _PLACEHOLDERS:
        return f"alt is a placeholder: {text!r}"
    if len(text.split()) < 2:
        return f"alt too short to describe the image: {text!r}"
    return None


_BADGE = re.compile(r"badge|shields\.io", re.I)


# ---------------------------------------------------------------------------- the page
def check_page(page: str, facts: dict, events: list[dict] | None = None, *,
               base_url: str = "", machine_roots: tuple[str, ...] | list[str] = ()
               ) -> list[Defect]:
    """Every defect of one page, from the DOM facts (:data:`EXTRACT_JS`) and the browser events.

    ``events`` are dicts with ``kind`` (``console``, ``pageerror``, ``requestfailed``,
    ``response``), ``text``, ``url`` and, for responses, ``status``; ``base_url`` is the
    address the book is served from (requests under it are the book's own).
    """
    defects: list[Defect] = []

    def add(rule: str, snippet: str) -> None:
        d = Defect(page, rule, snippet)
        if d not in defects:
            defects.append(d)

    # pipe tables: in text blocks, then in text outputs of code cells
    for block in facts.get("blocks", []):
        hit = find_pipe_table(block["text"])
        if hit:
            add("pipe-table", f"<{block['tag']}> {hit}")
    for out in facts.get("outputs", []):
        if "text_html" in out["classes"]:
            continue  # rich HTML output: its text blocks and tables are judged as such
        hit = find_pipe_table(out["text"])
        if hit:
            add("pipe-table", f"output printed as text: {hit}")

    # error output
    for out in facts.get("outputs", []):
        classes = set(out["classes"])
        if classes & {"traceback", "stderr", "error"}:
            kind = "traceback" if "traceback" in classes else "stderr"
            add("error-output", f"{kind} output: {_snippet(out['text'])}")
            continue
        if "shows-error" in out.get("tags", []) or "text_html" in classes:
            continue
        hit = find_exception_line(out["text"])
        if hit:
            add("error-output", f"exception in an output: {hit}")
    text = facts.get("text", "")
    m = _TRACEBACK.search(text)
    if m and not any("Traceback" in d.snippet for d in defects):
        add("error-output", _snippet(text, m.start()))

    # machine paths: page text and alt texts
    hit = find_machine_path(text, machine_roots)
    if hit:
        add("machine-path", hit)
    for img in facts.get("images", []):
        hit = find_machine_path(img.get("alt") or "", machine_roots)
        if hit:
            add("machine-path", f"in alt text: {hit}")

    # images
    for img in facts.get("images", []):
        src = img.get("attr_src") or img.get("src", "")
        absolute = img.get("src", "")
        external = urlsplit(absolute).scheme in ("http", "https") and not _is_local(absolute,
                                                                                   base_url)
        if not external and img.get("complete") and not img.get("natural_width"):
            add("broken-image", src)  # (other hosts are not fetched: the check runs offline)
        if not img.get("in_article") or _BADGE.search(src):
            continue
        fig = img.get("figure")
        name = src.rsplit("/", 1)[-1]
        name = name if len(name) <= 24 else name[:12] + "..." + name[-8:]
        if not fig or not fig.get("caption") or not fig.get("numbered"):
            why = ("not in a figure" if not fig else
                   "figure without caption" if not fig.get("caption") else
                   "caption not numbered")
            where = "cell output" if img.get("in_output") else "markdown image"
            add("uncaptioned-figure", f"{where} {name}: {why}"
                + (f" ({img['context']})" if img.get("context") else ""))
        problem = alt_problem(img.get("alt"), src)
        if problem:
            add("bad-alt", f"{name}: {problem}")

    # tables: wider than the text column, or cells whose texts touch
    for table in facts.get("tables", []):
        column = table.get("column") or 0
        if column and table["width"] > column + 1:
            add("wide-table", f"{table['width']:.0f} px in a {column:.0f} px column: "
                              f"{_snippet(table.get('head', ''), 0, 70)}")
        for pair in table.get("gaps", []):
            if pair["gap"] < MIN_CELL_GAP_PX:
                add("touching-cells", f"{pair['left']!r} and {pair['right']!r} "
                                      f"{pair['gap']:.0f} px apart, read as "
                                      f"{pair['left'] + pair['right']!r}")
                break  # one pair per table tells the reader's problem

    # generated prose: one sentence template filled again and again; the JSON footer line
    # (bibliography entries repeat "In Proceedings of ..." by nature: not prose)
    for hit in find_repeated_templates(block["text"] for block in facts.get("blocks", [])
                                       if not block.get("bib")):
        add("repeated-template", hit)
    hit = find_numbers_footer(text)
    if hit:
        add("numbers-footer", hit)

    # console errors, page errors, failed local requests
    defects.extend(_console_defects(page, events or [], facts.get("optional", []), base_url,
                                    defects))
    return defects


def _is_local(url: str, base_url: str) -> bool:
    return url.startswith("file:") or bool(base_url) and url.startswith(base_url)


def _console_defects(page: str, events: list[dict], optional: list[str], base_url: str,
                     already: list[Defect]) -> list[Defect]:
    optional = {u.split("?")[0] for u in optional if u}
    failed: dict[str, str] = {}
    out: list[Defect] = []
    for ev in events:
        url = ev.get("url", "") or ""
        if ev["kind"] in ("requestfailed", "response") and _is_local(url, base_url):
            if ev["kind"] == "response" and ev.get("status", 0) < 400:
                continue
            if url.split("?")[0] in optional:
                continue
            why = f"HTTP {ev['status']}" if ev["kind"] == "response" else ev.get("text", "")
            failed.setdefault(url, why)
    for url, why in failed.items():
        out.append(Defect(page, "console-error", f"failed request {_rel(url, base_url)} ({why})"))
    for ev in events:
        url = (ev.get("url", "") or "").split("?")[0]
        if ev["kind"] == "pageerror":
            out.append(Defect(page, "console-error", f"uncaught: {_snippet(ev['text'])}"))
        elif ev["kind"] == "console":
            if ev["text"].startswith("Failed to load resource") and (
                    url in optional or any(u.split("?")[0] == url for u in failed)):
                continue  # optional, or already reported as a failed request
            out.append(Defect(page, "console-error", f"console.error: {_snippet(ev['text'])}"))
    unique: list[Defect] = []
    for d in out:
        if d not in unique and d not in already:
            unique.append(d)
    return unique


def _rel(url: str, base_url: str) -> str:
    return url[len(base_url):] if base_url and url.startswith(base_url) else url


def format_report(defects: list[Defect]) -> str:
    """The defects grouped by page, one line each: ``page: rule: snippet``."""
    if not defects:
        return "no defects"
    lines = [f"{len(defects)} defect(s) a reader would see:"]
    for page in dict.fromkeys(d.page for d in defects):
        lines.append(f"  {page}")
        lines += [f"    {d.rule}: {d.snippet}" for d in defects if d.page == page]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- notebooks
FOLDED_TAGS = frozenset({"hide-input", "remove-input", "remove-cell"})
_EXERCISE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})[ \t]*\{exercise(?:-start)?\}", re.M)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def code_lines(notebook: dict) -> tuple[int, int]:
    """``(visible, folded)``: non-blank lines of a notebook's code cells that its page shows and
    hides (tags :data:`FOLDED_TAGS`); the Colab set-up cell (tag ``colab-setup``) and the
    student versions' checks (tag ``student-check``: tests of a function, not the experiment)
    are not counted."""
    visible = folded = 0
    for cell in notebook.get("cells", []):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.get("cell_type") != "code" or tags & {"colab-setup", "student-check"}:
            continue
        n = sum(1 for line in _source(cell).splitlines() if line.strip())
        if tags & FOLDED_TAGS:
            folded += n
        else:
            visible += n
    return visible, folded


def count_exercises(notebook: dict) -> int:
    """The ``exercise`` directives (sphinx-exercise) in a notebook's markdown cells."""
    return sum(len(_EXERCISE.findall(_source(c))) for c in notebook.get("cells", [])
               if c.get("cell_type") == "markdown")


def check_notebook(page: str, notebook: dict) -> list[Defect]:
    """The chapter-level defects of one notebook (rules :data:`NOTEBOOK_RULES`)."""
    defects = []
    visible, folded = code_lines(notebook)
    if visible + folded and visible < MIN_VISIBLE_CODE * (visible + folded):
        defects.append(Defect(page, "folded-code",
                              f"{visible} of {visible + folded} code lines visible "
                              f"({visible / (visible + folded):.0%}; at least "
                              f"{MIN_VISIBLE_CODE:.0%}): unfold the experiment's code"))
    n = count_exercises(notebook)
    if n < MIN_EXERCISES:
        defects.append(Defect(page, "few-exercises",
                              f"{n} exercise(s); a chapter ends with at least {MIN_EXERCISES}"))
    return defects


# ---------------------------------------------------------------------------- the book
def book_pages(html_root: str | pathlib.Path) -> list[str]:
    """The book's HTML pages under ``html_root``, relative, sorted (no static files, no
    redirect stubs such as the root ``index.html``)."""
    root = pathlib.Path(html_root)
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in {"_static", "_sources", "_images", "_downloads"}:
            continue
        head = path.read_text(encoding="utf-8", errors="replace")[:400].lower()
        if 'http-equiv="refresh"' in head and "<body" not in head:
            continue
        pages.append(rel)
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test prints defects, not access logs
        pass


@contextlib.contextmanager
def serve(directory: str | pathlib.Path):
    """Serve ``directory`` on an ephemeral localhost port; yields the base URL (ends in /)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# The DOM facts of a page, collected in the browser. Images are waited for (5 s at most).
EXTRACT_JS = r"""
async () => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main')
                  || document.body;
  const imgs = [...document.images];
  imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r, {once: true});
    i.addEventListener('error', r, {once: true});
    setTimeout(r, 5000);
  })));
  const SKIP = 'pre, code, table, .math, math, mjx-container, script, style, template, noscript';
  const NESTED = 'p, li, ul, ol, dl, dt, dd, blockquote, div, figure, section, h1, h2, h3, h4, h5, h6';
  const ownText = el => {
    const c = el.cloneNode(true);
    c.querySelectorAll(SKIP + ', ' + NESTED).forEach(n => n.remove());
    return c.textContent;
  };
  const blocks = [...article.querySelectorAll(
      'p, li, dt, dd, h1, h2, h3, h4, h5, h6, blockquote, figcaption, .line')]
    .filter(el => !el.closest(SKIP))
    .map(el => ({tag: el.tagName.toLowerCase(), text: ownText(el),
                 bib: !!el.closest('.citation, [role="doc-biblioentry"]')}))
    .filter(b => b.text.trim());
  const tagsOf = el => {
    const cell = el.closest('.cell');
    return cell ? [...cell.classList].filter(c => c.startsWith('tag_')).map(c => c.slice(4)) : [];
  };
  const outputs = [...new Set(article.querySelectorAll(
      '.cell_output .output, .output.stderr, .output.traceback, .output.error'))]
    .map(el => ({classes: [...el.classList], text: el.textContent, tags: tagsOf(el)}));
  const where = el => {  // the cell's first line of code, else the text just before
    const src = el.closest('.cell') && el.closest('.cell').querySelector('.cell_input pre');
    if (src) return 'cell: ' + src.textContent.trim().split('\n')[0].slice(0, 70);
    let p = (el.closest('figure') || el).previousElementSibling;
    while (p && !p.textContent.trim()) p = p.previousElementSibling;
    return p ? 'after: ' + p.textContent.trim().replace(/\s+/g, ' ').slice(-60) : '';
  };
  const images = imgs.map(i => {
    const fig = i.closest('figure');
    const cap = fig ? fig.querySelector('figcaption') : null;
    return {
      src: i.currentSrc || i.src, attr_src: i.getAttribute('src') || '',
      alt: i.hasAttribute('alt') ? i.getAttribute('alt') : null,
      natural_width: i.naturalWidth, complete: i.complete,
      in_article: article.contains(i), in_output: !!i.closest('.cell_output'),
      context: article.contains(i) ? where(i) : '',
      figure: fig ? {
        id: fig.id,
        caption: cap ? (cap.querySelector('.caption-text') || cap).textContent.trim() : '',
        numbered: !!(cap && cap.querySelector('.caption-number')),
      } : null,
    };
  });
  const style = getComputedStyle(article);
  const column = article.clientWidth - parseFloat(style.paddingLeft || 0)
                 - parseFloat(style.paddingRight || 0);
  const textRect = el => {
    const r = document.createRange();
    r.selectNodeContents(el);
    return r.getBoundingClientRect();
  };
  const clean = s => s.replace(/\s+/g, ' ').trim();
  const tables = [...article.querySelectorAll('table')]
    .filter(t => !t.closest('pre, .math, mjx-container, .cell_input') && t.getClientRects().length)
    .map(t => {
      const gaps = [];
      for (const row of t.rows) {
        const cells = [...row.cells];
        for (let i = 0; i + 1 < cells.length; i++) {
          const a = clean(cells[i].textContent), b = clean(cells[i + 1].textContent);
          if (!a || !b) continue;
          const gap = textRect(cells[i + 1]).left - textRect(cells[i]).right;
          if (gap < 12 && gaps.length < 5) gaps.push({left: a, right: b, gap});
        }
      }
      return {width: t.getBoundingClientRect().width, column,
              head: clean((t.rows[0] || t).textContent).slice(0, 120), gaps};
    });
  const clone = article.cloneNode(true);
  clone.querySelectorAll('script, style, template, noscript').forEach(n => n.remove());
  const optional = [...document.querySelectorAll('[data-optional]')]
    .map(e => e.src || e.href || '');
  return {title: document.title, blocks, outputs, images, tables, text: clone.textContent,
          optional, iframes: [...document.querySelectorAll('iframe')].map(f => f.src)};
}
"""

OPTIONAL_JS = ("() => [...document.querySelectorAll('[data-optional]')]"
               ".map(e => e.src || e.href || '')")


def inspect_page(context, url: str, *, settle_ms: int = 300) -> tuple[dict, list[dict]]:
    """Load ``url`` in a new tab of the Playwright browser ``context``; return its DOM facts
    and the events seen while it loaded (console errors, page errors, requests, responses)."""
    events: list[dict] = []
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and events.append(
        {"kind": "console", "text": m.text, "url": (m.location or {}).get("url", "")}))
    page.on("pageerror", lambda e: events.append({"kind": "pageerror", "text": str(e), "url": ""}))
    page.on("requestfailed", lambda r: events.append(
        {"kind": "requestfailed", "text": r.failure or "failed", "url": r.url}))
    page.on("response", lambda r: r.status >= 400 and events.append(
        {"kind": "response", "text": r.status_text, "url": r.url, "status": r.status}))
    try:
        page.goto(url, wait_until="load")
        facts = page.evaluate(EXTRACT_JS)
        for frame in page.frames[1:]:  # optional resources of embedded pages (iframes)
            with contextlib.suppress(Exception):
                facts["optional"] += frame.evaluate(OPTIONAL_JS)
        page.wait_for_timeout(settle_ms)  # late console errors (deferred scripts)
    finally:
        page.close()
    return facts, events


def offline_context(browser, base_url: str, **kwargs):
    """A browser context in which only ``base_url`` is fetched; other hosts get an empty 200."""
    context = browser.new_context(**kwargs)

    def route(r):
        if r.request.url.startswith(base_url) or r.request.url.startswith("file:"):
            r.continue_()
        else:
            r.fulfill(status=200, body="")

    context.route("**/*", route)
    return context
