"""The event store: the eventsourcing application over one store URL, its SQL layer, the
tenant key ring, the schema marker, and the load-change-save loop every command uses."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, PersistenceError, Transcoder
from eventsourcing.utils import Environment, EnvType

from opsledger.store import chain
from opsledger.store.cipher import TenantCipherMapper
from opsledger.store.compress import DICTIONARY_TABLE, StateCodec
from opsledger.store.compress import create_table_statements as dictionary_statements
from opsledger.store.keys import KeyRing
from opsledger.store.recorders import RECORDER_TOPICS
from opsledger.store.sql import SqlStore
from opsledger.store.transcoder import OrjsonTranscoder
from opsledger.store.url import StoreUrl, pg_connect, quote_identifier, schema_lock
from opsledger.store.views_db import ViewsFile, ViewsMemory

__all__ = ["SCHEMA_TABLE", "SCHEMA_VERSION", "EventStore", "OpsledgerApp"]

log = logging.getLogger("opsledger.store")
A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")
SCHEMA_TABLE = "opsledger_schema"
#: 2: the hash chain (opsledger_chain); 3: tenant keys, retention; 4: the alert fact log
#: and alert index (per-tenant event time); 5: an operation's identity is (tenant, operation
#: id): publish_identity, the audit view's unique index on the pair; 6: the freshness rule's
#: bookkeeping in tables (alert_fresh_*), moved out of the alert state on its next run;
#: 7: compressed event states and their dictionaries (opsledger_dictionaries); 8: the alert
#: process's records packed (binary columns on PostgreSQL: opsledger.services.alert_pack),
#: and the views in a database of their own (:mod:`opsledger.store.views_db`), moved there
#: on upgrade
SCHEMA_VERSION = 8
#: Creates the tables above the events (views, process state) in the creating store; run
#: when the schema marker is missing or older, before the marker is written (a crash in
#: between creates them again: every creation checks what exists).
TableCreator = Callable[["EventStore"], None]


class OpsledgerApp(Application[UUID]):
    """The event store application (pinned name: it prefixes PostgreSQL tables)."""

    name = "opsledger"

    def __init__(self, env: EnvType | None = None, keyring: KeyRing | None = None,
                 codec: StateCodec | None = None) -> None:
        self.keyring = keyring
        self.codec = codec
        super().__init__(env=env)

    def construct_mapper(self) -> Mapper[UUID]:
        """With a key ring, each tenant's events are stored encrypted with its key (their
        state compressed first, with a codec)."""
        if self.keyring is None:
            return super().construct_mapper()
        return TenantCipherMapper(self.construct_transcoder(), self.keyring, self.codec)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the settings the host passes: the library never reads ``os.environ`` here;
        the recorders are the chained ones (tamper evidence: :mod:`opsledger.store.chain`)."""
        values = dict(env or {})
        topic = RECORDER_TOPICS.get(values.get("PERSISTENCE_MODULE", ""))
        if topic:
            values.setdefault("APPLICATION_RECORDER_TOPIC", topic)
        return Environment(name, values)

    def construct_transcoder(self) -> Transcoder:
        """orjson instead of the stdlib JSON transcoder (faster; accepts freezegun times)."""
        return OrjsonTranscoder()


