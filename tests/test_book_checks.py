"""The book's browser checks (tests/book_checks.py) catch each defect and pass a clean page.

Pure tests of the text rules run anywhere; the seeded pages (tiny HTML pages shaped like
the built book's, one defect each) are loaded in headless Chromium through the same
:func:`book_checks.inspect_page` the book test uses, and must report exactly their defect.
"""

from __future__ import annotations

import io
import pathlib
import textwrap

import book_checks
import pytest
from book_checks import (
    alt_problem,
    check_page,
    find_exception_line,
    find_machine_path,
    find_numbers_footer,
    find_pipe_table,
    find_repeated_templates,
)


# ------------------------------------------------------------------- text rules (no browser)
@pytest.mark.parametrize("text", [
    "| model | PSNR |\n|---|---|\n| a | 1 |",
    "| model | PSNR | |\u2014|\u2014| | a | 1 |",  # a run-on paragraph after smart quotes
    "results:\n| :--- | ---: |",
    "  | arm | n | AuC |",
])
def test_pipe_table_text_is_found(text):
    assert find_pipe_table(text)


@pytest.mark.parametrize("text", [
    "choose smoke | book | full in the parameters",  # prose with pipes, not at a line start
    "the absolute value |x| of a number",
    "a - b - c",
    "",
])
def test_prose_is_not_a_pipe_table(text):
    assert find_pipe_table(text) is None


def test_exception_lines():
    assert find_exception_line("ok\nValueError: rgb has float values above 1") == \
        "ValueError: rgb has float values above 1"
    assert "ModuleNotFoundError" in find_exception_line("plot_model skipped (ModuleNotFoundError)")
    assert find_exception_line("tf.errors.InvalidArgumentError: bad")
    assert find_exception_line("mean squared error: 0.3") is None
    assert find_exception_line("Errors are for people") is None


@pytest.mark.parametrize("text", ["saved /work/colorbook/runs/summary.csv", "see /tmp/x",
                                  "cwd=/root/book", "file:///home/me/book/index.html",
                                  "model: folder:/home/me/photos", r"C:\Users\me\book"])
def test_machine_paths_are_found(text):
    assert find_machine_path(text)


@pytest.mark.parametrize("text", ["runs/book/sample/classification/seed0", "/content/drive/MyDrive",
                                  "https://example.org/tmp/x.png", "book/_static/turing/",
                                  "a ratio 1/2 and 3/4"])
def test_relative_and_colab_paths_are_fine(text):
    assert find_machine_path(text) is None


def test_the_repository_root_counts_as_a_machine_path():
    assert find_machine_path("wrote /srv2/ci/colorbook/x.png", ["/srv2/ci/colorbook"])
    assert find_machine_path("wrote runs/x.png", ["/srv2/ci/colorbook"]) is None


@pytest.mark.parametrize("alt,src", [(None, "a.png"), ("", "a.png"), ("  ", "a.png"),
                                     ("../_images/3fa9.png", "../_images/3fa9.png"),
                                     ("3fa9c0de5b1d2e3f4a5b6c7d", "x"), ("figure", "x.png"),
                                     ("image", "x.png"), ("astronaut.png", "x.png"),
                                     ("Astronaut", "x.png")])
def test_meaningless_alt_texts(alt, src):
    assert alt_problem(alt, src)


def test_a_description_is_a_meaningful_alt():
    assert alt_problem("The astronaut photo in RGB, Lab, HSV and YUV channels", "x.png") is None


GENERATED = ["On these 16 photos PSNR prefers gray (24.10 dB against 21.3 dB).",
             "On these 16 photos PSNR prefers the truth (inf dB against 24.1 dB).",
             "On these 16 photos PSNR prefers half saturation (26.02 dB against 24.10 dB)."]


def test_a_sentence_template_filled_three_times_is_found():
    hits = find_repeated_templates(GENERATED)
    assert hits == ['3 sentences open with "on these # photos psnr prefers ...": On these 16 '
                    'photos PSNR prefers gray (24.10 dB against 21.3 dB).']
    # in one block or in three, with the numbers changed, in other letter case
    assert find_repeated_templates([" ".join(GENERATED).upper()])
    assert find_repeated_templates([g.replace("16", "9,000") for g in GENERATED])


