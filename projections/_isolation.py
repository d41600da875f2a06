"""One view's share of a batch, isolated in a savepoint (see :mod:`.runner`): a view that
fails is rolled back alone, the failing event is found, and the view stops before it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from opsledger.domain.errors import OpsledgerError, TrackingConflict, UnknownView
from opsledger.projections import _status
from opsledger.projections._facts import Fact
from opsledger.projections._sql import SqlStore, create_index
from opsledger.projections._status import Stop

__all__ = ["TRACKING", "Undecodable", "decode_until_bad", "depends_on",
           "finish_load", "hold_dependents", "present_indexes", "run_view", "start_load",
           "stop_view", "with_dependents"]

TRACKING = "opsledger_tracking"
log = logging.getLogger("opsledger.views")


class Undecodable(Exception):
    """The stored event at ``position`` cannot be opened (its state was altered): every
    view behind it stops there."""

    def __init__(self, position: int, error: BaseException) -> None:
        super().__init__(f"event {position} cannot be decoded ({_status.describe(error)[1]}); "
                         "check the store with `opsledger verify`")
        self.position = position


def depends_on(view: Any) -> tuple[str, ...]:
    """The views whose tables ``view`` writes into (its ``depends_on``, default none)."""
    return tuple(getattr(view, "depends_on", ()))


def finish_load(sql: SqlStore, cursor: Any, view: Any, present: set[str]) -> None:
    """At the head: close the view's open load and create its missing indexes.

    Runs inside the transaction of the batch that reaches the head, whoever's load it
    was: a load that a crash (or another process) interrupted is finished by the next
    catch-up that gets there, and no running view is at the head with a load open."""
    finish = getattr(view, "finish_load", None)
    if finish is not None:
        finish(sql, cursor)
    for index in getattr(view, "indexes", ()):
        if index[0] not in present:
            sql.execute(cursor, create_index(sql, *index))


def run_view(sql: SqlStore, cursor: Any, view: Any, position: int, last: int,
             news: Sequence[Fact], present: set[str] | None) -> Stop | None:
    """One view's share of a batch, in a savepoint: advance its position to ``last``
    (guarded), apply ``news`` and, at the head (``present`` given: the indexes that
    exist), close its load and build its indexes. On failure, roll the view back, find the
    event (:func:`_narrow`) and return where and why it stops."""
    sql.execute(cursor, "SAVEPOINT opsledger_view")
    if last > position:
        sql.execute(
            cursor,
            f"UPDATE {sql.table(TRACKING)} SET notification_id = ? "
            "WHERE view_name = ? AND notification_id = ? RETURNING notification_id",
            (last, view.name, position),
        )
        if cursor.fetchone() is None:
            raise TrackingConflict(view.name)
    try:
        if news:  # (a batch of only forgotten events still moves the position)
            view.apply(sql, cursor, news)
        if present is not None:
            finish_load(sql, cursor, view, present)
    except sql.lost_connection:
        raise
    except Exception as exc:  # the view stops and says so (status row)
        sql.execute(cursor, "ROLLBACK TO SAVEPOINT opsledger_view")
        sql.execute(cursor, "RELEASE SAVEPOINT opsledger_view")
        return _narrow(sql, cursor, view, position, last, news, exc)
    sql.execute(cursor, "RELEASE SAVEPOINT opsledger_view")
    return None


def _narrow(sql: SqlStore, cursor: Any, view: Any, position: int, last: int,
            news: Sequence[Fact], error: BaseException) -> Stop:
    """After a failed batch: apply it again one event at a time, keep what applies, and
    stop the view before the first event that fails (if every event applies alone, the
    failure was the batch's — its load or indexes — and the whole batch stays undone)."""
    failed_at, good = last, position
    sql.execute(cursor, "SAVEPOINT opsledger_narrow")
    for fact in news:
        sql.execute(cursor, "SAVEPOINT opsledger_event")
        try:
            view.apply(sql, cursor, [fact])
        except sql.lost_connection:
            raise
        except Exception as exc:  # this is the event; stop before it
            sql.execute(cursor, "ROLLBACK TO SAVEPOINT opsledger_event")
            sql.execute(cursor, "RELEASE SAVEPOINT opsledger_event")
            failed_at, error = fact.position, exc
            break
        sql.execute(cursor, "RELEASE SAVEPOINT opsledger_event")
        good = fact.position
    else:
        good = position
        sql.execute(cursor, "ROLLBACK TO SAVEPOINT opsledger_narrow")
    if good > position:
        sql.execute(cursor, f"UPDATE {sql.table(TRACKING)} SET notification_id = ? "
                            "WHERE view_name = ? AND notification_id = ?",
                    (good, view.name, position))
    sql.execute(cursor, "RELEASE SAVEPOINT opsledger_narrow")
    return Stop(good, failed_at, *_status.describe(error))


def decode_until_bad(decode: Callable[[bytes], Any], ids: Sequence[int],
                     stored: Sequence[bytes]) -> list[Any]:
    """The states of a batch up to the first that ``decode`` fails on (the batch ends
    there; the next batch starts with it and raises :class:`Undecodable`). A typed
    opsledger error (a missing key store) is the store's, not the event's: it propagates."""
    states = []
    for position, data in zip(ids, stored, strict=True):
        try:
            states.append(decode(data))
        except OpsledgerError:
            raise
        except Exception as exc:  # the batch ends here; the next names it
            if not states:
                raise Undecodable(int(position), exc) from None
            return states
    return states


def stop_view(sql: SqlStore, cursor: Any, view: Any, stop: Stop) -> Stop:
    """Record that ``view`` stopped (in the batch's transaction) and log it."""
    _status.record(sql, cursor, view.name, stop)
    log.warning("view %s stopped at event %d (%s: %s); it keeps its rows up to %d",
                view.name, stop.failed_at, stop.error_type, stop.message, stop.position)
    return stop


def hold_dependents(sql: SqlStore, cursor: Any, views: Sequence[Any],
                    stopped: dict[str, Stop]) -> bool:
    """Stop each of ``views`` that writes into a stopped view's tables (it must not run
    past it: resumed, that view would add rows this one has already swept); True if any
    was stopped. ``stopped`` is updated."""
    held = False
    for view in views:
        waits = [d for d in depends_on(view) if d in stopped]
        if waits and view.name not in stopped:
            sql.execute(cursor, f"SELECT notification_id FROM {sql.table(TRACKING)} "
                                "WHERE view_name = ?", (view.name,))
            row = cursor.fetchone()
            stopped[view.name] = stop_view(sql, cursor, view, Stop(
                int(row["notification_id"]) if row else 0, stopped[waits[0]].failed_at,
                "ViewStopped", f"waits for view {waits[0]!r}, which it writes into"))
            held = True
    return held


def with_dependents(views: Sequence[Any], names: Sequence[str] | None) -> list[Any]:
    """The views named (all when ``names`` is None) and every view that depends on one of
    them, in run order; an unknown name is :class:`UnknownView`."""
    if names is None:
        return list(views)
    known = [v.name for v in views]
    for name in names:
        if name not in known:
            raise UnknownView(f"no view named {name[:40]!r} (views: {', '.join(known)})")
    chosen = set(names)
    for view in views:  # dependents come after what they depend on
        if set(depends_on(view)) & chosen:
            chosen.add(view.name)
    return [v for v in views if v.name in chosen]


def start_load(sql: SqlStore, cursor: Any, views: Sequence[Any]) -> None:
    """Views loaded from zero: drop their secondary indexes, open their load tables."""
    for view in views:
        for name, *_ in getattr(view, "indexes", ()):
            sql.execute(cursor, f"DROP INDEX IF EXISTS {sql.table(name)}")
        start = getattr(view, "start_load", None)
        if start is not None:
            start(sql, cursor)


def present_indexes(sql: SqlStore, cursor: Any) -> set[str]:
    """The names of the indexes that exist (in the store's schema on PostgreSQL)."""
    return sql.index_names(cursor)
