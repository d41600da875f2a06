"""The background job of ``opsledger serve``: one leader per store catches the views up and
sweeps what the clock has passed (missed deadlines at their due times, the alert rules).

Every tick (:class:`~opsledger.Periodic`, APScheduler underneath) the job tries to hold
leadership. The leader runs ``catch_up()`` and ``advance(now)`` under the engine's lock; a
follower does nothing else, so it takes over on the first tick after the leader is gone.

Leadership (:func:`leadership_for`):

* PostgreSQL — a session advisory lock (``pg_try_advisory_lock``) on a connection of the
  process's own, its key derived from the store's schema (two stores on one server never
  contend). The leader keeps the connection and checks it every tick; when it breaks the
  process steps down (the server has released the lock with the session). A killed leader's
  session ends with its socket, so another process holds the lock on its next tick.
* SQLite file — an exclusive ``flock`` on ``<db>.leader`` (created ``0600``); the kernel
  releases it when the process dies, ``kill -9`` included.
* memory — one process: always the leader.

A ``purpose`` (``leadership_for(store, "notify")``) names a second, independent leadership
over the same store — the notification delivery worker's (``<db>.notify.leader``, advisory
key ``lock_key(schema + ":notify")``) — so the sweeper and the deliverer may be different
processes, and each is still one at a time.

Sweeps are safe to race anyway (a second sweeper's save conflicts on the incident's version
and finds the deadline recorded), so a stale leader can never record a deadline twice;
leadership only keeps the work, and the log lines, to one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import opsledger
from opsledger import AdvanceReport
from opsledger.api.engine import Engine

__all__ = ["FileLeadership", "LeaderJob", "Leadership", "PostgresLeadership",
           "SchedulerState", "SoleLeadership", "SweepJob", "leadership_for", "lock_key"]

log = logging.getLogger("opsledger.api.leader")


class Leadership(Protocol):
    """Who sweeps: at most one holder per store at a time."""

    def hold(self) -> bool:
        """Take leadership, or check it is still held; True while this process holds it."""
        ...

    def release(self) -> None:
        """Give leadership up (a no-op when not held)."""
        ...


def lock_key(schema: str) -> int:
    """The advisory-lock key of a store's leadership: a signed 64-bit hash of its schema."""
    digest = hashlib.blake2b(f"opsledger-leader:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLeadership:
    """A session advisory lock on a dedicated connection (see the module docstring)."""

    def __init__(self, store: Any, purpose: str | None = None) -> None:
        self.store = store
        self.key = lock_key(store.schema if purpose is None else f"{store.schema}:{purpose}")
        self._conn: Any = None
        self._held = False

    def hold(self) -> bool:
        """Check the leader's connection, or try the lock (a follower keeps its connection
        between tries); any failure of the connection: not the leader, a new one next time."""
        try:
            if self._conn is None:
                self._conn = opsledger.pg_connect(self.store, autocommit=True)
            if self._held:
                self._conn.execute("SELECT 1").fetchone()
            else:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                self._held = bool(row[0])
        except Exception as exc:
            if self._held:
                log.warning("leadership connection lost (%s): stepping down",
                            type(exc).__name__)
            self._drop()
        return self._held

    def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()

    def release(self) -> None:
        """Unlock and close the connection."""
        if self._held and self._conn is not None:
            with contextlib.suppress(Exception):  # the session is gone: so is the lock
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._drop()


class FileLeadership:
    """An exclusive ``flock`` on ``<path>.leader`` (``<path>.<purpose>.leader``; created
    ``0600``)."""

    def __init__(self, path: str, purpose: str | None = None) -> None:
        self.path = path + (f".{purpose}" if purpose else "") + ".leader"
        self._fd: int | None = None

    def hold(self) -> bool:
        """Held once taken (a flock cannot be lost while the file stays open)."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Unlock and close the file (it stays, empty, for the next leader)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class SoleLeadership:
    """An in-memory store has one process: it always leads."""

    def hold(self) -> bool:
        """Always."""
        return True

    def release(self) -> None:
        """Nothing to give up."""


def leadership_for(store: Any, purpose: str | None = None) -> Leadership:
    """The leadership of the store ``store`` (an ``Operations.store``) by its kind; a
    ``purpose`` makes an independent one (the module docstring)."""
    if store.kind == "postgresql":
        return PostgresLeadership(store, purpose)
    if store.kind == "sqlite" and store.path:
        return FileLeadership(store.path, purpose)
    return SoleLeadership()


@dataclass
class SchedulerState:
    """What ``/v1/status`` and ``/metrics`` say of this process's background job."""

    #: The job runs (``--no-scheduler``: False; the process never leads).
    enabled: bool = False
    leader: bool = False
    #: The business time of the last completed sweep, and what it recorded.
    last_sweep_at: datetime | None = None
    last_report: AdvanceReport | None = None
    sweeps: int = 0
    #: The type of the last error of a tick (cleared by a sweep that succeeds).
    last_error: str | None = None


class LeaderJob(ABC):
    """A background job (:class:`~opsledger.api.app.Background`) that works only while it
    holds a leadership: every ``every`` it holds it or tries to, and the leader runs
    :meth:`step`. Subclasses set :attr:`what` (its log lines' word), :attr:`thread`, their
    ``state`` (with ``leader`` and ``last_error``) and :meth:`step`."""

    what = "job"
    thread = "opsledger-job"
    state: Any

    def __init__(self, engine: Engine, leadership: Leadership,
                 every: timedelta | None = None) -> None:
        self.engine = engine
        self.leadership = leadership
        self.every = every or timedelta(seconds=engine.settings.tick_seconds)
        self._tick_lock = threading.Lock()
        self._stopped = False
        self._runner: Any = None

    def start(self) -> None:
        """Tick at once, then every interval (in a background thread)."""
        self._runner = opsledger.Periodic(self.tick, self.every, name=self.thread)
        self._runner.start()

    def stop(self) -> None:
        """Let a step in progress finish, stop ticking, release leadership."""
        if self._runner is not None:
            self._runner.stop()
        with self._tick_lock:
            self._stopped = True
            was_leader = self.state.leader
            self.leadership.release()
            self.state.leader = False
        if was_leader:
            log.info("%s leadership released", self.what)

    def tick(self) -> bool:
        """One tick: hold leadership (or try to); if held, one step. True when this process
        leads."""
        with self._tick_lock:
            if self._stopped:
                return False
            try:
                held = self.leadership.hold()
            except Exception as exc:  # a lock file that cannot be opened, say
                log.error("%s leadership attempt failed: %s", self.what, type(exc).__name__)
                held = False
            if held != self.state.leader:
                log.info("took %s leadership" if held else "stepped down from %s leadership",
                         self.what)
            self.state.leader = held
            if held:
                try:
                    self.step()
                except Exception as exc:
                    self.state.last_error = type(exc).__name__
                    shown = str(exc) if isinstance(exc, opsledger.OpsledgerError) else ""
                    log.error("%s step failed: %s %s", self.what, type(exc).__name__, shown)
            return held

    @abstractmethod
    def step(self) -> None:
        """The leader's work of one tick."""


class SweepJob(LeaderJob):
    """The sweep: the leader catches the views up and sweeps what the clock has passed."""

    what = "sweep"
    thread = "opsledger-serve-tick"

    def __init__(self, engine: Engine, leadership: Leadership,
                 every: timedelta | None = None) -> None:
        super().__init__(engine, leadership, every)
        self.state = SchedulerState(enabled=True)

    def step(self) -> None:
        """Catch up and sweep, under the engine's lock."""
        self.engine.run(self._sweep)

    def _sweep(self) -> None:
        ops = self.engine.ops
        ops.catch_up()
        now = ops.clock.now()
        report = ops.advance(now)
        self.state.last_sweep_at = now
        self.state.last_report = report
        self.state.sweeps += 1
        self.state.last_error = None
        if any(report.to_dict().values()):
            log.info("sweep at %s: %s", now.isoformat(), report.to_dict())
