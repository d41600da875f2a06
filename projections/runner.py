"""Catch-up: apply new notifications to the views, rows and tracking in one transaction.

Each view keeps its position in ``opsledger_tracking``. A batch (default 1,000 events) is
applied in one transaction that first advances the position with a guard (``WHERE
notification_id = <expected>``), so two processes catching up at once cannot apply the
same event twice: the loser's guard matches nothing and its transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson
from opsledger.projections._facts import Fact
from opsledger.projections._sql import SqlStore

__all__ = ["TrackingConflict", "View", "ViewRunner"]

TRACKING = "opsledger_tracking"


class TrackingConflict(RuntimeError):
    """Another process advanced the view first; the batch was rolled back."""


class View(Protocol):
    """A read model: its tables, how to apply events, how to clear itself."""

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
        while (low := min(positions.values(), default=head)) < head:
            notifications = self.recorder.select_notifications(
                start=low + 1, limit=batch_size, stop=head
            )
            if not notifications:
                break
            # An event whose state cannot be opened (a forgotten tenant's) is skipped.
            facts = [Fact(n.id, str(n.originator_id), n.topic, state)
                     for n in notifications if (state := self.decode(n.state)) is not None]
            last = notifications[-1].id
            with self.sql.transaction(commit=True) as cursor:
                for view in self.views:
                    position = positions[view.name]
                    news = [f for f in facts if f.position > position]
                    if not news:
                        continue
                    self.sql.execute(
                        cursor,
                        f"UPDATE {self.sql.table(TRACKING)} SET notification_id = ? "
                        "WHERE view_name = ? AND notification_id = ? RETURNING notification_id",
                        (last, view.name, position),
                    )
                    if cursor.fetchone() is None:
                        raise TrackingConflict(view.name)
                    view.apply(self.sql, cursor, news)
                    applied += len(news)
            for view in self.views:
                positions[view.name] = max(positions[view.name], last)
            if progress:
                progress(last, head)
        return applied

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Clear every view and apply the whole log again."""
        with self.sql.transaction(commit=True) as cursor:
            for view in self.views:
                view.clear(self.sql, cursor)
                self.sql.execute(
                    cursor,
                    f"UPDATE {self.sql.table(TRACKING)} SET notification_id = 0 "
                    "WHERE view_name = ?",
                    (view.name,),
                )
        return self.catch_up(progress=progress)
