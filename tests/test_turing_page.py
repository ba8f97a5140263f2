"""The Turing-test page, played in a real headless Chromium (Playwright, system Chromium).

The page is loaded from the built book (``_build/html/_static/turing/index.html``) when it
exists, else from ``book/_static/turing/index.html``, through ``file://``: that is the hardest
host (no fetch of JSON, no server).  A copy with a synthetic pair set checks the scoring
against known answers, a round played by keyboard alone (Tab, 1/2, arrows + Enter, focus and
screen-reader announcements), and the note on how the pairs were chosen. The page is read in
light and dark: alone (``?theme=``, the system setting) and embedded, following the theme of
the page around it (a synthetic parent over file://, and the built book's page over http).
``$TURING_SCREENSHOTS`` (a folder) keeps screenshots of the keyboard focus and of the book page
in both modes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import re
import shutil

import book_checks
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE_DIRS = [ROOT / "_build" / "html" / "_static" / "turing", ROOT / "book" / "_static" / "turing"]
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-extensions", "--no-first-run",
        "--allow-file-access-from-files"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    with book_checks.chromium_browser(ARGS) as b:
        yield b


def _manifest(page_dir: pathlib.Path) -> dict:
    """The pairs the page will use: pairs.js if present (it wins), else pairs.default.js."""
    for name in ("pairs.js", "pairs.default.js"):
        path = page_dir / name
        if path.exists():
            text = path.read_text()
            return json.loads(text[text.index("=") + 1:].strip().rstrip(";"))
    raise AssertionError(f"{page_dir} has no pairs.js or pairs.default.js")


def _play(page, url: str, manifest: dict, strategy):
    """Play a full round by clicking; return (expected fooled count, clicks)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.click("#start")
    real_of = {p["id"]: p["real"] for p in manifest["pairs"]}
    fake_paths = {p["fake"] for p in manifest["pairs"]}
    fooled, clicks, seen = 0, [], set()
    for i in range(len(manifest["pairs"])):
        assert page.is_visible("#trial")
        # both images really decoded (a broken path gives naturalWidth 0)
        page.wait_for_function("document.getElementById('left-img').naturalWidth > 0 && "
                               "document.getElementById('right-img').naturalWidth > 0",
                               timeout=5000)
        assert page.inner_text("#progress") == f"Pair {i + 1} of {len(manifest['pairs'])}"
        left = page.get_attribute("#left-img", "src")
        right = page.get_attribute("#right-img", "src")
        assert {left, right} <= set(real_of.values()) | fake_paths
        pair = next(k for k, v in real_of.items() if v in (left, right))
        assert pair not in seen, "a pair was shown twice"
        seen.add(pair)
        side = strategy(i)
        chosen = left if side == "left" else right
        fooled += chosen in fake_paths
        clicks.append((pair, side))
        page.click(f"#{side}")
    assert seen == set(real_of), "not every pair was shown"
    assert page.is_visible("#result")
    assert not errors, errors
    return fooled, clicks


def _check_result_and_csv(page, manifest, fooled, clicks):
    n = len(manifest["pairs"])
    shown = page.inner_text("#fooling-rate")
    assert shown == f"{100 * fooled / n:.1f}%", (shown, fooled, n)
    assert page.inner_text("#fooled-count") == str(fooled)
    assert page.inner_text("#trial-count") == str(n)
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(pathlib.Path(download.path()).read_text())))
    assert len(rows) == n
    assert [(r["pair_id"], r["chosen_side"]) for r in rows] == clicks
    assert [int(r["trial"]) for r in rows] == list(range(1, n + 1))
    for r in rows:
        real_side = "left" if r["left"] == "real" else "right"
        assert r["right"] == ("colorized" if real_side == "left" else "real")
        assert int(r["fooled"]) == int(r["chosen_side"] != real_side) == 1 - int(r["correct"])
    assert sum(int(r["fooled"]) for r in rows) == fooled


def test_page_plays_a_full_round_from_the_book(browser):
    page_dir = next(d for d in PAGE_DIRS if (d / "index.html").exists())
    manifest = _manifest(page_dir)
    assert manifest["pairs"], "the page has no pairs"
    for p in manifest["pairs"]:
        for key in ("real", "fake"):
            assert (page_dir / p[key]).is_file(), f"{p[key]} missing from {page_dir}"
    page = browser.new_page(accept_downloads=True)
    fooled, clicks = _play(page, (page_dir / "index.html").as_uri(), manifest,
                           lambda i: "left" if i % 3 else "right")
    _check_result_and_csv(page, manifest, fooled, clicks)
    page.close()


