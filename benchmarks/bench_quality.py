"""Quality of the book's best recipe against the gray baseline, in one run.

Trains (or loads, if ``make book`` already did) the book's recipe at book scale, exactly as
chapter 03 does (``experiments.train_best``: the U-Net classifier of chapters 02-03 rebalanced
with ``experiments.BEST_LAMBDA``, on the embedded CIFAR-10 photos), then scores it against the
named baseline **gray** (ab = 0, the lightness alone) on the embedded test split and, where
``../shared/data`` holds them, on photos the model has never seen the like of (flowers5 and
the clothing10 test split, resized to the model's 32 px). Three figures
(``colorutils.evaluation``), each printed next to gray's:

* the colourfulness ratio (model over the true photos'), goal >= 0.7;
* the PSNR, goal: within 1 dB of gray's;
* the AuC of per-pixel ab accuracy (thresholds 0-150), goal: above gray's.

The goal is measured on the colour photos of each set (``evaluation.quality_figures``): the
gray ones (every |a| and |b| within 5 Lab units, the colour prior's rule) have no colour to
predict and the gray image reproduces them almost exactly (85 dB on average on CIFAR-10's
test split); the figures on all photos are printed and recorded beside.

No published model meets all three (Zhang et al. trade PSNR for colour on purpose). The script
also shows what moves the recipe along the trade-off: the decoding temperature and the chroma
smoothing (same model, no retraining), and chapter 03's other classifiers (lambda 1 and 0.5)
when their runs exist. A JSON report goes to ``runs/book/cifar10/bench_quality.json``.

Run: ``.venv/bin/python benchmarks/bench_quality.py`` (about a minute after ``make book``,
a few minutes from scratch on 2 CPU cores).

With ``--model FILE.keras --dataset folder:PATH [--dataset ...]`` it scores a trained model
instead (the shipped photo model, ``make photo-model``) on the test split of each source, at
the model's training size and decoding (its sidecar), next to gray and to the CIFAR recipe
above (trained here at book scale if missing) on the same photos at the recipe's 32 px;
``--sidecar`` also writes the figures into the model's sidecar (``provenance.quality_sets``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from colorutils import colorize, data, evaluation, experiments, files, quantize, settings  # noqa: E402,E501

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
#: Photo sets for an out-of-domain check (never copied into the repository).
EXTRA = {"flowers5 (test)": ("flowers5", "test"), "clothing10 (test)": ("clothing10", "test")}


def test_sets(size: int, limit: int | None) -> dict[str, tuple]:
    """``{name: (l_norm, ab)}``: the embedded test split, then the shared sets present."""
    sets = {"cifar10 (embedded test)": data.to_arrays(
        data.load("cifar10", "test", size, 256, limit=limit))[:2]}
    for name, (folder, split) in EXTRA.items():
        root = SHARED / folder
        if root.is_dir():
            sets[name] = data.to_arrays(data.load(f"folder:{root}", split, size, 256,
                                                  limit=limit or 1000))[:2]
        else:
            print(f"({root} absent: {name} skipped)")
    return sets


def row(name: str, figures: dict) -> str:
    m, g, goal = figures["model"], figures["gray"], figures["goal"]
    mark = {True: "met", False: "missed"}
    return (f"{name:34s} {figures['photos']:5d} photos ratio {m['colorfulness_ratio']:5.2f} ({mark[goal.met['ratio']]:6s}) "
            f"PSNR {m['psnr']:6.2f} vs gray {g['psnr']:6.2f} = {goal.psnr_gap:+5.2f} dB "
            f"({mark[goal.met['psnr']]:6s}) AuC {m['auc']:.4f} vs gray {g['auc']:.4f} "
            f"({mark[goal.met['auc']]})")


def figures_dict(figures: dict) -> dict:
    """Rounded figures of ``evaluation.quality_figures`` (model, gray, goal, photo counts)."""
    out = {k: {m: round(v, 4) for m, v in figures[k].items()} for k in ("model", "gray")}
    return {**out, "goal": figures["goal"].as_dict(), "photos": figures["photos"],
            "gray_photos": figures["gray_photos"]}


def cifar_recipe():
    """The CIFAR recipe (chapter 03's best colorizer at book scale), trained if missing."""
    cfg = settings.resolve_chapter("book", experiments.CLASSIFICATION_PRESETS, dataset="cifar10")
    val_ds = data.load(cfg.dataset, "validation", cfg.image_size, cfg.batch_size)
    return experiments.train_best(cfg, val_ds=val_ds, verbose=0), cfg


def score_model(args) -> None:
    """``--model``: the model (and the CIFAR recipe) on each ``--dataset``'s test split."""
    start = time.perf_counter()
    model = colorize.open_colorizer(args.model)
    size = model.image_size
    sidecar = files.read_sidecar(args.model) or {}
    temperature = sidecar.get("temperature", experiments.BEST_TEMPERATURE)
    smooth = sidecar.get("smooth_sigma", experiments.BEST_SMOOTH_SIGMA)
    cifar, cfg = cifar_recipe()
    print(f"{args.model}: {size} px, T {temperature}; CIFAR recipe: {cfg.image_size} px, "
          f"T {experiments.BEST_TEMPERATURE} ({files.shown_path(cifar.run_dir, cfg.run_root)})")
    sets = {}
    for source in args.dataset:
        name = f"{os.path.basename(os.path.normpath(source.partition(':')[2] or source))} (test)"
        l_norm, ab = data.to_arrays(data.load(source, "test", size, 64, limit=args.limit))[:2]
        ours = evaluation.quality_figures(model, l_norm, ab, temperature=temperature,
                                       smooth_sigma=smooth)
        print(row(f"{name}, this model", ours))
        l_small, ab_small = data.to_arrays(data.load(source, "test", cfg.image_size, 64,
                                                     limit=args.limit))[:2]
        theirs = evaluation.quality_figures(cifar.model, l_small, ab_small,
                                         temperature=experiments.BEST_TEMPERATURE,
                                         smooth_sigma=experiments.BEST_SMOOTH_SIGMA)
        print(row(f"{name}, CIFAR recipe", theirs))
        sets[name] = {"model": figures_dict(ours), "cifar_recipe": figures_dict(theirs)}
    report = {"model": os.path.basename(args.model), "image_size": size,
              "temperature": temperature, "cifar_recipe": {
                  "image_size": cfg.image_size, "temperature": experiments.BEST_TEMPERATURE,
                  "lambda": experiments.BEST_LAMBDA, "epochs": cfg.epochs,
                  "train_images": cfg.train_images}, "sets": sets,
              "seconds": round(time.perf_counter() - start, 1)}
    path = pathlib.Path(cfg.run_dir("bench_quality_photo.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str))
    if args.sidecar and sidecar:
        sidecar.setdefault("provenance", {})["quality_sets"] = report
        files.write_json_atomic(str(pathlib.Path(args.model).with_suffix(".json")), sidecar)
        print(f"figures written into {pathlib.Path(args.model).with_suffix('.json').name}")
    print(f"report: {files.shown_path(path, cfg.run_root)} ({report['seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="book", choices=settings.SCALES)
    parser.add_argument("--limit", type=int, default=None, help="test photos per set")
    parser.add_argument("--model", default=None,
                        help="score this .keras file (with its sidecar) instead of the recipe")
    parser.add_argument("--dataset", action="append", default=None,
                        help="with --model: a source whose test split to score on (repeat)")
    parser.add_argument("--sidecar", action="store_true",
                        help="with --model: write the figures into its sidecar JSON")
    args = parser.parse_args()
    if args.model:
        if not args.dataset:
            parser.error("--model needs at least one --dataset folder:PATH (e.g. caltech101)")
        return score_model(args)
    cfg = settings.resolve_chapter(args.scale, experiments.CLASSIFICATION_PRESETS, dataset="cifar10")
    start = time.perf_counter()
    bins = quantize.ab_bins()
    prior = experiments.training_prior(cfg, bins)
    val_ds = data.load(cfg.dataset, "validation", cfg.image_size, cfg.batch_size,
                       limit=cfg.eval_images)
    best = experiments.train_best(cfg, val_ds=val_ds, prior=prior)
    sets = test_sets(cfg.image_size, args.limit)
    decode = dict(temperature=experiments.BEST_TEMPERATURE, smooth_sigma=experiments.BEST_SMOOTH_SIGMA)
    report = {"recipe": {"lambda": experiments.BEST_LAMBDA, **decode,
                         "run": files.shown_path(best.run_dir, cfg.run_root)},
              "baseline": "gray (ab = 0)", "sets": {}, "decoding": {}, "lambdas": {}}
    print(f"The book's recipe: lambda {experiments.BEST_LAMBDA}, T {experiments.BEST_TEMPERATURE}, "
          f"smoothing {experiments.BEST_SMOOTH_SIGMA} px; {cfg.describe()}")
    print("-- the three figures against gray: the colour photos (the goal), then all photos")
    for name, (l_norm, ab) in sets.items():
        figures = evaluation.quality_figures(best.model, l_norm, ab, **decode)
        every = evaluation.quality_figures(best.model, l_norm, ab, colour_only=False, **decode)
        print(row(name, figures))
        print(row(f"  with its {figures['gray_photos']} gray photos", every))
        report["sets"][name] = {**figures_dict(figures), "all_photos": figures_dict(every)}
    l_norm, ab = sets["cifar10 (embedded test)"]
    print("-- what moves it: decoding the same model (embedded test split)")
    for t in (1.0, 0.77, 0.58, quantize.TEMPERATURE, 0.2):
        for sigma in (0.0, 2.0):
            figures = evaluation.quality_figures(best.model, l_norm, ab, temperature=t,
                                                 smooth_sigma=sigma)
            key = f"T={t:g} sigma={sigma:g}"
            print(row(key, figures))
            report["decoding"][key] = figures_dict(figures)
    print("-- what moves it: rebalancing (chapter 03's runs, where finished)")
    study = experiments.ClassificationStudy(cfg, bins, verbose=0)
    for lam in (1.0, 0.5):
        arm = experiments.classification_arm_name(lam)
        if not files.is_finished(study.run_dir(arm, 0), cfg.epochs):
            print(f"lambda {lam:g}: no finished run (make book trains it)")
            continue
        weights = None if lam == 1.0 else quantize.rebalance_weights(prior, lam)
        model = study.train(arm, "classification", 0, val_ds, weights=weights, lam=lam).model
        figures = evaluation.quality_figures(model, l_norm, ab, temperature=quantize.TEMPERATURE)
        print(row(f"lambda {lam:g}, T {quantize.TEMPERATURE}", figures))
        report["lambdas"][f"{lam:g}"] = figures_dict(figures)
    report["seconds"] = round(time.perf_counter() - start, 1)
    path = pathlib.Path(cfg.run_dir("bench_quality.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"report: {files.shown_path(path, cfg.run_root)} ({report['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
