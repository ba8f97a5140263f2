"""The Turing-test page, played in a real headless Chromium (Playwright, system Chromium).

The page is loaded from the built book (``_build/html/_static/turing/index.html``) when it
exists, else from ``book/_static/turing/index.html``, through ``file://``: that is the hardest
host (no fetch of JSON, no server).  A copy with a synthetic pair set checks the scoring
against known answers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import re
import shutil

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE_DIRS = [ROOT / "_build" / "html" / "_static" / "turing", ROOT / "book" / "_static" / "turing"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-extensions", "--no-first-run",
        "--allow-file-access-from-files"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium; "
                    ".ci/run does) or set $CHROMIUM")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


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
