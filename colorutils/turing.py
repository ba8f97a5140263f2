"""The colorization Turing test: the (real, colorized) pairs its page plays, written here.

Zhang et al. (2016) {cite}`zhang2016colorful` showed people a real photo and a colorization
of it, side by side, and counted how often the colorization was taken for the real one (the
*fooling rate*).  The book's version has five parts; this module is the only Python one:

``book/turing_test.md``
    the book page that embeds the test (an iframe);
``colorutils/turing_page/``
    the test itself, plain HTML and JavaScript (``index.html``, ``turing.js``, ``turing.css``),
    installed with the package; ``book/_static/turing/`` links to these three files and holds
    a committed demo set (``pairs.default.js``, ``default/``) and the pairs chapter 06 writes
    (``pairs.js``, ``pairs/``, generated, not committed);
this module
    :func:`make_pairs` (photos and a model's colorizations at twice its size),
    :func:`write_pairs` (the PNG files and their manifest), :func:`find_page` (the page
    folder of the checkout) and :func:`inline_page` (the page and its pairs as one
    self-contained document: what chapter 06 shows on Colab, where no static file is served);
``notebooks/06_evaluation.ipynb``
    picks the best model and calls these;
``tests/test_turing_page.py``
    plays the page in headless Chromium (``make test-browser``).

The colorization Turing test for a class: answer files pooled into a fooling rate.

Each person who plays the Turing-test page (``book/_static/turing/``, written by
:mod:`colorutils.turing`) can download their answers as a CSV file, one row per pair
(:data:`ANSWER_COLUMNS`, the page's ``COLUMNS``).  ``colorutils turing pool CSV...`` reads a
class's files and prints each file's fooling rate (the share of pairs where the colorized photo
was taken for the real one) and the pooled rate, each with a 95 % Wilson score interval
(:func:`colorutils.evaluation.wilson_interval`).  This module needs no TensorFlow, so the command
answers at once.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re

import numpy as np
import tensorflow as tf

from colorutils import color, data, evaluation, inference, viz
from colorutils.errors import UserError, first_line

__all__ = [
    "PAGE_DIR",
    "find_page",
    "spread",
    "make_pairs",
    "write_pairs",
    "inline_page",
    "ANSWER_COLUMNS",
    "read_answers",
    "pool_answers",
    "pool_command",
]


#: Folder of the Turing-test page inside the book's static files.
PAGE_DIR = os.path.join("book", "_static", "turing")


def find_page(start: str | os.PathLike | None = None) -> str | None:
    """The page folder (:data:`PAGE_DIR` holding ``index.html``) seen from ``start`` (default:
    the working directory) or its parent, e.g. from ``notebooks/``; None if there is none."""
    here = os.path.abspath(os.fspath(start) if start is not None else os.getcwd())
    for folder in (here, os.path.dirname(here)):
        candidate = os.path.join(folder, PAGE_DIR)
        if os.path.isfile(os.path.join(candidate, "index.html")):
            return candidate
    return None


def spread(total: int, n: int, exclude=()) -> np.ndarray:
    """``n`` photo indices picked evenly over ``range(total)`` without those in ``exclude``
    (fewer if fewer are left).  Chapter 06 picks the game's photos with it, then the photos
    of its figure with ``exclude=`` the game's, so that no pair shown with its answer is one
    of the game."""
    if total < 0 or n < 0:
        raise ValueError(f"total={total!r}, n={n!r}: give counts >= 0.")
    left = np.setdiff1d(np.arange(total), np.asarray(list(exclude), dtype=int))
    return left[viz.pick_photos(len(left), n)]


def make_pairs(model, source: str, image_size: int, n: int, *, split: str = "test",
               limit: int | None = None, batch_size: int = 32, predict_kwargs=None,
               indices=None):
    """Real photos and their colorizations by ``model``, at twice the model's size.

    ``model`` is a :class:`colorutils.inference.Colorizer` or a compiled Keras model
    (:func:`colorutils.inference.as_colorizer`): decoded in its own space or over its own bins.

    The model sees each photo's lightness at its training size ``image_size``; its ab is
    upsampled and recombined with the lightness at ``2 * image_size`` (as
    :mod:`colorutils.colorize` does for full-size photos), so the pairs show the detail a
    viewer would judge.  ``n`` photos are picked evenly over the first ``limit`` of the split
    (:func:`spread`), or ``indices`` (positions in the split) are taken as given.

    Returns
    -------
    (real, fake) : float32 RGB ``[n, 2S, 2S, 3]`` in [0, 1].
    """
    big = 2 * image_size
    l_all, ab_all = data.to_arrays(data.load(source, split, big, batch_size, shuffle=False,
                                             limit=limit))[:2]
    pick = spread(len(l_all), n) if indices is None else np.asarray(indices, dtype=int)
    if len(pick) and (pick.min() < 0 or pick.max() >= len(l_all)):
        raise ValueError(f"indices run from {pick.min()} to {pick.max()} but the {split} split "
                         f"has {len(l_all)} photos; give positions in 0..{len(l_all) - 1}.")
    big_l, big_ab = l_all[pick], ab_all[pick]
    small_l = tf.image.resize(big_l, (image_size, image_size), antialias=True)
    fake_ab = inference.as_colorizer(model).predict_ab(small_l, **dict(predict_kwargs or {}))
    return (color.recombine(big_l, big_ab).numpy(), color.recombine(big_l, fake_ab).numpy())


def _to_uint8_images(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name} has shape {x.shape}; expected [N, H, W, 3] RGB images.")
    if x.dtype == np.uint8:
        return x
    if x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise ValueError(f"{name} has values outside [0, 1]; pass uint8 or floats in [0, 1].")
    return color.to_uint8(x)


def _save_pngs(real, fake, folder: str, images_dir: str, methods: list[str], seed: int,
               photos=None):
    """Write ``p000_a.png`` / ``p000_b.png`` (real on a random side); the pair entries."""
    from PIL import Image  # start-up: only when pairs are written

    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if re.fullmatch(r"p\d+_[ab]\.png", old):
            os.remove(os.path.join(folder, old))
    rng = np.random.default_rng(seed)
    pairs = []
    for i, (r, f) in enumerate(zip(real, fake, strict=True)):
        real_tag, fake_tag = ("a", "b") if rng.random() < 0.5 else ("b", "a")
        names = {}
        for tag, image in ((real_tag, r), (fake_tag, f)):
            names[tag] = f"{images_dir}/p{i:03d}_{tag}.png"
            Image.fromarray(image).save(os.path.join(folder, f"p{i:03d}_{tag}.png"),
                                        optimize=True)
        pairs.append({"id": f"p{i:03d}", "real": names[real_tag], "fake": names[fake_tag],
                      "method": methods[i]})
        if photos is not None:
            pairs[-1]["photo"] = int(photos[i])
    return pairs


def write_pairs(real, fake, out_dir: str | os.PathLike = PAGE_DIR, *,
                method: str | list[str] = "model", source: str = "",
                variable: str = "TURING_PAIRS", script: str = "pairs.js",
                images_dir: str = "pairs", seed: int = 0, note: str = "",
                photos=None) -> dict:
    """Write (real, colorized) image pairs and their manifest for the Turing-test page.

    The page is plain HTML and JavaScript; browsers refuse ``fetch()`` of a JSON file from
    ``file://``, so the manifest is a script, ``<out_dir>/<script>``, that sets
    ``window.<variable> = {title, source, pairs: [{id, real, fake, method}]}``.  The PNG files
    are named ``p000_a.png`` / ``p000_b.png`` with ``a`` and ``b`` assigned at random, so a
    file name does not tell which one is real.  Earlier PNGs of this pattern in ``images_dir``
    are removed first.

    Parameters
    ----------
    real, fake : arrays ``[N, H, W, 3]``
        uint8, or floats in ``[0, 1]``; ``fake[i]`` is the colorization of ``real[i]``.
    out_dir : path
        The page's folder (default :data:`PAGE_DIR`, copied into the built book).
    method : str or list of str
        The method of every pair (or one name per pair), saved in the answers CSV.
    source : str
        A line shown on the page (e.g. "chapter 06, scale book, dataset sample").
    note : str
        One or two sentences on how the pairs were chosen (which photos, which model), shown
        above the game; the manifest's ``note`` (left out when empty).
    photos : list of int, optional
        The position of each pair's photo in its split, recorded as the pair's ``photo``
        (tests check that the pairs a chapter shows with their answers are not the game's).

    Returns
    -------
    dict : the manifest written.
    """
    real, fake = _to_uint8_images(real, "real"), _to_uint8_images(fake, "fake")
    if real.shape != fake.shape:
        raise ValueError(f"real has shape {real.shape} but fake has {fake.shape}; give one "
                         "colorization per real photo, same size.")
    methods = [method] * len(real) if isinstance(method, str) else list(method)
    if len(methods) != len(real):
        raise ValueError(f"method has {len(methods)} names for {len(real)} pairs.")
    if photos is not None and len(photos) != len(real):
        raise ValueError(f"photos has {len(photos)} indices for {len(real)} pairs; give one "
                         "split position per pair, or None.")
    folder = os.path.join(os.fspath(out_dir), images_dir)
    pairs = _save_pngs(real, fake, folder, images_dir, methods, seed, photos)
    manifest = {"title": "Which one is real?", "source": source, "pairs": pairs}
    if note:
        manifest["note"] = note
    with open(os.path.join(os.fspath(out_dir), script), "w") as fh:
        fh.write("// Written by colorutils.turing.write_pairs; do not edit.\n")
        fh.write(f"window.{variable} = {json.dumps(manifest, indent=1)};\n")
    return manifest


#: Above this many bytes of PNG files, :func:`inline_page` embeds every image as a JPEG
#: (quality 92, real and colorized alike, so the encoding gives nothing away).
INLINE_PNG_BYTES = 4 << 20


def _read_manifest(out_dir: str) -> dict:
    path = os.path.join(out_dir, "pairs.js")
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no pairs at {path}; write them first "
                                "(turing.write_pairs, chapter 06).") from None
    return json.loads(text[text.index("=") + 1:].strip().rstrip(";"))


def _data_uris(out_dir: str, files: list[str]) -> dict[str, str]:
    """Each image file of the pairs as a ``data:`` URI (PNG, or all JPEG when large)."""
    from PIL import Image  # start-up: only when a page is built

    paths = {f: os.path.join(out_dir, f) for f in files}
    as_jpeg = sum(os.path.getsize(p) for p in paths.values()) > INLINE_PNG_BYTES
    uris = {}
    for name, path in paths.items():
        if as_jpeg:
            buf = io.BytesIO()
            Image.open(path).convert("RGB").save(buf, "JPEG", quality=92)
            raw, kind = buf.getvalue(), "jpeg"
        else:
            raw, kind = open(path, "rb").read(), "png"
        uris[name] = f"data:image/{kind};base64,{base64.b64encode(raw).decode()}"
    return uris


def inline_page(out_dir: str | os.PathLike, height: str = "42rem") -> str:
    """The Turing-test page with the pairs in ``out_dir`` as one ``<iframe srcdoc=...>``
    (in a ``<div>``).

    The page's stylesheet and script (``colorutils/turing_page``) are inlined and every image
    is a ``data:`` URI, so the game plays where no file can be served: a notebook output on
    Colab (``IPython.display.HTML(turing.inline_page(out))``).  It is the same HTML and
    JavaScript as the book's page; the answers download as the same CSV.

    Raises
    ------
    FileNotFoundError
        If ``out_dir`` holds no ``pairs.js`` (:func:`write_pairs` writes it).
    """
    out_dir = os.fspath(out_dir)
    manifest = _read_manifest(out_dir)
    uris = _data_uris(out_dir, [p[k] for p in manifest["pairs"] for k in ("real", "fake")])
    manifest["pairs"] = [{**p, "real": uris[p["real"]], "fake": uris[p["fake"]]}
                         for p in manifest["pairs"]]
    page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "turing_page")

    def text(name):
        return open(os.path.join(page, name), encoding="utf-8").read().replace("</", "<\\/")

    pairs = json.dumps(manifest).replace("</", "<\\/")
    doc = open(os.path.join(page, "index.html"), encoding="utf-8").read()
    swaps = {'<link rel="stylesheet" href="turing.css">': f"<style>{text('turing.css')}</style>",
             '<script src="pairs.default.js"></script>': "",
             '<script src="pairs.js" data-optional onerror="void 0"></script>':
                 f"<script>window.TURING_PAIRS = {pairs};</script>",
             '<script src="turing.js"></script>': f"<script>{text('turing.js')}</script>"}
    for old, new in swaps.items():
        if old not in doc:
            raise ValueError(f"{page}/index.html no longer has {old!r}; update inline_page.")
        doc = doc.replace(old, new)
    # in a <div>: IPython warns about HTML that starts with an <iframe>
    return (f'<div><iframe srcdoc="{html.escape(doc, quote=True)}" '
            f'title="Colorization Turing test" style="width: 100%; height: {height}; '
            'border: 1px solid #ccc; border-radius: 4px;"></iframe></div>')


#: The columns of the answer file the Turing-test page downloads (``COLUMNS`` in turing.js).
ANSWER_COLUMNS = ("trial", "pair_id", "method", "left", "right", "chosen_side", "correct",
                  "fooled", "response_ms")


def read_answers(path: str | os.PathLike) -> tuple[int, int]:
    """(pairs where the colorization was picked, pairs answered) of one answer file.

    Raises :class:`~colorutils.errors.UserError` naming the file and what is wrong with it.
    """
    name = os.fspath(path)
    fix = "give the CSV the Turing-test page downloads (its button 'Download answers (CSV)')"
    try:
        with open(name, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{name}: cannot read it ({first_line(err)}); {fix}.") from None
    if not rows:
        raise UserError(f"{name}: no answers in it; {fix}, after playing at least one pair.")
    missing = [c for c in ("fooled", "correct") if c not in header]
    if missing:
        raise UserError(f"{name}: no column {', '.join(missing)} (its columns: "
                        f"{', '.join(header) or 'none'}); {fix}.")
    fooled = 0
    for line, row in enumerate(rows, start=2):
        if row["fooled"] not in ("0", "1") or row["correct"] not in ("0", "1") \
                or row["fooled"] == row["correct"]:
            raise UserError(f"{name}, line {line}: fooled={row['fooled']!r} and correct="
                            f"{row['correct']!r}; each answer has one of them 1 and the other "
                            "0: fix or delete that line.")
        fooled += row["fooled"] == "1"
    return fooled, len(rows)


def pool_answers(paths) -> list[dict]:
    """One row per answer file (named by its path: the page names every download
    ``turing_test_answers.csv``) and a last, pooled row: ``{"name", "fooled", "n", "rate",
    "low", "high"}``, with the 95 % Wilson score interval (:func:`stats.wilson_interval`).

    Pooling adds up the answers of every file, as if every answer were independent; answers
    of one person are not, so with few people the interval is too narrow.
    """
    paths = [os.fspath(p) for p in paths]
    real = [os.path.realpath(p) for p in paths]
    twice = sorted({p for p, r in zip(paths, real, strict=True) if real.count(r) > 1})
    if twice:
        raise UserError(f"{', '.join(twice)}: given twice; each answer file counts once.")
    counts = [(p, *read_answers(p)) for p in paths]
    files = f"{len(paths)} file{'s' * (len(paths) != 1)}"
    counts.append((f"pooled ({files})", sum(c[1] for c in counts), sum(c[2] for c in counts)))
    return [{"name": name, "fooled": k, "n": n, "rate": k / n,
             **dict(zip(("low", "high"), evaluation.wilson_interval(k, n), strict=True))}
            for name, k, n in counts]


def pool_command(args) -> int:
    """``colorutils turing pool CSV...``: each file's fooling rate, then the pooled one."""
    for row in pool_answers(args.answers):
        print(f"{row['name']}: fooled {row['fooled']} of {row['n']}, fooling rate "
              f"{row['rate']:.1%} (95% CI {row['low']:.1%} to {row['high']:.1%}, Wilson)")
    return 0
