"""The ``colorutils`` command: ``train``, ``colorize``, ``evaluate``, ``experiments run|report``
and ``turing pool``.

Each handler (here ``train`` and ``evaluate``; the others live with their concern, e.g.
:func:`colorutils.colorize.colorize_command`) is imported by name when its subcommand runs, so
``--help`` and argument errors answer before TensorFlow loads. A
:class:`colorutils.errors.UserError` or a parser error is one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys

from colorutils import __version__, files, settings
from colorutils.errors import UserError, first_line

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a colorization model (rerun the command to resume)",
                       description="Train a model of the zoo on any source, or the book's "
                       "best recipe (--recipe best); the same command again resumes it.")
    p.add_argument("--dataset", default="cifar10",
                   help="cifar10 (default), sample, folder:PATH or tfds:NAME")
    p.add_argument("--model", help="a model of the zoo, colorutils.models.BUILDERS (default: unet)")
    p.add_argument("--head", choices=("classification", "regression"),
                   help="for models with both heads (default: classification)")
    p.add_argument("--lambda", dest="lam", type=float,
                   help="class rebalancing of a classification head in (0, 1]; 1 (default): none")
    p.add_argument("--recipe", choices=("best", "photo"),
                   help="the book's best colorizer (chapter 03) and a report on it; photo: "
                   "the same model at the photo recipe's budget (the shipped photo model)")
    p.add_argument("--scale", choices=settings.SCALES,
                   help="presets of the knobs below (default: book; full with --recipe best)")
    p.add_argument("--export", metavar="FILE.keras",
                   help="with --recipe: also write the model as FILE.keras and its sidecar "
                   "FILE.json (what colorize needs, and its provenance)")
    p.add_argument("--credit",
                   help="with --export: the data set's credit and licence, for the sidecar")
    for flag, kind, what in (("--image-size", int, "side length of the training images"),
                             ("--epochs", int, "total epochs of the run"),
                             ("--batch-size", int, "images per step"),
                             ("--width", float, "width multiplier of the model"),
                             ("--train-images", int, "use at most this many training images"),
                             ("--eval-images", int, "validation / test images at most")):
        p.add_argument(flag, type=kind, help=f"{what} (default: the scale's)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    p.add_argument("--run-dir",
                   help="the run folder (default: under the runs root, named by the model)")
    p.add_argument("--runs-dir", help="root of the run folders (default: $COLORBOOK_RUNS or runs)")
    p.add_argument("--mixed-precision", action="store_true",
                   help="mixed_float16 on a GPU (the recipe uses it on a GPU anyway)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler="colorutils.cli:_train_command")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="colorutils", description="Automatic image colorization: the "
                     "command-line side of the book.")
    parser.add_argument("--version", action="version", version=f"colorutils {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)

    p = sub.add_parser("colorize", help="colorize photos with a trained model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--model", help="a run folder or a .keras model file (default: the photo "
                   "model shipped with colorutils)")
    p.add_argument("--out", required=True,
                   help="output folder: the input folders' trees are mirrored inside it")
    p.add_argument("--temperature", type=float,
                   help="annealed-mean temperature in (0, 1] (default: the book's 0.38)")
    p.add_argument("--size", type=int,
                   help="side length the model runs at (default: its training size)")
    p.add_argument("--format", choices=("png", "jpeg"), default="png", help="output format")
    p.add_argument("--compare", action="store_true",
                   help="also write a side-by-side gray | colorized image")
    p.add_argument("--overwrite", action="store_true",
                   help="redo photos colorized into --out before (default: keep them)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler="colorutils.colorize:colorize_command")

    p = sub.add_parser("evaluate", help="score a model and the baselines on a dataset")
    p.add_argument("--model", required=True, help="a run folder or a .keras model file")
    p.add_argument("--dataset", default="sample", help="sample, tfds:NAME or folder:PATH")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--image-size", type=int, help="evaluation side length")
    p.add_argument("--limit", type=int, help="at most this many images")
    p.add_argument("--out", help="write per-image and summary CSV files here")
    p.set_defaults(handler="colorutils.cli:_evaluate_command")

    p = sub.add_parser("experiments", help="run a grid of notebook experiments")
    esub = p.add_subparsers(dest="experiments_command", metavar="ACTION")
    run = esub.add_parser("run", help="run (or resume) every run of a grid file")
    run.add_argument("grid", help="grid file (YAML)")
    run.add_argument("--runs-dir", default="runs", help="root folder of run outputs")
    run.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    run.add_argument("--dry-run", action="store_true", help="validate and list, run nothing")
    report = esub.add_parser("report", help="rebuild the book's results page from run folders")
    report.add_argument("grids", nargs="*", metavar="GRID",
                        help="grid files (default: experiments/*.yml)")
    report.add_argument("--runs-dir", default="runs", help="root folder of run outputs")
    report.add_argument("--out", default="book/results.md", help="the page to write")
    p.set_defaults(handler="colorutils.experiments:experiments_command")

    p = sub.add_parser("turing", help="the colorization Turing test: pool a class's answers")
    pool = p.add_subparsers(dest="turing_command", metavar="ACTION").add_parser(
        "pool", help="fooling rate of answer files, each and pooled, with 95%% intervals")
    pool.add_argument("answers", nargs="+", metavar="CSV",
                      help="answer files downloaded from the Turing-test page")
    pool.set_defaults(handler="colorutils.turing:pool_command")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    module, func = handler.split(":")
    try:
        return int(getattr(importlib.import_module(module), func)(args) or 0)
    except UserError as err:
        print(f"colorutils {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C: what is saved, in one line (train.Interrupted)
        print(f"colorutils {args.command}: {err or 'stopped'}", file=sys.stderr)
        return 130
    except files.WriteError as err:  # a full disk, a read-only folder: what, where, the fix
        print(f"colorutils {args.command}: error: cannot write {err.filename} "
              f"({err.strerror}); free some space or give a writable folder, then run the "
              "same command again.", file=sys.stderr)
        return 2


def _evaluate_command(args) -> int:
    """``colorutils evaluate``: score a model and the baselines, print, write CSV files."""
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit {args.limit} must be a positive integer.")
    if args.image_size is not None and args.image_size < 8:
        raise UserError(f"--image-size {args.image_size} is too small; use 8 or more.")
    if args.out is not None and os.path.isfile(args.out):
        raise UserError(f"--out {args.out!r} is a file; give a folder for the CSV files.")
    from colorutils import colorize  # start-up: no TensorFlow before the path check

    model = colorize.open_colorizer(args.model, args.image_size)
    size = model.image_size
    from colorutils import data, evaluation  # start-up: TensorFlow is loaded (quietly) by now

    try:
        test = data.load(args.dataset, args.split, size, batch_size=32, shuffle=False,
                         limit=args.limit)
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise UserError(f"--dataset {args.dataset!r} --split {args.split!r}: "
                        f"{first_line(err)}") from None
    notes, stats = [], {}
    try:  # the training statistics of the baselines
        train = data.load(args.dataset, "train", size, batch_size=32, shuffle=False, augment=False,
                          limit=2000 if args.limit is None else max(args.limit, 256))
        stats["mean_ab"] = evaluation.dataset_mean_ab(train)
        stats["weights"], stats["bins"] = evaluation.rebalancing_weights(train)
    except (ValueError, FileNotFoundError, KeyError) as err:
        notes.append(f"no train split ({err}); mean_ab baseline skipped.")
    name = os.path.basename(os.path.normpath(args.model)) or "model"
    table = evaluation.evaluate({name: model}, test, **stats)
    print(f"{args.dataset} {args.split}: {len(table.column('ssim', name))} images at {size} px")
    print(table.format())
    for note in notes + table.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out:
        per_image = table.to_csv(os.path.join(args.out, "per_image.csv"))
        summary = table.to_csv(os.path.join(args.out, "summary.csv"), summary=True)
        print(f"wrote {per_image} and {summary}")
    return 0


#: ``colorutils train``'s numbers: (smallest, largest or None: it bounds memory, what it is).
_TRAIN_NUMBERS = {"image_size": (16, 1024, "the side length of the training images, a "
                                           "multiple of 8"),
                  "epochs": (1, None, "the total number of epochs of the run"),
                  "batch_size": (1, 4096, "images per step"),
                  "train_images": (1, None, "the number of training images to use"),
                  "eval_images": (1, None, "the number of validation / test images")}


def _check_train_args(args) -> None:
    """The cheap checks of ``colorutils train``, before TensorFlow loads."""
    for name, (low, high, what) in _TRAIN_NUMBERS.items():
        value, flag = getattr(args, name), "--" + name.replace("_", "-")
        if value is not None and high is not None and value > high:
            raise UserError(f"{flag} {value} is above the limit {high}: {what} "
                            "(the limit bounds memory).")
        if value is not None and (value < low or (name == "image_size" and value % 8)):
            raise UserError(f"{flag} {value} must be an integer >= {low}: {what}.")
    if args.width is not None and not (math.isfinite(args.width) and args.width > 0):
        raise UserError(f"--width {args.width:g} must be a positive number (e.g. 0.25).")
    if args.seed < 0:
        raise UserError(f"--seed {args.seed} must be a non-negative integer.")
    if args.lam is not None and not (math.isfinite(args.lam) and 0 < args.lam <= 1):
        raise UserError(f"--lambda {args.lam:g} is outside (0, 1]: 1 trains without "
                        "rebalancing, smaller values weight rare colours more (Zhang et al. "
                        "use 0.5).")
    if args.recipe:
        given = [f for f, v in (("--model", args.model), ("--head", args.head),
                                ("--lambda", args.lam), ("--run-dir", args.run_dir)) if v]
        if given:
            raise UserError(f"--recipe {args.recipe} fixes the model, its head, lambda and run "
                            f"folder; drop {', '.join(given)}.")
    if args.export and not (args.recipe and args.export.endswith(".keras")):
        raise UserError(f"--export {args.export!r} needs --recipe and a .keras file name "
                        "(e.g. --recipe photo --export photo_unet.keras).")
    kind, _, path = args.dataset.partition(":")
    if kind == "folder" and path and not os.path.isdir(os.path.expanduser(path)):
        raise UserError(f"--dataset {args.dataset!r}: no such folder; give folder:PATH of a "
                        "folder of photos (PATH/class/photo or PATH/split/class/photo).")
    if args.run_dir is not None and os.path.isfile(args.run_dir):
        raise UserError(f"--run-dir {args.run_dir!r} is a file; give a folder.")


def _train_command(args) -> int:
    """``colorutils train``: train (or resume, or load) a model; the last line names its run
    folder, for ``colorutils colorize --model``."""
    _check_train_args(args)
    files.import_tf_quietly()  # after the checks
    from colorutils import experiments  # start-up: TensorFlow is loaded by now

    knobs = {k: getattr(args, k) for k in (*_TRAIN_NUMBERS, "width")}
    with files.forced(False) if args.quiet else contextlib.nullcontext():
        if args.recipe:
            scale = args.scale or ("book" if args.recipe == "photo" else "full")
            report = experiments.best_recipe(args.dataset, recipe=args.recipe, scale=scale,
                                             seed=args.seed, run_root=args.runs_dir, **knobs)
            print("\n".join(experiments.report_lines(report)))
            if args.export:
                experiments.export_colorizer(report, args.export, credit=args.credit)
                print(f"exported: {args.export} (+ its .json sidecar)")
            run_dir, colorizer = report["run_dir"], True
        else:
            run = experiments.train_model(
                args.dataset, args.model or "unet", scale=args.scale or "book", head=args.head,
                lam=1.0 if args.lam is None else args.lam, seed=args.seed,
                run_dir=args.run_dir, run_root=args.runs_dir,
                mixed_precision=args.mixed_precision, **knobs)
            outputs = getattr(run.model, "output", None)  # a dict for a colorizer
            run_dir, colorizer = run.run_dir, isinstance(outputs, dict) and "ab" in outputs
    print(f"run folder{' (for colorize --model)' if colorizer else ''}: {run_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
