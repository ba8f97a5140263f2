"""One book model, a recipe chosen on the validation split, a Turing game the book does not spoil.

Two kinds of tests:

* unit tests of the pieces (always run): the rule that picks the recipe's (lambda, T)
  (``evaluation.choose_recipe``) on a hand-made table, and the photo bookkeeping of the Turing
  pairs (``turing.spread``, ``turing.write_pairs(photos=...)``);
* checks of the built book (``COLORBOOK_CHECK_BOOK=1``, set by ``make test-browser`` after
  ``make book``; they skip with a message when the chapters' JSON files under
  ``runs/book/cifar10/chapters/`` are absent): every chapter that records the book model
  (``book_model``: run, params, lambda, temperature, gray PSNR on the whole test split)
  records the same values; chapter 03's recorded choice is what the rule gives on its
  recorded validation table; the game's pairs (``book/_static/turing/pairs.js``) show none of
  the test photos of chapter 06's figure.
"""

from __future__ import annotations

import json
import math
import os
import pathlib

import numpy as np
import pytest

from colorutils import evaluation, experiments, turing

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = pathlib.Path(os.environ.get("COLORBOOK_RUNS", ROOT / "runs")) / "book" / "cifar10" / "chapters"
GAME = ROOT / "book" / "_static" / "turing" / "pairs.js"


# ---------------------------------------------------------------- the recipe's rule
def _row(lam, t, ratio, psnr_gap, auc_gap):
    return {"lambda": lam, "temperature": t, "ratio": ratio, "psnr_gap": psnr_gap,
            "auc_gap": auc_gap}


HAND_MADE = [
    _row(1.0, 0.38, 0.30, -0.10, +0.010),  # dull: PSNR and AuC met, colour missed
    _row(0.7, 0.38, 0.78, -2.00, -0.010),  # colour only
    _row(0.7, 0.58, 0.72, -1.80, -0.008),  # colour only, less PSNR paid
    _row(0.5, 1.00, 0.65, -1.50, -0.012),  # nothing met
]


def test_the_colour_part_comes_before_the_count_of_parts():
    chosen = evaluation.choose_recipe(HAND_MADE)
    assert (chosen["lambda"], chosen["temperature"]) == (0.7, 0.58), (
        "among the candidates meeting the colour part, the least PSNR paid should win; the "
        "dull lambda 1 meets two parts only because gray meets PSNR for free")


def test_more_parts_met_wins_among_colourful_candidates():
    rows = HAND_MADE + [_row(0.5, 0.29, 0.90, -0.90, -0.020)]  # colour and PSNR met
    chosen = evaluation.choose_recipe(rows)
    assert (chosen["lambda"], chosen["temperature"]) == (0.5, 0.29)


def test_without_a_colourful_candidate_the_most_colourful_wins():
    rows = [r for r in HAND_MADE if r["ratio"] < 0.7]
    assert evaluation.choose_recipe(rows)["lambda"] == 0.5  # ratio 0.65 against 0.30


def test_exact_ties_go_to_the_milder_setting():
    rows = [_row(0.5, 0.38, 0.8, -2.0, -0.01), _row(0.7, 0.38, 0.8, -2.0, -0.01),
            _row(0.7, 0.58, 0.8, -2.0, -0.01)]
    chosen = evaluation.choose_recipe(rows)
    assert (chosen["lambda"], chosen["temperature"]) == (0.7, 0.58)


def test_choose_recipe_names_what_is_missing():
    with pytest.raises(ValueError, match="rows is empty"):
        evaluation.choose_recipe([])
    with pytest.raises(ValueError, match="auc_gap"):
        evaluation.choose_recipe([{"lambda": 1.0, "ratio": 0.5, "psnr_gap": 0.0}])


# ---------------------------------------------------------------- the Turing photos
def test_figure_photos_are_never_game_photos():
    game = turing.spread(1000, 24)
    figure = turing.spread(1000, 6, exclude=game)
    assert len(game) == 24 and len(set(game)) == 24 and len(figure) == 6
    assert not set(game) & set(figure)
    assert game[0] == 0 and game[-1] == 999, "the game should span the whole split"
    assert turing.spread(5, 10, exclude=[0, 1]).tolist() == [2, 3, 4]


def test_write_pairs_records_each_pairs_photo(tmp_path):
    real = np.zeros((3, 4, 4, 3), np.uint8)
    manifest = turing.write_pairs(real, real + 1, tmp_path, photos=[7, 70, 700])
    assert [p["photo"] for p in manifest["pairs"]] == [7, 70, 700]
    with pytest.raises(ValueError, match="photos has 2 indices for 3 pairs"):
        turing.write_pairs(real, real + 1, tmp_path, photos=[7, 70])


