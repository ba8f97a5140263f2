"""Errors meant for people, at the bottom of the library so that every layer may raise them.

A :class:`UserError` comes from the user's input; its message names the argument, the value and
the fix, and :mod:`colorutils.cli` prints it as one line (exit status 2).

>>> first_line(UserError("--size 3 must be an integer >= 16\\nTraceback details..."))
'--size 3 must be an integer >= 16'
"""

from __future__ import annotations

__all__ = ["UserError", "RunConflictError", "first_line"]


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


class RunConflictError(ValueError):
    """A run folder that belongs to another configuration (:func:`colorutils.files.claim`);
    ``diffs`` lists what differs, one ``"key (was X, now Y)"`` each."""

    def __init__(self, run_dir: str, diffs: list[str], advice: str):
        self.run_dir, self.diffs = run_dir, list(diffs)
        super().__init__(f"run folder {run_dir!r} belongs to another configuration; "
                         f"differing: {'; '.join(self.diffs)}. {advice}")


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (its class name if the message is empty), cut
    to ``limit`` characters: third-party errors often carry pages of detail."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if limit is None else line[:limit]
