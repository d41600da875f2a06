"""The event store's recorders, extended to write the hash chain (:mod:`opsledger.store.chain`)
in the same transaction as the events, whichever path inserts them: ``app.save`` (the
recorder's ``insert_events``) or an opsledger-owned transaction (``SqlStore.
insert_stored_events``, which calls the private insert methods overridden here).

``OpsledgerApp`` selects them through the ``APPLICATION_RECORDER_TOPIC`` setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry

from opsledger.store.chain import CHAIN_TABLE, append_links

__all__ = ["RECORDER_TOPICS", "ChainedPostgresRecorder", "ChainedSQLiteRecorder"]


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite: every insert of events also appends their links (writers are serialised by
    the database's write lock, taken by the INSERT before the chain head is read)."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        append_links(c, CHAIN_TABLE, "?", list(ids or ()), stored_events)
        return ids


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL: the insert takes the events table's EXCLUSIVE lock (held to commit), so
    links are appended in notification-id order, one writer at a time."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """One plain transaction (not the library's pipeline): insert, link, commit."""
        if not stored_events:
            return []
        with self.datastore.transaction(commit=True) as curs:
            return self._insert_chained(curs, stored_events)

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._insert_chained(curs, stored_events)

    def _insert_chained(self, curs: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        super()._insert_stored_events(curs, stored_events)  # lock, notify, insert RETURNING
        ids = [row["notification_id"] for row in curs.fetchall()]
        table = f'"{self.datastore.schema}"."{CHAIN_TABLE}"'
        append_links(curs, table, "%s", ids, stored_events)
        return ids


#: PERSISTENCE_MODULE -> APPLICATION_RECORDER_TOPIC
RECORDER_TOPICS = {
    "eventsourcing.sqlite": f"{__name__}:ChainedSQLiteRecorder",
    "eventsourcing.postgres": f"{__name__}:ChainedPostgresRecorder",
}
