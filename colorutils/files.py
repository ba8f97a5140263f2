"""Files that are whole or absent: atomic writes, stale temporaries, folder locks, free space.

Every file the library writes (colorized photos, checkpoints, run-folder JSON) is written to a
hidden temporary name in its own folder and renamed into place (:func:`atomic_path`):
:func:`os.replace` is atomic on POSIX and Windows, so a process killed mid-write, a full disk
or a read-only folder never leaves a partial file under a final name.  A temporary is removed
when the write fails; one left by a killed process (its PID is in the name) is removed by the
next writer of that folder (:func:`remove_stale_temporaries`).

:func:`folder_lock` makes a folder one process's at a time (a run folder while it trains): a
lock file holding the owner's PID and host, taken over when that process is gone.

Nothing here imports TensorFlow or the rest of the library, except :mod:`colorutils.errors`.

Examples
--------
>>> import tempfile, pathlib
>>> folder = tempfile.mkdtemp()
>>> target = os.path.join(folder, "photo_colorized.png")
>>> with atomic_path(target) as tmp:
...     _ = pathlib.Path(tmp).write_bytes(b"whole")
>>> sorted(os.listdir(folder))
['photo_colorized.png']
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import socket

from colorutils.errors import UserError

__all__ = ["WriteError", "temporary_name", "atomic_path", "remove_stale_temporaries",
           "pid_alive", "folder_lock", "free_bytes", "check_space"]

#: Temporaries of this library (``.name.tmp<pid>-<n>.ext``) and of its earlier versions
#: (``name.tmp<pid>.ext``, ``name.json.tmp<pid>``): the PID tells whether the writer lives.
TEMPORARY = re.compile(r"\.tmp(\d+)(?:-\d+)?(?:\.|$)")
_COUNTER = itertools.count()


class WriteError(OSError):
    """A file could not be written (full disk, read-only folder, no permission)."""


def temporary_name(path: str | os.PathLike) -> str:
    """A hidden name beside ``path`` with its suffixes kept (Keras checks ``.keras`` and
    ``.weights.h5``): ``out/x_colorized.png`` -> ``out/.x_colorized.tmp<pid>-<n>.png``."""
    folder, name = os.path.split(os.fspath(path))
    stem, dot, suffixes = name.partition(".")
    return os.path.join(folder, f".{stem}.tmp{os.getpid()}-{next(_COUNTER)}{dot}{suffixes}")


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path to write ``path`` to; rename it into place when the block ends.

    On any failure (an exception, Ctrl-C) the temporary is removed and ``path`` is left as it
    was.  An ``OSError`` (or an HDF5 ``RuntimeError``) while writing becomes a
    :class:`WriteError` naming ``path``, with the system's reason and ``errno``.
    """
    path = os.fspath(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(err, (OSError, RuntimeError)) and not isinstance(err, WriteError):
            code = getattr(err, "errno", None) or _errno_in(str(err))
            reason = os.strerror(code) if code else str(err).splitlines()[0]
            raise WriteError(code, reason, path) from err
        raise


def _errno_in(message: str) -> int | None:
    """The ``errno = N`` h5py puts in its messages, if any."""
    found = re.search(r"errno = (\d+)", message)
    return int(found.group(1)) if found else None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Remove the temporaries in ``folder`` whose writer is gone; returns their paths."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        found = TEMPORARY.search(name)
        if found and not pid_alive(int(found.group(1))):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                os.remove(path)
                removed.append(path)
    return removed


def _owner(path: str) -> tuple[int, str] | None:
    """``(pid, host)`` written in a lock file, None if it cannot be read."""
    try:
        with open(path) as f:
            pid, _, host = f.read().strip().partition(" ")
        return int(pid), host
    except (OSError, ValueError):
        return None


def _take(path: str, what: str, folder: str) -> None:
    """Create the lock file, or refuse when a live process holds it."""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner is not None and (owner[1] != socket.gethostname() or pid_alive(owner[0])):
                raise UserError(
                    f"{what} {folder} is in use by process {owner[0]} on {owner[1]} (lock file "
                    f"{path}); wait for it to finish, or delete the lock file if it is gone."
                ) from None
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # a dead process's (or an empty) lock: taken over
            continue
        except OSError as err:
            raise UserError(f"{what} {folder} is not writable ({err.strerror}); give a "
                            "writable folder.") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        return
    raise UserError(f"{what} {folder}: could not take the lock file {path}; try again.")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, name: str = "lock", what: str = "folder"):
    """Hold ``folder/name`` while the block runs: one process in ``folder`` at a time.

    Raises
    ------
    UserError
        If a live process holds the lock (naming it and the lock file), or the folder is not
        writable (the lock file is the first thing written: a read-only folder is refused
        before any work).
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, name)
    _take(path, what, folder)
    try:
        yield path
    finally:
        if _owner(path) == (os.getpid(), socket.gethostname()):
            with contextlib.suppress(OSError):
                os.remove(path)


def free_bytes(folder: str | os.PathLike) -> int:
    """Bytes an unprivileged process may still write in ``folder``'s file system."""
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def check_space(folder: str | os.PathLike, need: int) -> None:
    """Raise :class:`WriteError` (``ENOSPC``) if ``folder`` has less than ``need`` bytes free:
    checked before a write that a full disk would leave half done."""
    free = free_bytes(folder)
    if free < need:
        raise WriteError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {free / 2**20:.1f} MB "
                         f"free, about {need / 2**20:.1f} MB needed", os.fspath(folder))
