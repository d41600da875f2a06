"""Where a SQLite store keeps its views: a database file of their own beside the events.

The events live in ``<store>.db``; the views (their rows, tracking, status and versions)
in a *generation* file ``<store>.db.views-<n>.db`` named by the pointer file
``<store>.db.views``, which holds ``n``. Every connection of the store attaches the
current generation as the schema :data:`SCHEMA` (:class:`~opsledger.store.sql.SqlStore`
does it before each transaction), so a query may join views with events, and a catch-up
reads events and writes view rows and their tracking in one transaction whose writes all
land in the views file — atomic there, and never in the events' write path.

A rebuild of every view writes generation ``n + 1`` from zero (no indexes while it loads,
no journal on disk and no fsync until the end), builds the indexes once, syncs the file
and then swaps it in by replacing the pointer (``os.replace`` of a synced temporary file,
then a sync of the folder). A WAL database is never renamed over another (a stale
``-wal``/``-shm`` beside it would corrupt it): each generation keeps its own name for its
whole life. Readers keep the generation they attached until their next transaction
after the swap; a crash at any point leaves the pointer on the old generation or the new
one, each complete, and the files of generations no pointer names are removed by the
next open or rebuild (:meth:`ViewsFile.cleanup`), never while a rebuild holds the lock.

An in-memory store keeps its views in a second in-memory database (no generations); a
PostgreSQL store in the schema :func:`views_schema` beside its own, rebuilt in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from opsledger.store.files import create_private, write_private

__all__ = ["SCHEMA", "ViewsFile", "ViewsMemory", "uri", "views_schema"]

#: The schema name the views database is attached as.
SCHEMA = "views"
_GENERATION = re.compile(r"\.views-(\d+)\.db(-wal|-shm|-journal)?$")


def views_schema(schema: str) -> str:
    """The PostgreSQL schema of the views of the store in ``schema`` (a valid identifier:
    at most 63 characters)."""
    name = f"{schema}_views"
    if len(name) <= 63:
        return name
    return f"{schema[:46]}_{hashlib.sha1(schema.encode()).hexdigest()[:10]}_views"


class ViewsMemory:
    """The views of an in-memory store: one more shared in-memory database."""

    def __init__(self, events_name: str) -> None:
        self.uri = events_name.replace("?", "-views?", 1)

    def current(self) -> str:
        """The URI to attach."""
        return self.uri


class ViewsFile:
    """The views files of one SQLite store at ``events_path`` (see the module doc)."""

    def __init__(self, events_path: str) -> None:
        self.events_path = events_path
        self.pointer = events_path + ".views"
        self.lock_path = events_path + ".views.lock"
        self._seen: tuple[int, int, int] | None = None
        self._uri: str | None = None

    def path(self, generation: int) -> str:
        """The file of ``generation``."""
        return f"{self.events_path}.views-{generation}.db"

    def generation(self) -> int | None:
        """The generation the pointer names (None: no pointer yet)."""
        try:
            text = Path(self.pointer).read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def current(self) -> str:
        """The URI of the current generation to attach (read again only when the pointer
        file changed: one ``stat`` a transaction). It opens read-write, never creating:
        a generation removed after a swap fails to attach instead of coming back empty."""
        try:
            info = os.stat(self.pointer)
        except FileNotFoundError:
            raise FileNotFoundError(f"no views pointer {self.pointer}") from None
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        if seen != self._seen or self._uri is None:
            generation = self.generation()
            if generation is None:
                raise FileNotFoundError(f"unreadable views pointer {self.pointer}")
            self._uri = uri(self.path(generation))
            self._seen = seen
        return self._uri

    def current_path(self) -> str | None:
        """The file of the current generation (None: no pointer yet)."""
        generation = self.generation()
        return None if generation is None else self.path(generation)

    def forget_cached(self) -> None:
        """Read the pointer again on the next :meth:`current`."""
        self._seen = None

    def generations(self) -> list[int]:
        """Every generation with a file beside the events."""
        folder = Path(self.events_path).parent
        prefix = Path(self.events_path).name + ".views-"
        found = []
        for entry in folder.iterdir() if folder.exists() else ():
            if entry.name.startswith(prefix) and (match := _GENERATION.search(entry.name)):
                found.append(int(match.group(1)))
        return sorted(set(found))

    def exists(self) -> bool:
        """True if the pointer names a generation whose file exists."""
        generation = self.generation()
        return generation is not None and os.path.exists(self.path(generation))

    def create(self, *, wal: bool = True) -> int:
        """A new, empty generation file (private; WAL unless a rebuild fills it first);
        returns its number (one above every generation named or present, so no number is
        used twice)."""
        generation = max([self.generation() or 0, *self.generations()]) + 1
        path = self.path(generation)
        create_private(path)
        if wal:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        return generation

    def remove(self, generation: int) -> None:
        """Remove the files of ``generation`` (not the current one)."""
        if generation == self.generation():
            raise ValueError("the current views generation cannot be removed")
        for suffix in ("-wal", "-shm", "-journal", ""):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(generation) + suffix)

    def point_to(self, generation: int) -> None:
        """Make ``generation`` current: sync its file, replace the pointer atomically and
        sync the folder (the swap)."""
        fd = os.open(self.path(generation), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        write_private(self.pointer, f"{generation}\n".encode())
        folder = os.open(os.path.dirname(os.path.abspath(self.pointer)), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._seen = None

    @contextlib.contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Held for a whole rebuild (one at a time; :meth:`cleanup` waits for none)."""
        create_private(self.lock_path)
        with open(self.lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def cleanup(self, *, locked: bool = False) -> list[int]:
        """Remove the files of every generation but the current one (the leftovers of a
        crashed rebuild, the generation a swap replaced); skipped while a rebuild runs
        (unless the caller holds its lock: ``locked``). Returns the generations removed.
        A process still reading a removed generation keeps its open file until its next
        transaction attaches the current one."""
        if not locked:
            create_private(self.lock_path)
            with open(self.lock_path, "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return []
                try:
                    return self.cleanup(locked=True)
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        current = self.generation()
        removed = []
        for generation in self.generations():
            if generation != current:
                self.remove(generation)
                removed.append(generation)
        return removed


def uri(path: str) -> str:
    """A read-write, never-creating SQLite URI of ``path``."""
    return f"file:{quote(path)}?mode=rw"
