"""List parameters as students type them (issue 21, item 9): ``papermill -p seeds "[0, 1]"``
hands the chapter a string, which must work like the list, or fail in one line saying how."""

from __future__ import annotations

import pathlib
import sys

import pytest

from colorutils import settings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "colab"))

from top_cells import run_top  # noqa: E402


@pytest.mark.parametrize("typed, expected", [
    ("[0, 1]", [0, 1]), ("0, 1", [0, 1]), (" [2] ", [2]), (3, [3]), ((0, 1), [0, 1]),
    ([4], [4]), (None, None)])
def test_a_list_typed_as_text_reads_as_the_list(typed, expected):
    assert settings.parse_list("seeds", typed, int) == expected


def test_strings_and_floats_in_a_list():
    assert settings.parse_list("choices", "[stride_8, l2]", str) == ["stride_8", "l2"]
    assert settings.parse_list("lambdas", "[1.0, 0.5]", float) == [1.0, 0.5]


@pytest.mark.parametrize("typed", ["[0, 1", "[0, a]", "{seed: 1}"])
def test_a_bad_list_fails_in_one_line_naming_the_parameter_and_the_fix(typed):
    with pytest.raises(ValueError) as err:
        settings.parse_list("seeds", typed, int)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"seeds={typed!r}")
    assert 'papermill -p seeds "[0, 1]"' in message


def test_resolve_reads_seeds_typed_as_text():
    assert settings.resolve("smoke", seeds="[0, 1]").seeds == (0, 1)
    assert settings.resolve_chapter("smoke", {}, seeds="[3]").seeds == (3,)
    with pytest.raises(ValueError, match=r"^seeds='\[0, 1' is not a list"):
        settings.resolve("smoke", seeds="[0, 1")
    with pytest.raises(ValueError, match="seeds=\\[\\] names no seed"):
        settings.resolve("smoke", seeds=[])


def test_chapter_03_takes_its_own_lists_typed_as_text(monkeypatch, tmp_path):
    monkeypatch.setenv("COLORBOOK_SCALE", "smoke")
    monkeypatch.setenv("COLORBOOK_RUNS", str(tmp_path))
    path = ROOT / "notebooks" / "03_rebalancing_and_decoding.ipynb"
    ns = run_top(path, injected={"seeds": "[0, 1]", "lambdas": "[1.0, 0.5]",
                                 "temperatures": "[0.38, 1]", "smooth_sigmas": "[0, 2]"})
    assert ns["cfg"].seeds == (0, 1) and ns["lambdas"] == [1.0, 0.5]
    assert ns["temperatures"] == [0.38, 1.0] and ns["smooth_sigmas"] == [0.0, 2.0]
    with pytest.raises(ValueError, match=r"^temperatures='\[0.38,' is not a list"):
        run_top(path, injected={"temperatures": "[0.38,"})


def test_chapter_04_takes_its_choices_typed_as_text(monkeypatch, tmp_path):
    monkeypatch.setenv("COLORBOOK_SCALE", "smoke")
    monkeypatch.setenv("COLORBOOK_RUNS", str(tmp_path))
    ns = run_top(ROOT / "notebooks" / "04_architectures.ipynb",
                 injected={"choices": "[stride_8, l2]"})
    assert ns["choices"] == ["stride_8", "l2"]