class EventStore:
    """One store: its events (sealed per tenant), the SQL layer over the same connection
    pool, and the key ring. Opening creates or upgrades the schema once, under a lock."""

    def __init__(self, url: StoreUrl, create_tables: TableCreator) -> None:
        self.url = url
        self.keyring = KeyRing(url)
        self.codec = StateCodec()
        self.views = (ViewsFile(url.path) if url.kind == "sqlite" and url.path else
                      ViewsMemory(url.env["SQLITE_DBNAME"]) if url.kind == "memory" else None)
        if url.kind == "memory":
            self.app = self._create_schema(create_tables)
        else:
            # Under the lock: the first connection to a new SQLite file switches it to WAL,
            # which must not race; then create once — later opens skip every DDL.
            with schema_lock(url):
                # a new events file (created empty by the lock) has no views of its own: any
                # left beside it (the events file deleted by hand) are another store's
                new = url.kind == "sqlite" and url.path is not None and \
                    os.path.getsize(url.path) == 0
                probe = OpsledgerApp(env={**url.env, "CREATE_TABLE": "n"})
                current = self._schema_is_current(probe)
                probe.close()
                if isinstance(self.views, ViewsFile) and (new or not self.views.exists()):
                    self.views.point_to(self.views.create())  # views rebuilt by catch-up
                    current = False
                if not current:
                    self._create_schema(create_tables).close()
            if isinstance(self.views, ViewsFile):
                self.views.cleanup()  # a crashed rebuild's file, a replaced generation
            self.app = OpsledgerApp(env={**url.env, "CREATE_TABLE": "n"}, keyring=self.keyring,
                                    codec=self.codec)
        self.sql = SqlStore(self.app.recorder, url.kind, url.schema, self.views)
        self.codec.attach(self._dictionaries)

    def _schema_is_current(self, app: OpsledgerApp) -> bool:
        sql = SqlStore(app.recorder, self.url.kind, self.url.schema)
        try:
            with sql.transaction(commit=False) as cursor:
                sql.execute(cursor, f"SELECT version FROM {sql.table(SCHEMA_TABLE)}")
                row = cursor.fetchone()
        except PersistenceError:  # no marker table (or schema) yet: not created
            return False
        return row is not None and int(row["version"]) == SCHEMA_VERSION

    def _create_schema(self, create_tables: TableCreator) -> OpsledgerApp:
        """Every table (events, views, process state), then the version marker."""
        creator = OpsledgerApp(env={**self.url.env, "CREATE_TABLE": "y"}, keyring=self.keyring,
                               codec=self.codec)
        self.keyring.create_tables()
        self.app = creator
        self.sql = sql = SqlStore(creator.recorder, self.url.kind, self.url.schema, self.views)
        create_tables(self)
        with sql.transaction(commit=True) as cursor:
            sql.execute(cursor, chain.create_table_statement(
                sql.table(chain.CHAIN_TABLE), postgres=sql.is_postgres))
            chain.link_existing(sql, cursor)
            for statement, params in dictionary_statements(sql.table(DICTIONARY_TABLE),
                                                           postgres=sql.is_postgres):
                sql.execute(cursor, statement, params)
            sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(SCHEMA_TABLE)} "
                                "(version BIGINT)")
            sql.execute(cursor, f"DELETE FROM {sql.table(SCHEMA_TABLE)}")
            sql.execute(cursor, f"INSERT INTO {sql.table(SCHEMA_TABLE)} VALUES (?)",
                        (SCHEMA_VERSION,))
        return creator

    def _dictionaries(self) -> dict[int, bytes]:
        """The compression dictionaries stored in this store, by id."""
        rows = self.sql.fetch(f"SELECT dict_id, dictionary FROM {self.sql.table(DICTIONARY_TABLE)}")
        return {int(row["dict_id"]): bytes(row["dictionary"]) for row in rows}

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate as it stands, or ``None`` if no ``kind`` was saved with that id."""
        try:
            found: Aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def save(self, *aggregates: Aggregate) -> None:
        """Save the aggregates' pending events in one transaction."""
        self.app.save(*aggregates)

    def update(self, load: Callable[[], A], change: Callable[[A], R], attempts: int = 10) -> R:
        """Load, change, save; on a concurrent writer's conflict, reload and decide again."""
        for attempt in range(attempts):
            aggregate = load()
            result = change(aggregate)
            try:
                self.app.save(aggregate)
            except IntegrityError:
                if attempt == attempts - 1:
                    raise
                continue
            return result
        raise AssertionError("unreachable")

    def plain_state(self, state: bytes) -> bytes | None:
        """A stored event's state as the JSON bytes the transcoder wrote (opened with its
        tenant's key, then decompressed); ``None`` for an event of a forgotten tenant."""
        opened = self.keyring.open(state)
        return None if opened is None else self.codec.decompress(opened)

    def decode_state(self, state: bytes) -> dict[str, Any] | None:
        """A stored event's state as JSON (opened with its tenant's key, decompressed);
        ``None`` for an event of a forgotten tenant."""
        plain = self.plain_state(state)
        if plain is None:
            return None
        loaded: dict[str, Any] = orjson.loads(plain)
        return loaded

    def reclaim_space(self) -> tuple[str, ...]:
        """Leave no byte of deleted rows on disk (after an erasure); returns what was
        rewritten. SQLite: the database file is rewritten and its WAL emptied. PostgreSQL:
        ``VACUUM (FULL, ANALYZE)`` of every table of the store's schema that can hold a
        tenant's data in clear (all but the events and the chain, which hold only sealed or
        derived bytes), then ``CHECKPOINT``. In memory: nothing."""
        if self.url.kind == "sqlite":
            self.sql.compact()
            return (str(self.url.path),)
        if not self.sql.is_postgres:
            return ()
        import psycopg

        kept = {self.sql.events_table, chain.CHAIN_TABLE}
        with pg_connect(self.url, autocommit=True) as conn:
            names = [(row[0], row[1]) for row in conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE n.nspname IN (%s, %s) AND c.relkind IN ('r', 'm') "
                "ORDER BY c.relname, n.nspname",
                (self.url.schema, self.sql.views_schema)).fetchall()]
            tables = tuple(name for _, name in names if name not in kept)
            for schema, name in names:
                if name not in kept:
                    conn.execute(f"VACUUM (FULL, ANALYZE) {quote_identifier(schema)}."
                                 f"{quote_identifier(name)}")
            try:
                conn.execute("CHECKPOINT")
            except psycopg.errors.InsufficientPrivilege:
                log.warning("tenant forget: no right to CHECKPOINT (superuser or pg_checkpoint);"
                            " the rewritten tables reach the disk at the server's next "
                            "checkpoint")
        return tables

    def close(self) -> None:
        """Release connections."""
        self.app.close()
