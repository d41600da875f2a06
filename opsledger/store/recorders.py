"""The event store's recorders, extended to write the hash chain (:mod:`opsledger.store.chain`)
in the same transaction as the events, whichever path inserts them: ``app.save`` (the
recorder's ``insert_events``) or an opsledger-owned transaction (``SqlStore.
insert_stored_events``, which calls the private insert methods overridden here).

``OpsledgerApp`` selects them through the ``APPLICATION_RECORDER_TOPIC`` setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from opsledger.store.chain import CHAIN_TABLE, append_links

__all__ = ["RECORDER_TOPICS", "ChainedSQLiteRecorder"]


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite: every insert of events also appends their links (writers are serialised by
    the database's write lock, taken by the INSERT before the chain head is read)."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        append_links(c, CHAIN_TABLE, "?", list(ids or ()), stored_events)
        return ids


#: PERSISTENCE_MODULE -> APPLICATION_RECORDER_TOPIC
RECORDER_TOPICS = {
    "eventsourcing.sqlite": f"{__name__}:ChainedSQLiteRecorder",
    # (its own module: PostgreSQL's driver is imported only by a store that uses it)
    "eventsourcing.postgres": "opsledger.store.recorders_pg:ChainedPostgresRecorder",
}