@pytest.fixture()
def synthetic_page(tmp_path):
    """A copy of the page with 7 known pairs written by turing.write_pairs."""
    from colorutils import turing

    src = PAGE_DIRS[1]
    for name in ("index.html", "turing.js", "turing.css"):
        shutil.copy(src / name, tmp_path / name)
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, size=(7, 8, 8, 3), dtype=np.uint8)
    fake = 255 - real
    manifest = turing.write_pairs(real, fake, tmp_path, method="inverted",
                                             source="test set")
    return tmp_path, manifest


def test_fooling_rate_matches_known_clicks_and_seed_fixes_the_order(browser, synthetic_page):
    page_dir, manifest = synthetic_page
    url = (page_dir / "index.html").as_uri()
    page = browser.new_page(accept_downloads=True)
    page.goto(url)
    assert "7 pairs (test set)" in page.inner_text("#set-info")
    page.close()
    for strategy in (lambda i: "left", lambda i: "right" if i in (1, 4) else "left"):
        page = browser.new_page(accept_downloads=True)
        fooled, clicks = _play(page, url, manifest, strategy)
        _check_result_and_csv(page, manifest, fooled, clicks)
        page.close()
    orders = []
    for _ in range(2):
        page = browser.new_page()
        page.goto(url + "?seed=7&n=3")
        page.click("#start")
        order = []
        for _ in range(3):
            order.append(page.get_attribute("#left-img", "src"))
            page.click("#left")
        assert page.inner_text("#trial-count") == "3"
        orders.append(order)
        page.close()
    assert orders[0] == orders[1]


def test_page_without_pairs_says_how_to_make_them(browser, tmp_path):
    for name in ("index.html", "turing.js", "turing.css"):
        shutil.copy(PAGE_DIRS[1] / name, tmp_path / name)
    page = browser.new_page()
    page.goto((tmp_path / "index.html").as_uri())
    assert page.is_visible("#no-pairs") and re.search("chapter 06", page.inner_text("#no-pairs"))
    assert not page.is_visible("#start")
    page.close()


def test_file_names_do_not_reveal_the_real_photo(tmp_path):
    from colorutils import turing

    real = np.zeros((40, 4, 4, 3), np.uint8)
    manifest = turing.write_pairs(real, real + 1, tmp_path)
    tags = [p["real"][-5] for p in manifest["pairs"]]
    assert set(tags) == {"a", "b"}  # real is sometimes a, sometimes b
    assert (tmp_path / "pairs.js").read_text().startswith("// Written by")
    with pytest.raises(ValueError, match="same size"):
        turing.write_pairs(real, real[:3], tmp_path)


def test_committed_demo_set_is_small():
    demo = PAGE_DIRS[1]
    files = [demo / "pairs.default.js", *sorted((demo / "default").glob("*.png"))]
    assert len(files) > 2
    assert sum(f.stat().st_size for f in files) < 200_000


# ------------------------------------------------------------------ keyboard, note, themes
def _luminance(css_color: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _colors(frame) -> tuple[float, float]:
    """(background, text) luminance of the page's body, 0 black .. 1 white."""
    bg, fg = frame.evaluate("() => { const s = getComputedStyle(document.body); "
                            "return [s.backgroundColor, s.color]; }")
    return _luminance(bg), _luminance(fg)


def _shot(page, name: str) -> None:
    """Screenshots for a person to look at, when $TURING_SCREENSHOTS names a folder."""
    folder = os.environ.get("TURING_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"))


