"""The colorization Turing test {cite}`zhang2016colorful`: pairs for its page, answers pooled.

A viewer picks the real one of a photo and its colorization; the *fooling rate* is the share
of pairs where the colorization was picked.  The page, HTML and JavaScript in
``colorutils/turing_page/``, is linked from ``book/_static/turing/``; ``colorutils turing pool``
pools the answer files it downloads.
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

__all__ = ["spread", "make_pairs", "write_pairs", "inline_page"]


_PAGE_DIR = os.path.join("book", "_static", "turing")
#: Above this many bytes of PNGs, :func:`inline_page` embeds all images as JPEGs (quality 92).
_INLINE_PNG_BYTES = 4 << 20
#: The columns of the answer file the page downloads (``COLUMNS`` in turing.js).
ANSWER_COLUMNS = ("trial", "pair_id", "method", "left", "right", "chosen_side", "correct",
                  "fooled", "response_ms")


def find_page(start: str | os.PathLike | None = None) -> str | None:
    """The page folder ``book/_static/turing`` seen from ``start`` (default: the working
    directory) or its parent; None if there is none."""
    here = os.path.abspath(start if start is not None else os.getcwd())
    found = [os.path.join(folder, _PAGE_DIR) for folder in (here, os.path.dirname(here))]
    return next((f for f in found if os.path.isfile(os.path.join(f, "index.html"))), None)


def spread(total: int, n: int, exclude=()) -> np.ndarray:
    """``n`` indices picked evenly over ``range(total)`` minus ``exclude`` (fewer if fewer
    are left)."""
    if total < 0 or n < 0:
        raise ValueError(f"total={total!r}, n={n!r}: give counts >= 0.")
    left = np.setdiff1d(np.arange(total), np.asarray(list(exclude), dtype=int))
    return left[viz.pick_photos(len(left), n)]


def make_pairs(model, source: str, image_size: int, n: int, *, split: str = "test",
               limit: int | None = None, batch_size: int = 32, predict_kwargs=None,
               indices=None):
    """Real photos and their colorizations by ``model``, as float32 RGB ``[n, 2S, 2S, 3]``.

    The model sees the lightness at ``S = image_size``; its ab is upsampled and recombined
    with the lightness at ``2S``.  The photos are ``indices`` of the split, or ``n`` picked
    by :func:`spread` over its first ``limit``.
    """
    l_all, ab_all = data.to_arrays(data.load(source, split, 2 * image_size, batch_size,
                                             shuffle=False, limit=limit))[:2]
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


def write_pairs(real, fake, out_dir: str | os.PathLike = _PAGE_DIR, *,
                method: str | list[str] = "model", source: str = "",
                variable: str = "TURING_PAIRS", script: str = "pairs.js",
                images_dir: str = "pairs", seed: int = 0, note: str = "",
                photos=None) -> dict:
    """Write (real, colorized) pairs, uint8 or floats in [0, 1] ``[N, H, W, 3]``, for the page.

    The PNGs ``<images_dir>/p000_a.png`` / ``p000_b.png`` put the real photo on a random side.
    The manifest, returned, is a script ``<out_dir>/<script>`` (browsers refuse to ``fetch()``
    JSON from ``file://``) setting ``window.<variable>``; ``photos``: split positions.
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
    from PIL import Image  # start-up: only when pairs are written

    folder = os.path.join(os.fspath(out_dir), images_dir)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if re.fullmatch(r"p\d+_[ab]\.png", old):
            os.remove(os.path.join(folder, old))
    rng = np.random.default_rng(seed)
    pairs = []
    for i, (r, f) in enumerate(zip(real, fake, strict=True)):
        real_tag, fake_tag = ("a", "b") if rng.random() < 0.5 else ("b", "a")
        for tag, image in ((real_tag, r), (fake_tag, f)):
            Image.fromarray(image).save(os.path.join(folder, f"p{i:03d}_{tag}.png"),
                                        optimize=True)
        pairs.append({"id": f"p{i:03d}", "real": f"{images_dir}/p{i:03d}_{real_tag}.png",
                      "fake": f"{images_dir}/p{i:03d}_{fake_tag}.png", "method": methods[i],
                      **({} if photos is None else {"photo": int(photos[i])})})
    manifest = {"title": "Which one is real?", "source": source, "pairs": pairs,
                **({"note": note} if note else {})}
    with open(os.path.join(os.fspath(out_dir), script), "w") as fh:
        fh.write("// Written by colorutils.turing.write_pairs; do not edit.\n")
        fh.write(f"window.{variable} = {json.dumps(manifest, indent=1)};\n")
    return manifest


def _data_uri(path: str, as_jpeg: bool) -> str:
    from PIL import Image  # start-up: only when a page is built

    if as_jpeg:
        buf = io.BytesIO()
        Image.open(path).convert("RGB").save(buf, "JPEG", quality=92)
        raw, kind = buf.getvalue(), "jpeg"
    else:
        raw, kind = open(path, "rb").read(), "png"
    return f"data:image/{kind};base64,{base64.b64encode(raw).decode()}"


def inline_page(out_dir: str | os.PathLike, height: str = "42rem") -> str:
    """The page with the pairs of ``out_dir`` inlined, as an ``<iframe srcdoc=...>`` in a
    ``<div>`` that plays where no file is served (``IPython.display.HTML`` on Colab)."""
    out_dir = os.fspath(out_dir)
    path = os.path.join(out_dir, "pairs.js")
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no pairs at {path}; write them first "
                                "(turing.write_pairs, chapter 06).") from None
    manifest = json.loads(text[text.index("=") + 1:].strip().rstrip(";"))
    paths = {p[k]: os.path.join(out_dir, p[k]) for p in manifest["pairs"] for k in ("real", "fake")}
    as_jpeg = sum(os.path.getsize(p) for p in paths.values()) > _INLINE_PNG_BYTES
    uris = {name: _data_uri(p, as_jpeg) for name, p in paths.items()}
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


def _read_answers(path: str | os.PathLike) -> tuple[int, int]:
    """(pairs where the colorization was picked, pairs answered) of one answer file."""
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
    for line, row in enumerate(rows, start=2):
        if {row["fooled"], row["correct"]} != {"0", "1"}:
            raise UserError(f"{name}, line {line}: fooled={row['fooled']!r} and correct="
                            f"{row['correct']!r}; each answer has one of them 1 and the other "
                            "0: fix or delete that line.")
    return sum(row["fooled"] == "1" for row in rows), len(rows)


def pool_answers(paths) -> list[dict]:
    """``{"name", "fooled", "n", "rate", "low", "high"}`` of each answer file and a last,
    pooled row (every answer taken as independent), with the 95 % Wilson interval."""
    paths = [os.fspath(p) for p in paths]
    real = [os.path.realpath(p) for p in paths]
    twice = sorted({p for p, r in zip(paths, real, strict=True) if real.count(r) > 1})
    if twice:
        raise UserError(f"{', '.join(twice)}: given twice; each answer file counts once.")
    counts = [(p, *_read_answers(p)) for p in paths]
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
