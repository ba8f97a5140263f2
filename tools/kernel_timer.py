"""Where a notebook kernel's time goes: training, evaluation, building -- for ``make book``.

``make book`` sets ``IPYTHONDIR`` to a folder whose start-up file (``tools/ipython_startup.py``)
loads this module in every kernel it starts (the book's notebooks and the grid's papermill
runs), and ``COLORBOOK_TIMINGS_DIR``; the notebooks themselves are unchanged.  Before and after
each cell it wraps, once they are imported, the library's and Keras' entry points below with
a timer, and after each cell it writes ``kernel-<pid>.json`` (start, last update, seconds per
category, and ``$COLORBOOK_TIMER_LABEL``: the page or grid that ``tools/execute_book.py``
started the kernel for) into that folder.  ``tools/book_timings.py`` matches these files to
notebooks by that label, else by time, and writes ``_build/timings.json``.

Categories (each call counts its *own* time: a nested call's time goes to the nested
category; anything inside ``keras.Model.fit`` stays training, validation included):

``train``
    ``keras.Model.fit`` (the steps, tracing of the train function, validation);
``build``
    building, compiling and loading models: ``colorutils.train.fit``/``load_run`` outside
    Keras' fit (model_fn, seed, weights of a finished run), ``models.build`` and its
    builders, ``keras.Model.compile``, ``load_model``;
``evaluate``
    predictions and scores: ``keras.Model.predict``/``predict_on_batch``/``evaluate``,
    ``colorutils.inference``, ``colorutils.evaluation``, ``colorutils.metrics``.

What a cell does outside these calls (data pipelines, figures, tables) is the notebook's
"rest" (its total minus the three).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time

TARGETS = {
    "keras": [("Model", "fit", "train"), ("Model", "predict", "evaluate"),
              ("Model", "predict_on_batch", "evaluate"), ("Model", "evaluate", "evaluate"),
              ("Model", "compile", "build"), (None, "models.load_model", "build")],
    "colorutils.train": [(None, "fit", "build"), (None, "load_run", "build"),
                         (None, "load_model", "build")],
    "colorutils.models": [(None, name, "build") for name in (
        "build", "regression_cnn", "zhang_classifier", "unet", "fusion_net",
        "fusion_classifier", "koalarization_net", "rgb_classifier")],
    "colorutils.inference": [(None, "predict_raw", "evaluate"), (None, "predict_ab", "evaluate")],
    "colorutils.evaluation": [(None, "evaluate", "evaluate"),
                              (None, "dataset_mean_ab", "evaluate")],
    "colorutils.metrics": [(None, name, "evaluate") for name in (
        "psnr", "ssim", "ab_distance", "auc_accuracy", "colorfulness_ratio",
        "semantic_interpretability", "colorization_metrics", "classifier_correct")],
}
CATEGORIES = ("train", "evaluate", "build")


class Timer:
    """Exclusive seconds per category over nested timed calls (``clock``: injectable)."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.seconds = dict.fromkeys(CATEGORIES, 0.0)
        self.calls = dict.fromkeys(CATEGORIES, 0)
        self._stack: list[list] = []  # [category, start, seconds of nested frames]

    def wrap(self, fn, category: str):
        """``fn`` timed under ``category`` (marked, so that it is wrapped only once)."""
        if getattr(fn, "_colorbook_timed", False):
            return fn

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if any(frame[0] == "train" for frame in self._stack):
                return fn(*args, **kwargs)  # validation inside fit is training time
            self._stack.append([category, self.clock(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                cat, start, nested = self._stack.pop()
                elapsed = self.clock() - start
                self.seconds[cat] += elapsed - nested
                self.calls[cat] += 1
                if self._stack:
                    self._stack[-1][2] += elapsed

        timed._colorbook_timed = True
        return timed

    def patch(self, modules=None) -> list[str]:
        """Wrap the :data:`TARGETS` of every module already imported; the names wrapped."""
        modules = sys.modules if modules is None else modules
        done = []
        for mod_name, targets in TARGETS.items():
            mod = modules.get(mod_name)
            if mod is None:
                continue
            for cls_name, attr, category in targets:
                owner = getattr(mod, cls_name, None) if cls_name else mod
                *path, leaf = attr.split(".")
                for part in path:
                    owner = getattr(owner, part, None)
                fn = getattr(owner, leaf, None) if owner is not None else None
                if fn is None or getattr(fn, "_colorbook_timed", False):
                    continue
                setattr(owner, leaf, self.wrap(fn, category))
                done.append(f"{mod_name}.{cls_name + '.' if cls_name else ''}{attr}")
                if mod_name == "colorutils.models":  # the zoo's table holds the builders too
                    builders = getattr(mod, "BUILDERS", {})
                    if builders.get(leaf) is fn:
                        builders[leaf] = getattr(owner, leaf)
        return done

    def record(self) -> dict:
        return {"seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "calls": dict(self.calls)}


def install(shell, out_dir: str) -> Timer:
    """Register the timer on an IPython ``shell``: patch before/after each cell, write after."""
    timer = Timer()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"kernel-{os.getpid()}.json")
    started, cells = time.time(), [0]

    def before(*_):
        try:
            timer.patch()
        except Exception:  # a timer must never break a notebook
            pass

    def after(*_):
        try:
            timer.patch()
            cells[0] += 1
            record = {"pid": os.getpid(), "started": round(started, 3),
                      "updated": round(time.time(), 3), "cells": cells[0], "cwd": os.getcwd(),
                      "label": os.environ.get("COLORBOOK_TIMER_LABEL"),
                      **timer.record()}
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.replace(tmp, path)
        except Exception:  # likewise
            pass

    shell.events.register("pre_run_cell", before)
    shell.events.register("post_run_cell", after)
    return timer


def startup() -> None:
    """Install the timer on the running IPython kernel if ``COLORBOOK_TIMINGS_DIR`` is set
    (what ``tools/ipython_startup.py`` calls)."""
    from IPython import get_ipython

    shell, out_dir = get_ipython(), os.environ.get("COLORBOOK_TIMINGS_DIR")
    if shell is not None and out_dir:
        install(shell, out_dir)