def test_a_full_round_by_keyboard_alone(browser, synthetic_page):
    page_dir, manifest = synthetic_page
    n = len(manifest["pairs"])
    page = browser.new_page(accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((page_dir / "index.html").as_uri() + "?seed=3")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "start", "Tab does not reach Start"
    page.keyboard.press("Enter")
    assert page.is_visible("#trial")
    assert page.evaluate("document.activeElement.id") == "left", "focus not on the first photo"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "right", "Tab does not reach the right photo"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "left"
    real_of = {p["id"]: p["real"] for p in manifest["pairs"]}
    fooled, clicks = 0, []
    for i in range(n):
        page.wait_for_function(f"document.getElementById('announce').textContent"
                               f".startsWith('Pair {i + 1} of {n}')", timeout=3000)
        left = page.get_attribute("#left-img", "src")
        right = page.get_attribute("#right-img", "src")
        pair = next(k for k, v in real_of.items() if v in (left, right))
        if i % 3 == 0:
            side = "left"
            page.keyboard.press("1")
        elif i % 3 == 1:
            side = "right"
            page.keyboard.press("2")
        else:  # move to the right photo, see the focus ring, choose it with Enter
            side = "right"
            page.keyboard.press("ArrowRight")
            assert page.evaluate("document.activeElement.id") == "right"
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline not in ("", "none"), "the focused photo shows no focus ring"
            if i == 2:
                _shot(page, "turing_keyboard_focus")
            page.keyboard.press("Enter")
        fooled += (left if side == "left" else right) not in set(real_of.values())
        clicks.append((pair, side))
    assert page.is_visible("#result")
    assert page.evaluate("document.activeElement.id") == "result-title"
    page.wait_for_function("document.getElementById('announce').textContent"
                           ".startsWith('Result: fooling rate')", timeout=3000)
    assert f"{100 * fooled / n:.1f}%" in page.inner_text("#announce")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "download"
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    rows = list(csv.DictReader(io.StringIO(pathlib.Path(info.value.path()).read_text())))
    assert [(r["pair_id"], r["chosen_side"]) for r in rows] == clicks
    assert sum(int(r["fooled"]) for r in rows) == fooled
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "again"
    page.keyboard.press("Enter")
    assert page.is_visible("#trial") and page.evaluate("document.activeElement.id") == "left"
    assert not errors, errors
    page.close()


def test_the_note_on_how_pairs_were_chosen_is_shown(browser, tmp_path):
    from colorutils import turing

    for name in ("index.html", "turing.js", "turing.css"):
        shutil.copy(PAGE_DIRS[1] / name, tmp_path / name)
    real = np.zeros((3, 4, 4, 3), np.uint8)
    turing.write_pairs(real, real + 9, tmp_path, note="three black squares.")
    page = browser.new_page()
    page.goto((tmp_path / "index.html").as_uri())
    assert page.inner_text("#pairs-note") == "How the pairs were chosen: three black squares."
    turing.write_pairs(real, real + 9, tmp_path)  # no note: a default sentence
    page.reload()
    assert page.inner_text("#pairs-note") == "This pair set does not say how its photos were chosen."
    page.close()
    # the committed demo set says how it was made, and so does a set chapter 06 wrote
    default = (PAGE_DIRS[1] / "pairs.default.js").read_text()
    assert "120 degrees" in json.loads(default[default.index("=") + 1:].strip().rstrip(";"))["note"]
    assert _manifest(PAGE_DIRS[1]).get("note"), "the page's pair set does not say how it was chosen"


def test_light_and_dark_when_the_page_stands_alone(browser):
    url = (PAGE_DIRS[1] / "index.html").as_uri()
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport={"width": 900, "height": 700})
        page = context.new_page()
        for theme in ("", "light", "dark"):
            page.goto(url + (f"?theme={theme}" if theme else ""))
            bg, fg = _colors(page)
            dark = (theme or scheme) == "dark"
            assert (bg < 0.2 and fg > 0.6) if dark else (bg > 0.9 and fg < 0.3), (scheme, theme)
        context.close()


def _parent_page(folder: pathlib.Path) -> pathlib.Path:
    """A page shaped like the book's turing_test.html: the frame, embed.js, a data-theme."""
    for name in ("index.html", "turing.js", "turing.css", "pairs.default.js", "embed.js"):
        shutil.copy(PAGE_DIRS[1] / name, folder / name)
    shutil.copytree(PAGE_DIRS[1] / "default", folder / "default")
    parent = folder / "parent.html"
    parent.write_text('<!DOCTYPE html><html data-theme="light"><body>'
                      '<iframe id="turing-frame" src="index.html" style="width:100%;height:30rem">'
                      '</iframe><script src="embed.js"></script></body></html>')
    return parent


def test_the_embedded_game_follows_the_book_theme(browser, tmp_path):
    """file:// (the frame's document is not reachable from the parent: postMessage only)."""
    parent = _parent_page(tmp_path)
    context = browser.new_context(color_scheme="light")
    page = context.new_page()
    page.goto(parent.as_uri())
    inner = page.frames[1]
    for theme in ("dark", "light", "dark"):
        page.evaluate(f"document.documentElement.setAttribute('data-theme', '{theme}')")
        inner.wait_for_function(f"document.documentElement.getAttribute('data-theme') === "
                                f"'{theme}'", timeout=3000)
        bg, fg = _colors(inner)
        assert (bg < 0.2 and fg > 0.6) if theme == "dark" else (bg > 0.9 and fg < 0.3)
    context.close()


