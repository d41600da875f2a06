"""The PostgreSQL recorder extended to write the hash chain in the events' own transaction
(see :mod:`opsledger.store.recorders`); a module of its own so that psycopg is imported only
by a store that uses PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry

from opsledger.store.chain import CHAIN_TABLE, append_links

__all__ = ["ChainedPostgresRecorder"]


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
