"""Every ``>>>`` example in the library runs, so the examples a reader copies still work.

The examples of every module of :mod:`colorutils` are collected and run by :mod:`doctest`
(with ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``).  An example that needs a file, a trained
model or the network says ``# doctest: +SKIP``; every other one runs here, in ``make test``.
"""

from __future__ import annotations

import doctest
import importlib
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "colorutils"
MODULES = sorted(f"colorutils.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)


def test_the_examples_are_counted():
    """Modules the issue named as having examples that never ran do have examples now."""
    counted = {}
    for name in MODULES:
        tests = doctest.DocTestFinder().find(importlib.import_module(name), name)
        counted[name] = sum(len(t.examples) for t in tests)
    for name in ("data", "quantize", "evaluation", "files", "errors"):
        assert counted[f"colorutils.{name}"] > 0, f"colorutils.{name} has no examples"
