"""Catch-up: apply new notifications to the views, rows and tracking in one transaction.

Each view keeps its position in ``opsledger_tracking``. A batch (default 1,000 events) is
applied in one transaction that first advances the position with a guard (``WHERE
notification_id = <expected>``), so two processes catching up at once cannot apply the
same event twice: the loser's guard matches nothing and its transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from typing import Any, Protocol

import orjson
from opsledger.projections._facts import Fact
from opsledger.projections._sql import SqlStore, create_index

__all__ = ["TrackingConflict", "View", "ViewRunner", "view_transaction"]

TRACKING = "opsledger_tracking"
#: A view this many events behind from zero (a rebuild, a first catch-up) is *loaded*:
#: its deferrable indexes are dropped and its rows appended in log order (to its own
#: tables, or to load tables where rows of one key must be merged); with the batch that
#: reaches the head, the load tables are folded in and the indexes built, each in one pass.
BULK_FROM = 20_000


_new_fact = partial(tuple.__new__, Fact)  # Fact._make without its Python frame


class TrackingConflict(RuntimeError):
    """Another process advanced the view first; the batch was rolled back."""


class View(Protocol):
    """A read model: its tables, how to apply events, how to clear itself.

    A view may also list its deferrable indexes as ``indexes``: ``(name, table, columns)``
    triples (a fourth ``True`` makes one unique) that its ``create_tables`` creates and
    that only queries, or a uniqueness checked once at the end of a load, rely on; and
    have ``start_load(sql, cursor)`` / ``finish_load(sql, cursor)`` to stage rows while it
    is loaded from zero (``finish_load`` must do nothing when no load is open, and
    ``clear`` must discard an open one)."""

    name: str

    def create_tables(self, sql: SqlStore, cursor: Any) -> None:
        """Create the view's tables if missing."""

    def apply(self, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        """Apply stored events inside the open transaction."""

    def clear(self, sql: SqlStore, cursor: Any) -> None:
        """Delete every row (for a rebuild from zero)."""


class ViewRunner:
    """Keeps a set of views up to date with the application's notification log."""

    def __init__(
        self,
        recorder: Any,
        sql: SqlStore,
        views: Sequence[View],
        decode: Callable[[bytes], dict[str, Any] | None] = orjson.loads,
    ):
        self.recorder = recorder
        self.decode = decode
        self.sql = sql
        self.views = list(views)
        self.bulk_from = BULK_FROM

    def create_tables(self) -> None:
        """Create the tracking table and every view's tables."""
        with self.sql.transaction(commit=True) as cursor:
            self.sql.execute(
                cursor,
                f"CREATE TABLE IF NOT EXISTS {self.sql.table(TRACKING)} "
                "(view_name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
            )
            for view in self.views:
                view.create_tables(self.sql, cursor)
                self.sql.execute(
                    cursor,
                    f"INSERT INTO {self.sql.table(TRACKING)} VALUES (?, 0) "
                    "ON CONFLICT (view_name) DO NOTHING",
                    (view.name,),
                )

    def position(self, view: View) -> int:
        """The last notification id applied to ``view``."""
        with self.sql.transaction(commit=False) as cursor:
            self.sql.execute(
                cursor,
                f"SELECT notification_id FROM {self.sql.table(TRACKING)} WHERE view_name = ?",
                (view.name,),
            )
            row = cursor.fetchone()
        return int(row["notification_id"]) if row else 0

    def head(self) -> int:
        """The newest notification id in the store (0 when empty)."""
        return int(self.recorder.max_notification_id() or 0)

    def read_facts(
        self, cursor: Any, after: int, stop: int, limit: int
    ) -> tuple[list[Fact], int | None]:
        """Up to ``limit`` notifications after ``after`` (up to ``stop``), decoded to facts,
        and the position of the last one read (None when there was none).

        One plain query for the columns the views use, no per-event objects in between;
        every state goes through :attr:`decode`; one it cannot open (a forgotten tenant's
        event) is skipped."""
        sql = self.sql
        column = "notification_id" if sql.is_postgres else "rowid"
        with closing(sql.tuple_cursor(cursor)) as raw:
            sql.execute(
                raw,
                f"SELECT {column} AS id, {sql.uuid_text('originator_id')} AS stream_id, "
                f"topic, state FROM {sql.table(sql.events_table)} WHERE {column} > ? AND "
                f"{column} <= ? ORDER BY {column} LIMIT ?",
                (after, stop, limit),
            )
            rows = raw.fetchall()
        if not rows:
            return [], None
        ids, streams, topics, stored = zip(*rows, strict=True)
        states = list(map(self.decode, stored))
        facts = list(map(_new_fact, zip(ids, streams, topics, states, strict=True)))
        if None in states:  # forgotten tenants' events
            facts = [fact for fact in facts if fact.state is not None]
        return facts, int(ids[-1])

    def catch_up(
        self, batch_size: int = 1000, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Apply everything new to every view; returns how many events were applied.

        Each batch of the log is read and decoded once and applied, in one transaction, to
        every view still behind it — each view's rows and its tracking position together,
        each position advanced under its own guard.
        """
        applied = 0
        head = self.head()
        positions = {view.name: self.position(view) for view in self.views}
        bulk = [v for v in self.views if positions[v.name] == 0 and head >= self.bulk_from]
        if bulk:
            self._start_load(bulk)
        while (low := min(positions.values(), default=head)) < head:
            with view_transaction(self.sql) as cursor:
                facts, last = self.read_facts(cursor, low, head, batch_size)
                if last is None:
                    break
                for view in self.views:
                    position = positions[view.name]
                    if position >= last:
                        continue
                    news = facts if position <= low else [
                        f for f in facts if f.position > position]
                    self.sql.execute(
                        cursor,
                        f"UPDATE {self.sql.table(TRACKING)} SET notification_id = ? "
                        "WHERE view_name = ? AND notification_id = ? RETURNING notification_id",
                        (last, view.name, position),
                    )
                    if cursor.fetchone() is None:
                        raise TrackingConflict(view.name)
                    if news:  # (a batch of only forgotten events still moves the position)
                        view.apply(self.sql, cursor, news)
                        applied += len(news)
                if last == head:  # with the batch that reaches the head, atomically
                    self._finish_loads(cursor)
            for view in self.views:
                positions[view.name] = max(positions[view.name], last)
            if progress:
                progress(last, head)
        return applied

    def _start_load(self, views: Sequence[View]) -> None:
        """Views loaded from zero: drop their secondary indexes, open their load tables."""
        with view_transaction(self.sql) as cursor:
            for view in views:
                for name, *_ in getattr(view, "indexes", ()):
                    self.sql.execute(cursor, f"DROP INDEX IF EXISTS {self.sql.table(name)}")
                start = getattr(view, "start_load", None)
                if start is not None:
                    start(self.sql, cursor)

    def _finish_loads(self, cursor: Any) -> None:
        """At the head: close every open load and create every missing view index.

        Runs inside the transaction of the batch that reaches the head, whoever's load it
        was: a load that a crash (or another process) interrupted is finished by the next
        catch-up that gets there, and no view is at the head with a load still open."""
        sql = self.sql
        for view in self.views:
            finish = getattr(view, "finish_load", None)
            if finish is not None:
                finish(sql, cursor)
        if sql.is_postgres:
            sql.execute(cursor, "SELECT indexname AS name FROM pg_indexes WHERE schemaname = ?",
                        (sql.schema,))
        else:
            sql.execute(cursor, "SELECT name FROM sqlite_master WHERE type = 'index'")
        present = {row["name"] for row in cursor.fetchall()}
        for view in self.views:
            for index in getattr(view, "indexes", ()):
                if index[0] not in present:
                    sql.execute(cursor, create_index(sql, *index))

    def rebuild(
        self, progress: Callable[[int, int], None] | None = None, batch_size: int = 1000
    ) -> int:
        """Clear every view and apply the whole log again (a load from zero when the log
        holds at least :attr:`bulk_from` events; see :data:`BULK_FROM`)."""
        with self.sql.transaction(commit=True) as cursor:
            for view in self.views:
                view.clear(self.sql, cursor)
                self.sql.execute(
                    cursor,
                    f"UPDATE {self.sql.table(TRACKING)} SET notification_id = 0 "
                    "WHERE view_name = ?",
                    (view.name,),
                )
        return self.catch_up(batch_size, progress=progress)


@contextmanager
def view_transaction(sql: SqlStore) -> Iterator[Any]:
    """A writing transaction for view rows and their tracking only.

    Views are derived from the log and carry their own positions, so their commits need
    not wait for the disk: on SQLite the connection commits with ``synchronous=NORMAL``
    (in WAL mode a crash or kill never corrupts or half-applies a transaction; a power
    loss may only undo the newest batches, whose positions roll back with them) and on
    PostgreSQL with ``synchronous_commit = off`` (the same guarantee). The events' own
    writes keep the store's default durability.
    """
    with sql.transaction(commit=True, durable=False) as cursor:
        yield cursor
