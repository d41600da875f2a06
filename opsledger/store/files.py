"""Files private to the user: the key file, the database, checkpoints and exports.

Every file opsledger creates is made ``0600`` in the same system call that creates it
(``os.open`` with ``O_CREAT | O_EXCL`` and mode ``0o600``, or a ``0600`` temporary file
renamed over the target), never created first and restricted afterwards, so there is no
moment when another user can open it. The process umask is never changed: it only ever
makes the mode stricter (``umask 0277`` gives ``0400``), which is the user's choice.

A file that already exists is left as it is (its owner may have chosen its mode); for the
key file :func:`exposure` says when group or others can read or write it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["PRIVATE_MODE", "create_private", "exposure", "open_private", "write_private"]

PRIVATE_MODE = 0o600


def create_private(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty with mode ``0600`` (less if the umask says so) unless it exists;
    True if this call created it. Atomic: two processes racing create it once."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     PRIVATE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@contextlib.contextmanager
def open_private(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write ``path`` as a new private file: the bytes go to a ``0600`` temporary file in the
    same folder, which replaces ``path`` (atomically) only when the block ends without an
    error — a failed export leaves no half file and an existing file untouched. An
    existing ``path`` that is not a regular file (``/dev/stdout``, a named pipe) is written
    in place: nothing is created, so there is no mode to choose."""
    target = Path(path)
    try:
        special = not stat.S_ISREG(target.stat().st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with open(target, "wb") as stream:
            yield stream
        return
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".tmp")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """``path`` holds ``data``, as a private file (see :func:`open_private`)."""
    with open_private(path) as handle:
        handle.write(data)


def exposure(path: str | os.PathLike[str]) -> str | None:
    """Who besides the owner may read or write ``path`` (e.g. ``"group-readable,
    others-readable (mode 0644)"``); None when only the owner can, or the file is missing."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None
    found = [f"{who}-{what}" for who, bits in (("group", (stat.S_IRGRP, stat.S_IWGRP)),
                                               ("others", (stat.S_IROTH, stat.S_IWOTH)))
             for what, bit in zip(("readable", "writable"), bits, strict=True) if mode & bit]
    return f"{', '.join(found)} (mode {mode:04o})" if found else None