# ---------------------------------------------------------------- the built book
#: The book model's figures on the whole test split, and how far two chapters may differ
#: (float round-off of different batchings; far below the digits the pages quote).
TEST_FIGURES = {"gray_psnr_test": 5e-4, "psnr_test": 5e-4, "auc_test": 5e-5,
                "ratio_test": 5e-4}


def _book_numbers() -> dict[str, dict]:
    if os.environ.get("COLORBOOK_CHECK_BOOK") != "1":
        pytest.skip("checks the built book: run `make book`, then `make test-browser` "
                    "(COLORBOOK_CHECK_BOOK=1)")
    files = sorted(CHAPTERS.glob("*.json")) if CHAPTERS.is_dir() else []
    if not files:
        pytest.skip(f"no chapter JSON files under {CHAPTERS}: run `make book` first")
    return {f.stem: json.loads(f.read_text()) for f in files}


def test_every_chapter_records_the_same_book_model():
    numbers = _book_numbers()
    models = {stem: n["book_model"] for stem, n in numbers.items() if n.get("book_model")}
    for needed in ("03_rebalancing_and_decoding", "06_evaluation"):
        if needed in numbers:
            assert needed in models, f"{needed}.json records no book_model"
    if len(models) < 2:
        pytest.skip(f"book_model recorded by {sorted(models)} only: nothing to compare")
    first_stem, first = next(iter(models.items()))
    for stem, model in models.items():
        for key in ("run", "params", "lambda", "temperature"):
            assert model.get(key) == first.get(key), (
                f"book_model.{key}: {stem} records {model.get(key)!r}, {first_stem} "
                f"{first.get(key)!r}")
        if model.get("test_images") != first.get("test_images"):
            continue  # another test subset: its captions say so
        for key, tol in TEST_FIGURES.items():
            if key in model and key in first:
                assert math.isclose(model[key], first[key], abs_tol=tol), (
                    f"book_model.{key} on the same {model['test_images']} test photos: "
                    f"{stem} {model[key]:.4f}, {first_stem} {first[key]:.4f}")
    assert first["lambda"] == experiments.BEST_LAMBDA
    assert first["temperature"] == pytest.approx(experiments.BEST_TEMPERATURE)


def test_chapter_03_chose_the_recipe_on_the_validation_split():
    numbers = _book_numbers().get("03_rebalancing_and_decoding")
    if numbers is None:
        pytest.skip("chapter 03 has not written its JSON file")
    sel = numbers["selection"]
    assert sel["split"] == "validation"
    assert sel["chosen"] == evaluation.choose_recipe(sel["candidates"]), (
        "the recorded choice is not what evaluation.choose_recipe gives on the recorded table")
    library = (experiments.BEST_LAMBDA, experiments.BEST_TEMPERATURE)
    same = (math.isclose(sel["chosen"]["lambda"], library[0])
            and math.isclose(sel["chosen"]["temperature"], library[1]))
    assert sel["matches_library"] == same, (
        f"validation choice {sel['chosen']['lambda']:g}, {sel['chosen']['temperature']:g}, "
        f"library {library}: the page must say whether they agree")
    page = ROOT / "_build" / "html" / "notebooks" / "03_rebalancing_and_decoding.html"
    if page.exists():
        html = page.read_text().replace("\u2019", "'")  # Sphinx's smart quotes: ’ -> '
        assert ("not the library's recipe" in html) == (not same), (
            "chapter 03's page does not say plainly whether its validation choice is the "
            "library's recipe")


def test_turing_game_shows_none_of_the_figures_photos():
    numbers = _book_numbers().get("06_evaluation")
    if numbers is None or "turing" not in numbers:
        pytest.skip("chapter 06 has not written its Turing photos")
    game, figure = set(numbers["turing"]["game_photos"]), set(numbers["turing"]["figure_photos"])
    assert figure and not game & figure, f"photos both in the figure and the game: {game & figure}"
    if not GAME.exists():
        pytest.skip(f"{GAME} is absent: chapter 06 at book scale writes it")
    text = GAME.read_text()
    manifest = json.loads(text[text.index("{"):text.rindex("}") + 1])
    written = {p.get("photo") for p in manifest["pairs"]}
    assert written == game, "the game's pairs.js is not the pairs chapter 06 recorded"
    assert not written & figure