@pytest.mark.parametrize("texts", [
    GENERATED[:2],  # twice is allowed: a writer may echo a phrase once
    [GENERATED[0], GENERATED[1], "On these photos, PSNR prefers gray."],  # 5 words before "gray"
    ["On these 16 photos.", "On these 16 photos.", "On these 16 photos."],  # under 6 words
    ["The classifier is more colourful than the regressor.",
     "The classifier is less colourful than the regressor.",
     "The regressor is more colourful than the classifier."],  # openings differ by word 4
    [],
])
def test_varied_or_short_sentences_are_no_template(texts):
    assert find_repeated_templates(texts) == []


def test_the_numbers_footer_is_found():
    assert find_numbers_footer("numbers quoted on this page: chapters/02.json under the run "
                               "root; chapter run time 378 s").startswith("numbers quoted")
    assert find_numbers_footer("Numbers Quoted On This Page: x")
    assert find_numbers_footer("the numbers this page quotes are in the chapter's JSON file") \
        is None


def test_check_page_on_hand_made_facts():
    clean = {"blocks": [{"tag": "p", "text": "Lab separates L from ab."}],
             "outputs": [{"classes": ["output", "stream"], "text": "psnr 24.1 dB", "tags": []}],
             "images": [{"src": "http://h/_images/a.png", "attr_src": "../_images/a.png",
                         "alt": "Four colour spaces of one photo", "natural_width": 64,
                         "complete": True, "in_article": True, "in_output": True,
                         "figure": {"id": "fig-a", "caption": "Four spaces.", "numbered": True}}],
             "text": "Lab separates L from ab. psnr 24.1 dB", "optional": []}
    assert check_page("p.html", clean, [], base_url="http://h/") == []
    broken = dict(clean, images=[dict(clean["images"][0], natural_width=0)])
    assert [d.rule for d in check_page("p.html", broken, [], base_url="http://h/")] == \
        ["broken-image"]
    external = dict(clean, images=[dict(clean["images"][0], src="https://img.shields.io/b.svg",
                                        attr_src="https://img.shields.io/b.svg", natural_width=0,
                                        in_article=True, figure=None, alt="")])
    assert check_page("p.html", external, [], base_url="http://h/") == []  # a badge, offline
    events = [{"kind": "response", "url": "http://h/x/pairs.js", "status": 404, "text": ""},
              {"kind": "console", "url": "http://h/x/pairs.js",
               "text": "Failed to load resource: the server responded with a status of 404"}]
    assert [str(d) for d in check_page("p.html", clean, events, base_url="http://h/")] == \
        ["p.html: console-error: failed request x/pairs.js (HTTP 404)"]
    optional = dict(clean, optional=["http://h/x/pairs.js"])
    assert check_page("p.html", optional, events, base_url="http://h/") == []


def test_report_lists_page_rule_and_snippet():
    defects = [book_checks.Defect("a.html", "pipe-table", "<p> | x | y |"),
               book_checks.Defect("a.html", "bad-alt", "x.png: empty alt"),
               book_checks.Defect("b.html", "console-error", "uncaught: boom")]
    report = book_checks.format_report(defects)
    assert report.splitlines() == ["3 defect(s) a reader would see:", "  a.html",
                                   "    pipe-table: <p> | x | y |", "    bad-alt: x.png: empty alt",
                                   "  b.html", "    console-error: uncaught: boom"]


# ------------------------------------------------------------------- seeded pages (Chromium)
def _png(width=8, height=6) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, format="PNG")
    return buf.getvalue()


FIGURE = """<figure class="align-default" id="fig-spaces">
<img alt="The astronaut photo split into its RGB, Lab, HSV and YUV channels" src="_images/a.png">
<figcaption><p><span class="caption-number">Figure 1 </span>
<span class="caption-text">One photo in four colour spaces.</span></p></figcaption></figure>"""


