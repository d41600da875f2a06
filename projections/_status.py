"""Stopped views: the table beside ``opsledger_tracking`` that says which view stopped, where
and why (see :class:`~opsledger.projections.runner.ViewRunner`).

A row in ``opsledger_view_status`` means the view is stopped: its rows and its tracking
position stay at ``position`` (the last event it applied), ``failed_at`` is the
notification id of the event it could not apply (or the last event of the batch, when the
failure could not be narrowed to one event), ``error_type`` and ``message`` say what
failed (the message cut to :data:`MESSAGE_LIMIT` characters, control characters
replaced). No row means the view runs. Catch-up skips a stopped view; ``catch_up(retry=
True)`` and a rebuild of the view clear its row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from opsledger.projections._sql import SqlStore

__all__ = ["MESSAGE_LIMIT", "STATUS", "Stop", "ViewStatus", "clear", "create_table", "record",
           "stops"]

STATUS = "opsledger_view_status"
MESSAGE_LIMIT = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Stop:
    """Why and where one view stopped."""

    position: int
    failed_at: int
    error_type: str
    message: str


@dataclass(frozen=True)
class ViewStatus:
    """One view (or the alert process) against the newest event: its position, how far
    behind it is, and, when stopped, where and why."""

    view: str
    position: int
    head: int
    stopped: bool = False
    failed_at: int | None = None
    error_type: str | None = None
    message: str | None = None
    #: The version of the view that built its rows (None: not a view, e.g. the alert
    #: process).
    version: int | None = None

    @property
    def lag(self) -> int:
        """Notification ids between the view's position and the head (0 when current)."""
        return max(self.head - self.position, 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``projections status --json``."""
        return {**asdict(self), "lag": self.lag}


def describe(exc: BaseException) -> tuple[str, str]:
    """An exception as (type name, short one-line message): no data echo past the limit."""
    text = _CONTROL.sub(" ", str(exc)).strip() or type(exc).__name__
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    return type(exc).__name__, text


def create_table(sql: SqlStore, cursor: Any) -> None:
    """Create the status table if missing."""
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(STATUS)} (view_name TEXT "
                        "PRIMARY KEY, position BIGINT NOT NULL, failed_at BIGINT NOT NULL, "
                        "error_type TEXT NOT NULL, message TEXT NOT NULL)")


def record(sql: SqlStore, cursor: Any, view: str, stop: Stop) -> None:
    """Mark ``view`` stopped (in the caller's transaction)."""
    sql.execute(cursor, f"DELETE FROM {sql.table(STATUS)} WHERE view_name = ?", (view,))
    sql.execute(cursor, f"INSERT INTO {sql.table(STATUS)} VALUES (?, ?, ?, ?, ?)",
                (view, stop.position, stop.failed_at, stop.error_type,
                 stop.message[:MESSAGE_LIMIT]))


def stops(sql: SqlStore, cursor: Any) -> dict[str, Stop]:
    """Every stopped view and why."""
    sql.execute(cursor, f"SELECT view_name, position, failed_at, error_type, message "
                        f"FROM {sql.table(STATUS)}")
    return {str(r["view_name"]): Stop(int(r["position"]), int(r["failed_at"]),
                                      str(r["error_type"]), str(r["message"]))
            for r in cursor.fetchall()}


def clear(sql: SqlStore, cursor: Any, views: Iterable[str]) -> None:
    """Let ``views`` run again."""
    for view in views:
        sql.execute(cursor, f"DELETE FROM {sql.table(STATUS)} WHERE view_name = ?", (view,))
