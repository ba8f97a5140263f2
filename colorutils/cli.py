"""The ``colorutils`` command.

Subcommands (each lives in the module that owns its concern; this file only parses):

``colorutils colorize INPUT... --model RUN_OR_MODEL --out DIR``
    colorize photos with a trained model (:mod:`colorutils.colorize`).
``colorutils evaluate --model RUN_OR_MODEL --dataset SOURCE``
    score a model and the baselines on a held-out split (:mod:`colorutils.evaluation`).
``colorutils experiments run GRID.yml`` / ``colorutils experiments report``
    run a papermill grid of experiments; rebuild the results page (:mod:`colorutils.experiments`).

Errors meant for people (a bad path, a bad value) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from colorutils import __version__


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorutils",
        description="Automatic image colorization: the command-line side of the book.",
    )
    parser.add_argument("--version", action="version", version=f"colorutils {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("colorize", help="colorize photos with a trained model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--model", required=True, help="a run folder or a .keras model file")
    p.add_argument("--out", required=True, help="output folder (never the input's own file)")
    p.add_argument("--temperature", type=float, default=None,
                   help="annealed-mean temperature in (0, 1] (default: the book's 0.38)")
    p.add_argument("--size", type=int, default=None,
                   help="side length the model runs at (default: its training size)")
    p.add_argument("--format", choices=("png", "jpeg"), default="png", help="output format")
    p.add_argument("--compare", action="store_true",
                   help="also write a side-by-side gray | colorized image")
    p.set_defaults(handler="colorutils.colorize:cli_main")

    p = sub.add_parser("evaluate", help="score a model and the baselines on a dataset")
    p.add_argument("--model", required=True, help="a run folder or a .keras model file")
    p.add_argument("--dataset", default="sample", help="sample, tfds:NAME or folder:PATH")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--image-size", type=int, default=None, help="evaluation side length")
    p.add_argument("--limit", type=int, default=None, help="at most this many images")
    p.add_argument("--out", default=None, help="write per-image and summary CSV files here")
    p.set_defaults(handler="colorutils.evaluation:cli_main")

    p = sub.add_parser("experiments", help="run a grid of notebook experiments")
    esub = p.add_subparsers(dest="experiments_command", metavar="ACTION")
    run = esub.add_parser("run", help="run (or resume) every run of a grid file")
    run.add_argument("grid", help="grid file (YAML)")
    run.add_argument("--runs-dir", default="runs", help="root folder of run outputs")
    run.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    run.add_argument("--dry-run", action="store_true", help="validate and list, run nothing")
    run.set_defaults(handler="colorutils.experiments:cli_main")
    report = esub.add_parser("report", help="rebuild the book's results page from run folders")
    report.add_argument("grids", nargs="*", metavar="GRID",
                        help="grid files (default: experiments/*.yml)")
    report.add_argument("--runs-dir", default="runs", help="root folder of run outputs")
    report.add_argument("--out", default="book/results.md", help="the page to write")
    report.set_defaults(handler="colorutils.experiments:cli_main")
    p.set_defaults(handler="colorutils.experiments:cli_main")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    module_name, func_name = handler.split(":")
    import importlib

    try:
        module = importlib.import_module(module_name)
        return int(getattr(module, func_name)(args) or 0)
    except UserError as err:
        print(f"colorutils {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    # `python -m colorutils.cli` runs this file as __main__; call the imported module's main so
    # that `except UserError` catches the class the subcommands raise (colorutils.cli.UserError).
    from colorutils.cli import main as _main

    sys.exit(_main())
