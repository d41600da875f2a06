"""The PostgreSQL recorder extended to write the hash chain in the events' own transaction
(see :mod:`opsledger.store.recorders`); a module of its own so that psycopg is imported only
by a store that uses PostgreSQL.

Writes run in psycopg's pipeline mode (:func:`pipelined_transaction`): a statement whose
result is not read waits to go to the server with the next one whose result is, so ``BEGIN``
travels with the first read, and the chain links, the caller's last rows and ``COMMIT``
travel together. One ``app.save`` costs two round trips, as the library's own save does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import pq

from opsledger.store.chain import CHAIN_TABLE, head_statement, insert_statement, next_links

__all__ = ["ChainedPostgresRecorder", "pipelined_transaction"]


@contextmanager
def pipelined_transaction(connection: Any) -> Iterator[Any]:
    """A cursor in one transaction on ``connection`` (the pool's, in autocommit mode), run
    as one pipeline: ``BEGIN`` and ``COMMIT`` are queued like the statements between them,
    and the pipeline's end sends what is left and waits once. An error of any statement is
    raised there at the latest (a unique violation as psycopg's ``UniqueViolation``, which
    the pool's connection turns into the library's ``IntegrityError``), and the transaction
    is rolled back.

    (psycopg's own ``transaction()`` inside a pipeline syncs three times at its end.)"""
    try:
        with connection.pipeline():
            # (a cursor of its own, open until the pipeline's end: a result nobody reads
            # must not stand before the rows of the caller's next query on its cursor)
            control = connection.cursor()
            control.execute("BEGIN")
            yield connection.cursor()
            control.execute("COMMIT")
    except BaseException:
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            connection.rollback()
        raise


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL: the insert takes the events table's EXCLUSIVE lock (held to commit), so
    links are appended in notification-id order, one writer at a time."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """One transaction (a pipeline, as the library's save): insert, link, commit."""
        if not stored_events:
            return []
        with self.datastore.get_connection() as connection, \
                pipelined_transaction(connection) as curs:
            return self._insert_chained(curs, stored_events)

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._insert_chained(curs, stored_events)

    def _insert_chained(self, curs: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Lock, notify, insert and read the chain's head in one round trip (the head is read
        after the insert took the lock), then append the links: queued in the caller's
        pipeline, they reach the server with its next statements (or at once, without one)."""
        table = f'"{self.datastore.schema}"."{CHAIN_TABLE}"'
        connection = curs.connection
        pipelined = connection.pgconn.pipeline_status != pq.PipelineStatus.OFF
        with connection.cursor() as head:
            if pipelined:
                ids, found = self._insert_reading_head(curs, head, table, stored_events)
            else:
                with connection.pipeline():
                    ids, found = self._insert_reading_head(curs, head, table, stored_events)
        links = next_links(found, ids, stored_events)
        statement = insert_statement(table, "%s")
        if len(links) == 1:
            curs.execute(statement, links[0], prepare=True)
        else:
            curs.executemany(statement, links)
        return ids

    def _insert_reading_head(self, curs: Any, head: Any, table: str,
                             stored_events: Sequence[StoredEvent]) -> tuple[list[int], Any]:
        super()._insert_stored_events(curs, stored_events)  # lock, notify, insert RETURNING
        head.execute(head_statement(table), prepare=True)
        ids = [row["notification_id"] for row in curs.fetchall()]
        return ids, head.fetchone()