BOOK_PAGE = ROOT / "_build" / "html" / "book" / "turing_test.html"


@pytest.mark.skipif(not BOOK_PAGE.exists(), reason="no built book: run make book")
def test_the_book_page_is_readable_light_and_dark(browser):
    """The built book's Turing-test page: the game matches the book in both modes."""
    import book_checks

    with book_checks.serve(ROOT / "_build" / "html") as base:
        for mode in ("light", "dark"):
            context = book_checks.offline_context(browser, base, color_scheme="light",
                                                  viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(base + "book/turing_test.html")
            # the reader picks the mode with the theme's switch (stored, then applied)
            page.evaluate(f"localStorage.setItem('mode', '{mode}'); "
                          f"localStorage.setItem('theme', '{mode}')")
            page.reload()
            assert page.evaluate("document.documentElement.dataset.theme") == mode
            inner = page.frames[1]
            inner.wait_for_function(f"document.documentElement.getAttribute('data-theme') === "
                                    f"'{mode}'", timeout=5000)
            page.locator("#turing-frame").scroll_into_view_if_needed()
            bg, fg = _colors(inner)
            parent_bg = _luminance(page.evaluate("getComputedStyle(document.body)"
                                                 ".backgroundColor"))
            assert abs(bg - parent_bg) < 0.1, (mode, bg, parent_bg)
            assert (bg < 0.2 and fg > 0.6) if mode == "dark" else (bg > 0.9 and fg < 0.3)
            note = inner.inner_text("#pairs-note")
            assert note.startswith("How the pairs were chosen: ") or \
                note == "This pair set does not say how its photos were chosen.", note
            _shot(page, f"turing_book_{mode}")
            inner.click("#start")
            _shot(page, f"turing_book_{mode}_trial")
            context.close()


def test_the_inline_page_plays_without_any_file(browser, tmp_path):
    """Chapter 06 on Colab: the page and its pairs in one srcdoc frame (turing.inline_page),
    played inside a notebook-like host page that no file is served beside."""
    from colorutils import turing

    rng = np.random.default_rng(3)
    real = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    fake = np.repeat(real.mean(-1, keepdims=True).astype(np.uint8), 3, -1)  # gray versions
    manifest = turing.write_pairs(real, fake, tmp_path / "pairs_dir", method="gray")
    frame_html = turing.inline_page(tmp_path / "pairs_dir")
    assert not re.search(r"(src|href)=&quot;(?!data:)", frame_html)  # nothing to fetch
    host = tmp_path / "elsewhere" / "notebook.html"
    host.parent.mkdir()
    host.write_text(f"<!DOCTYPE html><html><body><p>output cell</p>{frame_html}</body></html>")
    page = browser.new_page(accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(host.as_uri())
    game = page.frames[1]
    game.click("#start")
    fooled = 0
    for i in range(len(manifest["pairs"])):
        game.wait_for_function("document.getElementById('left-img').naturalWidth === 16",
                               timeout=5000)
        assert game.inner_text("#progress") == f"Pair {i + 1} of 5"
        left = game.get_attribute("#left-img", "src")
        assert left.startswith("data:image/png;base64,")
        shown = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(
            io.BytesIO(__import__("base64").b64decode(left.split(",", 1)[1]))))
        fooled += bool((shown[..., 0] == shown[..., 1]).all() and
                       (shown[..., 1] == shown[..., 2]).all())  # the gray one: fooled
        game.click("#left")
    assert game.is_visible("#result") and not errors, errors
    assert game.inner_text("#fooled-count") == str(fooled)
    with page.expect_download() as info:
        game.click("#download")
    rows = list(csv.DictReader(io.StringIO(pathlib.Path(info.value.path()).read_text())))
    assert sum(int(r["fooled"]) for r in rows) == fooled and len(rows) == 5
    page.close()


def test_the_inline_page_needs_pairs_and_says_so(tmp_path):
    from colorutils import turing

    with pytest.raises(FileNotFoundError, match="write_pairs"):
        turing.inline_page(tmp_path)
