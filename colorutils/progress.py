"""Progress bars for the long loops (a whole split, a training run), on a terminal only.

Every loop of the library that walks a whole split (scoring a model, counting the colour
prior, collecting a split into arrays, building the sample set) and training itself
(:class:`colorutils.train.ProgressCallback`) show their progress through :func:`bar`: one
line on stderr, updated in place (tqdm), with the count, the rate and the time left.

When a bar is shown (:func:`enabled`):

* never inside a Jupyter kernel (the rendered book, nbval, papermill): a bar there would be
  written into the notebook's outputs;
* otherwise when stderr is a terminal, so a bar never lands in a log file or a test's
  captured output;
* the environment variable ``COLORUTILS_PROGRESS`` overrides both (``1``: always, e.g. to
  follow a papermill run with ``--log-output``; ``0``: never);
* :func:`forced` (a context manager) overrides everything for a block of code (the command
  line's ``--quiet``).

Nothing here imports TensorFlow: a dataset's length is read through its ``cardinality()``.

Examples
--------
>>> with forced(False):
...     total = sum(bar(range(4), desc="counting"))
>>> total
6
>>> total_of([1, 2, 3]), total_of(iter([1]))
(3, None)
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator

__all__ = ["ENV_VAR", "enabled", "forced", "total_of", "bar"]

#: Environment variable forcing bars on (``1``) or off (``0``).
ENV_VAR = "COLORUTILS_PROGRESS"
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_forced: list[bool] = []  # a stack: the innermost forced() wins


def enabled(stream=None) -> bool:
    """Whether progress bars are shown now (see the module docstring for the rules).

    Parameters
    ----------
    stream : file, optional
        The stream a bar would be written to (default ``sys.stderr``).
    """
    if _forced:
        return _forced[-1]
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if setting in _ON:
        return True
    if setting in _OFF:
        return False
    if "ipykernel" in sys.modules:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no stream, or a closed one
        return False


@contextlib.contextmanager
def forced(on: bool) -> Iterator[None]:
    """Show (``True``) or hide (``False``) every bar inside the ``with`` block."""
    _forced.append(bool(on))
    try:
        yield
    finally:
        _forced.pop()


def total_of(iterable) -> int | None:
    """The number of items of ``iterable`` if it is known without iterating it.

    A sequence's ``len()``; a ``tf.data.Dataset``'s ``cardinality()`` when it is known and
    finite; else None.
    """
    cardinality = getattr(iterable, "cardinality", None)
    if callable(cardinality):
        try:
            n = int(cardinality())
        except (TypeError, ValueError):
            return None
        return n if n >= 0 else None
    try:
        return len(iterable)
    except TypeError:
        return None


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
        unit: str = "it", show: bool | None = None, **kwargs):
    """A progress bar over ``iterable`` (or one updated by hand: ``bar(total=n)``).

    Returns a ``tqdm`` object writing to stderr, disabled (printing nothing, costing almost
    nothing) unless :func:`enabled` (or ``show``) says otherwise.  Use it like ``tqdm``:
    iterate it, or call ``update(n)``, ``set_postfix_str(...)``, ``close()``; ``with`` works.

    Parameters
    ----------
    iterable : iterable, optional
    total : int, optional
        Number of steps (default :func:`total_of` the iterable).
    desc, unit : str
        The label before the bar and the name of one step (``"batch"``, ``"photo"``).
    show : bool, optional
        Override :func:`enabled`.
    **kwargs
        Passed to ``tqdm`` (e.g. ``leave=False``, ``initial=``).
    """
    from tqdm import tqdm  # start-up: only when a loop runs

    if total is None and iterable is not None:
        total = total_of(iterable)
    on = enabled() if show is None else bool(show)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not on, file=sys.stderr,
                **kwargs)
