"""Errors meant for people, at the bottom of the library so that every layer may raise them.

A :class:`UserError` is caused by the user's input (a bad path, an unknown value, a grid file
that does not parse): the ``colorutils`` command prints its message as one line and exits with
status 2 (:mod:`colorutils.cli`), a notebook shows it as an ordinary exception.  The message
names the argument, the value, and what to do instead (the design's rule "errors are for
people").

Nothing here imports the rest of the library, so that :mod:`colorutils.colorize`,
:mod:`colorutils.experiments` and the command line share one class without importing each
other.

Examples
--------
>>> try:
...     raise UserError("--size 3 must be an integer >= 16")
... except UserError as err:
...     print(err)
--size 3 must be an integer >= 16
>>> first_line(ValueError("bad shape\\nTraceback details..."))
'bad shape'
"""

from __future__ import annotations

__all__ = [
    "UserError",
    "RunConflictError",
    "first_line",
]


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


class RunConflictError(ValueError):
    """A run folder that belongs to another configuration (:func:`colorutils.files.claim`).

    Attributes
    ----------
    run_dir : str
        The folder.
    diffs : list of str
        What differs, one ``"key (was X, now Y)"`` each.
    """

    def __init__(self, run_dir: str, diffs: list[str], advice: str):
        self.run_dir, self.diffs = run_dir, list(diffs)
        super().__init__(f"run folder {run_dir!r} belongs to another configuration; "
                         f"differing: {'; '.join(self.diffs)}. {advice}")


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (its class name if the message is empty).

    Third-party errors (Keras, TensorFlow, Pillow) often carry pages of detail; a one-line
    report quotes the first line, cut to ``limit`` characters.

    Parameters
    ----------
    err : BaseException
    limit : int, optional
        Longest line returned (None: no limit).
    """
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if limit is None else line[:limit]