def _cell(output: str, tags: str = "", source: str = "plt.show()") -> str:
    return f"""<div class="cell docutils container {tags}">
<div class="cell_input docutils container"><div class="highlight"><pre>{source}</pre></div></div>
<div class="cell_output docutils container">{output}</div></div>"""


def _stream(text: str) -> str:
    return f'<div class="output stream highlight-myst-ansi"><div class="highlight"><pre>{text}</pre></div></div>'


CLEAN_BODY = f"""
<h1>Colour spaces</h1>
<p>Lab separates lightness from colour (<a href="#fig-spaces">Figure 1</a>); models are read
from <code>runs/book/sample/seed0</code>; code may say <code>| a | b |</code>.</p>
<ul><li>smoke | book | full are the scales</li></ul>
{_cell(FIGURE)}
{_cell(_stream("psnr: 24.1 dB"), source="print(f'| {{x}} |')  # |---| in code is fine")}
<div class="output text_html"><table><thead><tr><th>model</th><th>PSNR</th></tr></thead>
<tbody><tr><td>lab</td><td>24.1</td></tr></tbody></table></div>
{_cell(_stream("ValueError: rgb has float values above 1; divide by 255"), tags="tag_shows-error",
       source="color.rgb_to_lab(photo255)")}
<p>The pairs come from <code>book/_static/turing/</code>.</p>
"""


# The book theme's text column and its table cells' padding, as the built pages have them.
THEME = ("<style>article.bd-article { width: 704px; padding: 0 8px; }"
         " td, th { padding: 0.25em 0.6em; }</style>")

TABLE_ROW = "<tr>{}</tr>"


def _table(rows, cell_style: str = "") -> str:
    cells = "".join(TABLE_ROW.format("".join(f'<td style="text-align: right;{cell_style}">{c}</td>'
                                             for c in row)) for row in rows)
    return f'<div class="output text_html"><table class="colorutils-table">{cells}</table></div>'


