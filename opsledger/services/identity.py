"""An operation's identity is (tenant, operation id): the table that makes it a store rule.

``publish_identity`` holds one row per recorded operation of a tenant — the batch it was
recorded in and a digest of its facts — written in the same transaction as the batch's
events, under a primary key on (tenant, operation id). The recording path reads it to tell
an exact duplicate (same batch, same facts: a no-op) from a reused id (another batch, or
other facts: a typed refusal). Two writers racing the same id into two batches cannot both
commit: on SQLite the recording transaction holds the write lock from its first read; on
PostgreSQL the second insert of the key fails the primary key once the first commits, and
the recording path decides its chunk again, now seeing the first.

It is write-side state, not a view: a rebuild keeps it, retention leaves it (a line older
than the audit horizon is still a duplicate, not a new operation), and ``tenant forget``
deletes the tenant's rows (:func:`forget`). A store written before it existed gets it
filled from its whole log when the schema is upgraded (the batches' events: the audit view
may lag or have dropped rows to retention); their facts are unknown (``NULL``), so an
operation seen again in its own batch is a duplicate, as it was. A log that holds one
operation of a tenant in two batches (recorded by the code before) keeps the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import orjson

from opsledger.domain.publish_state import read_publish
from opsledger.projections.runner import ViewRunner
from opsledger.services.records import PublishRecord
from opsledger.store.sql import SqlStore

__all__ = ["TABLE", "Known", "create_table", "facts_digest", "forget", "insert", "lookup",
           "lookup_later"]

TABLE = "publish_identity"
_CHUNK = 500


class Known(NamedTuple):
    """Where an operation of a tenant was recorded: its batch, and its facts' digest
    (``None`` for operations recorded before digests were kept)."""

    batch_id: str
    facts: str | None


def create_table(sql: SqlStore, cursor: Any, log: ViewRunner, batch: int = 5000) -> None:
    """Create the table; a new one is filled from every batch event in ``log`` (see the
    module doc), read ``batch`` events at a time."""
    if sql.table_exists(cursor, TABLE):
        return
    sql.execute(cursor, f"CREATE TABLE {sql.table(TABLE)} (tenant_id TEXT NOT NULL, "
                        "operation_id TEXT NOT NULL, batch_id TEXT NOT NULL, facts TEXT, "
                        f"PRIMARY KEY (tenant_id, operation_id)){sql.clustered}")
    position = 0
    while True:  # (to the end of the log as this transaction sees it)
        facts, last = log.read_facts(cursor, position, 2**62, batch)
        if last is None:
            break
        sql.executemany(
            cursor, f"INSERT INTO {sql.table(TABLE)} VALUES (?, ?, ?, NULL) "
                    "ON CONFLICT (tenant_id, operation_id) DO NOTHING",
            [(op.tenant_id, op.operation_id, f.stream_id) for f in facts
             if (op := read_publish(f.topic, f.state)) is not None])
        position = last


def facts_digest(record: PublishRecord) -> str:
    """A digest of everything a line says about its operation (normalised, so the same
    facts written differently — an offset, a hash's case — are the same facts)."""
    facts = (
        record.tenant_id, record.repository_id, record.key, record.payload_hash.lower(),
        record.outcome, record.attempts, record.latency_ms, record.occurred_at_utc,
        record.error_code, record.status, record.request_id, record.endpoint,
        record.retryable,
    )
    return hashlib.blake2b(orjson.dumps(facts), digest_size=16).hexdigest()


def _queries(sql: SqlStore, keys: Iterable[tuple[str, str]]
             ) -> Iterator[tuple[str, str, list[str]]]:
    """(tenant, statement, parameters) of the lookup of ``keys``, a query per tenant and
    chunk."""
    by_tenant: dict[str, list[str]] = {}
    for tenant, operation in sorted(set(keys)):
        by_tenant.setdefault(tenant, []).append(operation)
    for tenant, operations in by_tenant.items():
        for start in range(0, len(operations), _CHUNK):
            chunk = operations[start : start + _CHUNK]
            yield (tenant, f"SELECT operation_id, batch_id, facts FROM {sql.table(TABLE)} "
                           f"WHERE tenant_id = ? AND operation_id IN "
                           f"({','.join('?' * len(chunk))})", [tenant, *chunk])


def _collect(found: dict[tuple[str, str], Known], tenant: str, rows: Iterable[Any]) -> None:
    for row in rows:
        found[(tenant, row["operation_id"])] = Known(row["batch_id"], row["facts"])


def lookup(
    sql: SqlStore, cursor: Any, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Known]:
    """The recorded operations among ``keys`` ((tenant, operation id) pairs)."""
    found: dict[tuple[str, str], Known] = {}
    for tenant, statement, params in _queries(sql, keys):
        sql.execute(cursor, statement, params)
        _collect(found, tenant, cursor.fetchall())
    return found


def lookup_later(
    sql: SqlStore, new_cursor: Callable[[], Any], keys: Iterable[tuple[str, str]]
) -> Callable[[], dict[tuple[str, str], Known]]:
    """:func:`lookup` in two steps: the queries are sent now, each on a cursor of the
    caller's transaction that ``new_cursor`` gives, and their rows are read when the
    returned function is called — in a PostgreSQL pipeline they travel with the caller's
    next read instead of taking a round trip of their own."""
    sent = []
    for tenant, statement, params in _queries(sql, keys):
        cursor = new_cursor()
        sql.execute(cursor, statement, params)
        sent.append((tenant, cursor))

    def read() -> dict[tuple[str, str], Known]:
        found: dict[tuple[str, str], Known] = {}
        for tenant, cursor in sent:
            _collect(found, tenant, cursor.fetchall())
        return found

    return read


def insert(sql: SqlStore, cursor: Any, rows: list[tuple[str, str, str, str | None]]) -> None:
    """Record (tenant, operation id, batch id, facts digest) rows; a key another writer
    committed meanwhile fails the primary key (the caller decides its chunk again)."""
    sql.executemany(cursor, f"INSERT INTO {sql.table(TABLE)} VALUES (?, ?, ?, ?)", rows)


def forget(sql: SqlStore, cursor: Any, tenant_id: str) -> int:
    """Delete every row of ``tenant_id``; how many there were."""
    sql.execute(cursor, f"DELETE FROM {sql.table(TABLE)} WHERE tenant_id = ?", (tenant_id,))
    return sql.rowcount(cursor)
