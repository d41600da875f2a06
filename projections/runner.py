"""Catch-up: apply new notifications to the views, rows and tracking in one transaction.

The views, their tracking, status and versions live in a database of their own (the
names are registered with the SQL layer, which routes them: see
:mod:`opsledger.store.views_db`); a catch-up reads the events and writes only there. A
rebuild of every view writes a fresh views database and swaps it in where the store can
(:meth:`ViewRunner.rebuild`). Each view keeps its position in ``opsledger_tracking``. A
batch (default 1,000 events) is applied in one transaction that first advances the
position with a guard (``WHERE notification_id = <expected>``), so two processes catching
up at once cannot apply the same event twice: the loser's guard matches nothing and its
transaction rolls back.

A view that fails stops alone. Each view's share of a batch runs inside its own savepoint;
when ``apply`` raises (anything but a lost connection or lock, which abort the whole batch
as before), that view's rows and position roll back to where the batch found them, the
batch is applied again event by event to find the event it cannot apply, and the view
stops just before it: a row in ``opsledger_view_status`` (:mod:`._status`) names the view,
the event position, the error type and a short message. The other views and every write go
on; catch-up skips a stopped view until ``catch_up(retry=True)`` or ``rebuild(views=…)``.
A view that writes into other views' tables (``depends_on``) never runs past one of them:
it waits, stopped too, while one it depends on is stopped. A stored state that cannot be
decoded at all (altered in the database) stops every view behind it at that event; a typed
store error while decoding (a missing key store) stays loud and stops nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from typing import Any, Protocol

import orjson
from opsledger.domain.errors import InvalidInput
from opsledger.projections import _status, _versions
from opsledger.projections._facts import Fact
from opsledger.projections._isolation import (
    TRACKING,
    Undecodable,
    decode_until_bad,
    depends_on,
    hold_dependents,
    present_indexes,
    run_view,
    start_load,
    stop_view,
    with_dependents,
)
from opsledger.projections._sql import SqlStore
from opsledger.projections._status import Stop, ViewStatus

__all__ = ["View", "ViewRunner", "view_names", "view_transaction"]

#: A view this many events behind from zero (a rebuild, a first catch-up) is *loaded*:
#: its deferrable indexes are dropped and its rows appended in log order (to its own
#: tables, or to load tables where rows of one key must be merged); with the batch that
#: reaches the head, the load tables are folded in and the indexes built, each in one pass.
BULK_FROM = 20_000

_new_fact = partial(tuple.__new__, Fact)  # Fact._make without its Python frame


class View(Protocol):
    """A read model: its tables, how to apply events, how to clear itself.

    A view may also list its deferrable indexes as ``indexes``: ``(name, table, columns)``
    triples (a fourth ``True`` makes one unique) that its ``create_tables`` creates and
    that only queries, or a uniqueness checked once at the end of a load, rely on; and
    have ``start_load(sql, cursor)`` / ``finish_load(sql, cursor)`` to stage rows while it
    is loaded from zero (``finish_load`` must do nothing when no load is open, and
    ``clear`` must discard an open one). A view that writes into the tables of earlier
    views names them in ``depends_on``, and the other tables and indexes it may create
    (load tables) in ``load_tables``: every name is routed to the views' database.

    ``version`` says which layout and rules built its rows and ``tables`` which tables it
    owns: a store whose rows another version built has them dropped, created again and
    applied anew when it is opened (:meth:`ViewRunner.ensure_versions`). Bump the version
    whenever the view's tables or the rows it writes change."""

    name: str
    version: int
    tables: tuple[str, ...]

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
        self._status_ready = False
        seen: set[str] = set()
        for view in self.views:
            if not set(depends_on(view)) <= seen:
                raise InvalidInput(f"view {view.name!r} must come after the views it depends on")
            seen.add(view.name)
        sql.register_views(view_names(self.views))

    def create_tables(self) -> None:
        """Create the tracking and status tables and every view's tables (in the views'
        database; those of a store that kept them beside its events are moved there
        first, see :meth:`SqlStore.adopt_views`)."""
        self.sql.adopt_views()
        with self.sql.transaction(commit=True) as cursor:
            self.sql.execute(
                cursor,
                f"CREATE TABLE IF NOT EXISTS {self.sql.table(TRACKING)} "
                "(view_name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
            )
            _status.create_table(self.sql, cursor)
            _versions.create_table(self.sql, cursor)
            _versions.record(self.sql, cursor, self.views, only_new=True)
            for view in self.views:
                view.create_tables(self.sql, cursor)
                self.sql.execute(
                    cursor,
                    f"INSERT INTO {self.sql.table(TRACKING)} VALUES (?, 0) "
                    "ON CONFLICT (view_name) DO NOTHING",
                    (view.name,),
                )
        self._status_ready = True

    def _ensure_status(self) -> None:
        """A store created before views could stop gets its status table on first write
        (looked for in a read first; created under a lock that orders concurrent openers)."""
        if self._status_ready or self._status_exists():
            self._status_ready = True
            return
        with self.sql.transaction(commit=True) as cursor:
            self.sql.lock_table(cursor, TRACKING)
            if not self.sql.table_exists(cursor, _status.STATUS):
                _status.create_table(self.sql, cursor)
        self._status_ready = True

    def _status_exists(self) -> bool:
        with self.sql.transaction(commit=False) as cursor:
            return self.sql.table_exists(cursor, _status.STATUS)

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

    def stops(self) -> dict[str, Stop]:
        """The stopped views, by name, with where and why each stopped (read-only)."""
        if not (self._status_ready or self._status_exists()):
            return {}
        with self.sql.transaction(commit=False) as cursor:
            return _status.stops(self.sql, cursor)

    def versions(self) -> dict[str, int]:
        """The version each view's rows were built by (a view built before versions
        existed: :data:`~opsledger.projections._versions.UNVERSIONED`)."""
        with self.sql.transaction(commit=False) as cursor:
            recorded = _versions.read(self.sql, cursor)
        return {v.name: recorded.get(v.name, _versions.UNVERSIONED) for v in self.views}

    def ensure_versions(self, batch_size: int = 1000) -> list[str]:
        """Rebuild every view whose rows another version of it built, with the views that
        depend on it: its tables dropped and created again, applied from zero (see
        :mod:`._versions`). Returns the rebuilt views' names (none: one read, no write).

        The check is repeated in the writing transaction (on PostgreSQL under a lock that
        orders concurrent openers), so two processes opening a store at once rebuild once.
        """
        current = self.versions()
        if all(current[v.name] == v.version for v in self.views):
            return []
        with self.sql.transaction(commit=True) as cursor:
            self.sql.lock_table(cursor, TRACKING)
            chosen = _versions.reset_outdated(self.sql, cursor, self.views)
        self._status_ready = True
        if chosen:
            self.catch_up(batch_size)
        return chosen

    def status(self) -> list[ViewStatus]:
        """Every view's position against the head, its version, and whether (where, why)
        it stopped."""
        head, stops, versions = self.head(), self.stops(), self.versions()
        rows = []
        for view in self.views:
            stop = stops.get(view.name)
            version = versions[view.name]
            rows.append(ViewStatus(view.name, self.position(view), head, version=version)
                        if stop is None else
                        ViewStatus(view.name, self.position(view), head, True, stop.failed_at,
                                   stop.error_type, stop.message, version=version))
        return rows

    def read_facts(
        self, cursor: Any, after: int, stop: int, limit: int
    ) -> tuple[list[Fact], int | None]:
        """Up to ``limit`` notifications after ``after`` (up to ``stop``), decoded to facts,
        and the position of the last one read (None when there was none).

        One plain query for the columns the views use, no per-event objects in between;
        every state goes through :attr:`decode`; one it cannot open (a forgotten tenant's
        event) is skipped. A state that :attr:`decode` fails on ends the batch just before
        it; when it is the first, :class:`Undecodable` names its position."""
        sql = self.sql
        column = sql.position_column()
        state = sql.state_bytes()  # a state rewritten as TEXT (tampering) still reads as bytes
        with closing(sql.tuple_cursor(cursor)) as raw:
            sql.execute(
                raw,
                f"SELECT {column} AS id, {sql.uuid_text('originator_id')} AS stream_id, "
                f"topic, {state} FROM {sql.table(sql.events_table)} WHERE {column} > ? AND "
                f"{column} <= ? ORDER BY {column} LIMIT ?",
                (after, stop, limit),
            )
            rows = raw.fetchall()
        if not rows:
            return [], None
        ids, streams, topics, stored = zip(*rows, strict=True)
        try:
            states = list(map(self.decode, stored))
        except Exception:  # located and reported below, event by event
            states = decode_until_bad(self.decode, ids, stored)
            ids, streams, topics = ids[:len(states)], streams[:len(states)], topics[:len(states)]
        facts = list(map(_new_fact, zip(ids, streams, topics, states, strict=True)))
        if None in states:  # forgotten tenants' events
            facts = [fact for fact in facts if fact.state is not None]
        return facts, int(ids[-1])

    def catch_up(
        self, batch_size: int = 1000, progress: Callable[[int, int], None] | None = None,
        *, retry: bool = False,
    ) -> int:
        """Apply everything new to every running view; returns how many events were applied.

        Each batch of the log is read and decoded once and applied, in one transaction, to
        every view still behind it — each view's rows and its tracking position together,
        each position advanced under its own guard, each view in its own savepoint (a view
        that fails stops alone; see the module docstring). Stopped views are skipped; with
        ``retry`` they are let run again first (after the cause was fixed).
        """
        self._ensure_status()
        if retry:
            with self.sql.transaction(commit=True) as cursor:
                _status.clear(self.sql, cursor, [v.name for v in self.views])
        applied = 0
        head = self.head()
        stopped = self.stops()
        if any(set(depends_on(v)) & set(stopped) for v in self.views if v.name not in stopped):
            with view_transaction(self.sql) as cursor:
                hold_dependents(self.sql, cursor, self.views, stopped)
        active = [v for v in self.views if v.name not in stopped]
        positions = {view.name: self.position(view) for view in active}
        bulk = [v for v in active if positions[v.name] == 0 and head >= self.bulk_from]
        if bulk:
            with view_transaction(self.sql) as cursor:
                start_load(self.sql, cursor, bulk)
        while (low := min(positions.values(), default=head)) < head:
            with view_transaction(self.sql) as cursor:
                try:
                    facts, last = self.read_facts(cursor, low, head, batch_size)
                except Undecodable as bad:
                    facts, last = [], bad.position - 1
                    for view in active:
                        if positions[view.name] < bad.position:
                            stopped[view.name] = stop_view(
                                self.sql, cursor, view, Stop(positions[view.name], bad.position,
                                                   *_status.describe(bad)))
                if last is None:
                    break
                present = present_indexes(self.sql, cursor) if last == head else set()
                for view in active:
                    if view.name in stopped or hold_dependents(self.sql, cursor, [view], stopped):
                        continue
                    position = positions[view.name]
                    if position >= last and last != head:
                        continue
                    news = facts if position <= low else [
                        f for f in facts if f.position > position]
                    stop = run_view(self.sql, cursor, view, position, max(position, last),
                                    news, present if last == head else None)
                    if stop is not None:
                        stopped[view.name] = stop_view(self.sql, cursor, view, stop)
                    elif position < last:
                        applied += len(news)
            active = [v for v in active if v.name not in stopped]
            positions = {v.name: max(positions[v.name], last) for v in active}
            if progress:
                progress(last, head)
        return applied

    def rebuild(
        self, progress: Callable[[int, int], None] | None = None, batch_size: int = 1000,
        views: Sequence[str] | None = None,
    ) -> int:
        """Clear the views (every one, or those named in ``views`` and the views that
        depend on them) and apply the whole log again (a load from zero when the log holds
        at least :attr:`bulk_from` events; see :data:`BULK_FROM`). A rebuilt view that had
        stopped runs again; other stopped views stay stopped.

        Every view on a SQLite file store: into a fresh views database swapped in at the
        end (:meth:`SqlStore.fresh_views`; a failure or a crash leaves the old views whole
        and readers on them until the swap). Otherwise in place."""
        if views is None:
            with self.sql.fresh_views() as fresh:
                if fresh is not None:
                    return self._rebuild_into(fresh, progress, batch_size)
        chosen = with_dependents(self.views, views)
        self._ensure_status()
        with self.sql.transaction(commit=True) as cursor:
            for view in chosen:
                view.clear(self.sql, cursor)
                self.sql.execute(
                    cursor,
                    f"UPDATE {self.sql.table(TRACKING)} SET notification_id = 0 "
                    "WHERE view_name = ?",
                    (view.name,),
                )
            _status.clear(self.sql, cursor, [v.name for v in chosen])
        return self.catch_up(batch_size, progress=progress)

    def _rebuild_into(self, fresh: SqlStore, progress: Callable[[int, int], None] | None,
                      batch_size: int) -> int:
        """Every view applied from zero into the fresh views database ``fresh`` (swapped in
        by the caller once this returns): tables made, loaded without their indexes, the
        indexes built once at the head."""
        runner = ViewRunner(self.recorder, fresh, self.views, self.decode)
        runner.bulk_from = self.bulk_from
        runner.create_tables()
        return runner.catch_up(batch_size, progress=progress)


def view_names(views: Sequence[View]) -> list[str]:
    """Every table and index name of the views' database: the runner's tracking, status
    and versions, and each view's tables, load tables (``load_tables``) and indexes."""
    names = [TRACKING, _status.STATUS, _versions.VERSIONS]
    for view in views:
        names += [*view.tables, *getattr(view, "load_tables", ()),
                  *(index[0] for index in getattr(view, "indexes", ()))]
    return names


@contextmanager
def view_transaction(sql: SqlStore) -> Iterator[Any]:
    """A writing transaction for view rows and their tracking only.

    Views are derived from the log and carry their own positions, so their commits need
    not wait for the disk, and they write only the views' database (on SQLite its write lock
    alone is taken, the events' stays free): on SQLite it commits with ``synchronous=NORMAL``
    (in WAL mode a crash or kill never corrupts or half-applies a transaction; a power
    loss may only undo the newest batches, whose positions roll back with them) and on
    PostgreSQL with ``synchronous_commit = off`` (the same guarantee). The events' own
    writes keep the store's default durability.
    """
    with sql.transaction(commit=True, durable=False) as cursor:
        yield cursor