def _page(body: str, head: str = "") -> str:
    return textwrap.dedent(f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
    <title>seeded</title>{THEME}{head}</head><body>
    <header><img src="_images/logo.png" alt=""></header>
    <main><article class="bd-article" role="main">{body}</article></main>
    <script src="pairs.js" data-optional onerror="void 0"></script>
    </body></html>""")


SEEDED = {
    "clean": (CLEAN_BODY, "", set()),
    "pipe_paragraph": ("<p>| model | PSNR |\n|\u2014|\u2014|\n| lab | 24.1 |</p>", "",
                       {"pipe-table"}),
    "pipe_output": (_cell(_stream("| model | PSNR |\n|---|---|\n| lab | 24.1 |")), "",
                    {"pipe-table"}),
    "traceback": (_cell('<div class="output traceback highlight-ipythontb"><pre>'
                        "Traceback (most recent call last):\n  File x\nKeyError: 'a'</pre></div>"),
                  "", {"error-output"}),
    "stderr": (_cell('<div class="output stderr highlight-myst-ansi"><pre>W0000 oneDNN</pre></div>'),
               "", {"error-output"}),
    "exception_line": (_cell(_stream("plot_model skipped (ModuleNotFoundError)")), "",
                       {"error-output"}),
    "machine_path": (_cell(_stream("summary written to /work/colorbook/runs/summary.csv")), "",
                     {"machine-path"}),
    "repo_path": ("<p>see {root}/runs/book for the models</p>", "", {"machine-path"}),
    "broken_image": (FIGURE.replace("_images/a.png", "_images/corrupt.png"), "",
                     {"broken-image"}),
    "missing_image": (FIGURE.replace("_images/a.png", "_images/missing.png"), "",
                      {"broken-image", "console-error"}),  # a 404 is also a failed request
    "output_not_in_figure": (_cell('<img alt="The astronaut photo in four colour spaces" '
                                   'src="_images/a.png">'), "", {"uncaptioned-figure"}),
    "figure_without_caption": ('<figure><img alt="The astronaut photo in four colour spaces" '
                               'src="_images/a.png"></figure>', "", {"uncaptioned-figure"}),
    "caption_not_numbered": ('<figure><img alt="The astronaut photo in four colour spaces" '
                             'src="_images/a.png"><figcaption><p>Four spaces.</p></figcaption>'
                             '</figure>', "", {"uncaptioned-figure"}),
    "markdown_image": ('<p><img alt="The astronaut photo in four colour spaces" '
                       'src="_images/a.png"></p>', "", {"uncaptioned-figure"}),
    "alt_is_file_name": (FIGURE.replace('alt="The astronaut photo split into its RGB, Lab, HSV '
                                        'and YUV channels"', 'alt="../_images/a.png"'), "",
                         {"bad-alt"}),
    "alt_empty": (FIGURE.replace('alt="The astronaut photo split into its RGB, Lab, HSV '
                                 'and YUV channels"', 'alt=""'), "", {"bad-alt"}),
    "wide_table": (_cell(_table([[f"colour.auc.rebalanced.mean {i}" for i in range(8)],
                                 [f"{0.9 + i / 100:.3f} ± 0.011" for i in range(8)]],
                                " white-space: nowrap")), "", {"wide-table"}),
    "touching_cells": (_cell(_table([["rebalanced", "25.33 ± 0.11", "0.912"],
                                     ["1,000", "25.446", "0.905"]], " padding: 0")), "",
                       {"touching-cells"}),
    "repeated_template": ("<ul>" + "".join(f"<li>{g}</li>" for g in GENERATED) + "</ul>", "",
                          {"repeated-template"}),
    "template_in_code_is_fine": (_cell(_stream("\n".join(GENERATED)),
                                       source="print(f'On these {n} photos PSNR prefers')"), "",
                                 set()),
    "bibliography_is_fine": ('<div role="list" class="citation-list">' + "".join(
        f'<div class="citation" role="doc-biblioentry"><p>Author {i}. A title {i}. In IEEE '
        f'Conference on Computer Vision and Pattern Recognition (CVPR), 20{10 + i}.</p></div>'
        for i in range(4)) + "</div>", "", set()),
    "numbers_footer": (_cell(_stream("numbers quoted on this page: "
                                     "02_regression_vs_classification.json under the run root")),
                       "", {"numbers-footer"}),
    "console_error": ("<p>text</p><script>console.error('boom')</script>", "", {"console-error"}),
    "declared_twice": ("<p>text</p>", "<script>const THEBE_JS_URL = 1</script>"
                       "<script>const THEBE_JS_URL = 1</script>", {"console-error"}),
    "missing_script": ("<p>text</p>", '<script src="missing.js"></script>', {"console-error"}),
}


@pytest.fixture(scope="module")
def chromium():
    with book_checks.chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def seeded_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeded")
    (root / "_images").mkdir()
    (root / "_images" / "a.png").write_bytes(_png())
    (root / "_images" / "logo.png").write_bytes(_png(4, 4))
    (root / "_images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    for name, (body, head, _) in SEEDED.items():
        (root / f"{name}.html").write_text(_page(body.replace("{root}", str(root)), head))
    with book_checks.serve(root) as base:
        yield root, base


@pytest.mark.browser
@pytest.mark.parametrize("name", list(SEEDED))
def test_seeded_page_reports_exactly_its_defect(chromium, seeded_site, name):
    root, base = seeded_site
    expected = SEEDED[name][2]
    context = book_checks.offline_context(chromium, base)
    try:
        facts, events = book_checks.inspect_page(context, f"{base}{name}.html")
    finally:
        context.close()
    defects = check_page(f"{name}.html", facts, events, base_url=base,
                         machine_roots=[str(root)])
    assert {d.rule for d in defects} == expected, book_checks.format_report(defects)
    if name == "clean":
        assert facts["images"][1]["figure"]["numbered"]  # the checker did see the figure
        assert any("ValueError" in o["text"] for o in facts["outputs"])


def test_measured_tables_are_judged_by_width_and_gap():
    facts = {"tables": [{"width": 705.5, "column": 704, "head": "model PSNR", "gaps": []},
                        {"width": 300, "column": 704, "head": "a b",
                         "gaps": [{"left": "25.33 ± 0.11", "right": "0.912", "gap": 0.0}]},
                        {"width": 704.5, "column": 704, "head": "fits", "gaps": [
                            {"left": "1,000", "right": "25.446", "gap": 9.6}]}]}
    defects = check_page("p.html", facts)
    assert [d.rule for d in defects] == ["wide-table", "touching-cells"]
    assert "25.33 ± 0.110.912" in defects[1].snippet


def test_seeded_pages_cover_every_rule():
    assert set().union(*(rules for _, _, rules in SEEDED.values())) == set(book_checks.RULES)


def test_book_pages_skip_static_files_and_redirects(tmp_path):
    (tmp_path / "_static" / "turing").mkdir(parents=True)
    (tmp_path / "_static" / "turing" / "index.html").write_text("<html></html>")
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text("<html><body>x</body></html>")
    (tmp_path / "search.html").write_text("<html><body>x</body></html>")
    assert book_checks.book_pages(tmp_path) == ["book/intro.html", "search.html"]


def test_module_is_importable_from_the_tests_folder():
    assert pathlib.Path(book_checks.__file__).parent == pathlib.Path(__file__).parent


# ------------------------------------------------------------------- seeded notebooks
def _nb(*cells) -> dict:
    return {"cells": [dict(c, metadata={"tags": list(c.get("tags", ()))}) for c in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(lines: int, *tags: str) -> dict:
    return {"cell_type": "code", "source": "\n".join(f"x{i} = {i}" for i in range(lines)) + "\n\n",
            "tags": tags}


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "source": text}


EXERCISES = _md("## Exercises\n\n```{exercise}\n:label: ex-a\nWhy?\n```\n\n"
                "```{solution} ex-a\n:class: dropdown\nBecause.\n```\n\n"
                ":::{exercise}\nChange T.\n:::\n\n::::{exercise} Extend\n:label: ex-c\nMore.\n::::\n")


def test_a_chapter_with_its_code_open_and_three_exercises_is_clean():
    nb = _nb(_code(40, "colab-setup", "remove-cell"), _code(8, "parameters"),
             _code(6, "hide-input"), _code(4), EXERCISES)
    assert book_checks.code_lines(nb) == (12, 6)  # the set-up cell and blank lines not counted
    assert book_checks.count_exercises(nb) == 3
    assert book_checks.check_notebook("ch.ipynb", nb) == []


@pytest.mark.parametrize("tag", ["hide-input", "remove-input", "remove-cell"])
def test_seeded_notebook_with_its_code_folded_fails(tag):
    nb = _nb(_code(2, "parameters"), _code(4), _code(10, tag), EXERCISES)  # 6 of 16 visible
    defects = book_checks.check_notebook("ch.ipynb", nb)
    assert [d.rule for d in defects] == ["folded-code"]
    assert "6 of 16 code lines visible (38%" in defects[0].snippet


def test_the_colab_set_up_cell_does_not_count_either_way():
    nb = _nb(_code(30, "colab-setup", "remove-cell"), _code(3), _code(5, "hide-input"), EXERCISES)
    assert [d.rule for d in book_checks.check_notebook("ch.ipynb", nb)] == ["folded-code"]


def test_seeded_notebook_with_two_exercises_fails():
    two = _md("```{exercise}\nOne.\n```\n\n```{solution}\nA solution is not an exercise.\n```\n"
              "\n:::{exercise}\nTwo.\n:::\n\nThe word {exercise} in prose is not one.\n")
    in_code = {"cell_type": "code", "source": "```{exercise}\n", "tags": ()}
    nb = _nb(_code(4), two, in_code)
    defects = book_checks.check_notebook("ch.ipynb", nb)
    assert [d.rule for d in defects] == ["few-exercises"]
    assert defects[0].snippet.startswith("2 exercise(s)")
