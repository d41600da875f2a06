"""The SQL layer over the event store's own connection pool: the one home of the SQLite /
PostgreSQL differences. The views receive it (they see it through
:class:`opsledger.projections._sql.Sql`); the write path and the processes use it directly."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

__all__ = ["SqlStore", "create_index", "equals"]


class SqlStore:
    """Transactions and dialect details over the event store's own connection pool.

    Views and bulk reads write SQL once with ``?`` placeholders and ``{t}``-style table
    names; this class adapts them to SQLite or PostgreSQL (psycopg, schema-qualified).
    """

    def __init__(self, recorder: Any, kind: str, schema: str = "public") -> None:
        self.recorder = recorder
        self.datastore = recorder.datastore
        self.events_table: str = recorder.events_table_name
        self.kind = kind
        self.schema = schema
        self.is_postgres = kind == "postgresql"
        self._uuid_ids = getattr(self.datastore, "originator_id_type", "uuid") == "uuid"

    def table(self, name: str) -> str:
        """A table name, schema-qualified on PostgreSQL (both quoted: the schema comes from
        the store URL, validated there, and any ``"`` is doubled here all the same)."""
        if not self.is_postgres:
            return name
        return ".".join('"' + part.replace('"', '""') + '"' for part in (self.schema, name))

    def sql(self, statement: str) -> str:
        """Adapt ``?`` placeholders to the driver."""
        return statement.replace("?", "%s") if self.is_postgres else statement

    @contextmanager
    def transaction(self, *, commit: bool, durable: bool = True) -> Iterator[Any]:
        """A cursor in one transaction (committed on success when ``commit``; without
        ``durable``, the commit does not wait for the disk — for derived rows only, see
        :func:`~opsledger.projections.runner.view_transaction`).

        On SQLite a writing transaction starts with ``BEGIN IMMEDIATE``: a deferred one that
        reads first cannot upgrade to a writer once another process has committed (WAL
        snapshot), and fails at once instead of waiting for the lock.
        """
        if self.is_postgres or not commit:
            with self.datastore.transaction(commit=commit) as cursor:
                if not durable and self.is_postgres:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                yield cursor
            return
        with self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            if not durable:
                cursor.execute("PRAGMA synchronous")
                before = int(cursor.fetchone()[0])
                cursor.execute("PRAGMA synchronous = NORMAL")
            try:
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
            finally:
                if not durable:
                    cursor.execute(f"PRAGMA synchronous = {before}")

    def tuple_cursor(self, cursor: Any) -> Any:
        """A driver cursor in ``cursor``'s transaction (on the same connection) whose rows
        are plain tuples, cheaper than the pool's dict-like rows; ``cursor`` itself keeps
        its rows. Close it when done (``contextlib.closing``)."""
        if self.is_postgres:
            from psycopg.rows import tuple_row

            return cursor.connection.cursor(row_factory=tuple_row)
        raw = cursor.sqlite_cursor.connection.cursor()
        raw.row_factory = None
        return raw

    def uuid_text(self, column: str) -> str:
        """SQL text of an aggregate id ``column`` as the canonical UUID text (SQLite keeps
        UUIDs as 32 hex digits; a text id stays as it is)."""
        if self.is_postgres:
            return f"CAST({column} AS TEXT)"
        parts = " || '-' || ".join(f"substr({column}, {start}, {length})" for start, length
                                   in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12)))
        return f"CASE WHEN length({column}) = 32 THEN {parts} ELSE {column} END"

    def zero_padded(self, expression: str, width: int) -> str:
        """SQL text of a non-negative integer ``expression`` as ``width`` zero-padded
        digits (so text order is number order)."""
        if self.is_postgres:
            return f"lpad(CAST({expression} AS TEXT), {width}, '0')"
        return f"printf('%0{width}d', {expression})"

    @property
    def for_update(self) -> str:
        """The clause that locks the rows a ``SELECT`` reads until the transaction ends
        (SQLite needs none: a writing transaction starts ``BEGIN IMMEDIATE``)."""
        return " FOR UPDATE" if self.is_postgres else ""

    @property
    def clustered(self) -> str:
        """The table option that keeps a table with a primary key in one B-tree (SQLite's
        ``WITHOUT ROWID``; PostgreSQL has no such choice)."""
        return "" if self.is_postgres else " WITHOUT ROWID"

    @property
    def unique_violations(self) -> tuple[type[BaseException], ...]:
        """The errors a unique or primary key violation raises (library and drivers)."""
        from psycopg.errors import UniqueViolation

        return (IntegrityError, sqlite3.IntegrityError, UniqueViolation)

    @property
    def lost_connection(self) -> tuple[type[BaseException], ...]:
        """The errors of a connection that broke (as opposed to a statement that failed)."""
        import psycopg
        from eventsourcing.persistence import InterfaceError, OperationalError

        return (sqlite3.OperationalError, sqlite3.InterfaceError, OperationalError,
                InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)

    def binary_order(self, column: str) -> str:
        """``column`` compared byte by byte (SQLite's text order; PostgreSQL's ``C``)."""
        return f'{column} COLLATE "C"' if self.is_postgres else column

    def lock_table(self, cursor: Any, name: str) -> None:
        """Order concurrent writers of ``name`` until the transaction ends (PostgreSQL;
        a SQLite writing transaction already holds the database's write lock)."""
        if self.is_postgres:
            self.execute(cursor, f"LOCK TABLE {self.table(name)} IN SHARE ROW EXCLUSIVE MODE")

    def column_names(self, cursor: Any, table: str) -> set[str]:
        """The columns the table ``table`` has now."""
        if self.is_postgres:
            self.execute(cursor, "SELECT column_name AS name FROM information_schema.columns "
                                 "WHERE table_schema = ? AND table_name = ?", (self.schema, table))
        else:
            self.execute(cursor, "SELECT name FROM pragma_table_info(?)", (table,))
        return {row["name"] for row in cursor.fetchall()}

    def index_names(self, cursor: Any) -> set[str]:
        """The names of the indexes that exist (in the store's schema on PostgreSQL)."""
        if self.is_postgres:
            self.execute(cursor, "SELECT indexname AS name FROM pg_indexes "
                                 "WHERE schemaname = ?", (self.schema,))
        else:
            self.execute(cursor, "SELECT name FROM sqlite_master WHERE type = 'index'")
        return {row["name"] for row in cursor.fetchall()}

    def position_column(self) -> str:
        """The events table's column of log positions (SQLite keeps them as the rowid)."""
        return "notification_id" if self.is_postgres else "rowid"

    def state_bytes(self, column: str = "state") -> str:
        """SQL text of a stored event's state as bytes on either backend."""
        return column if self.is_postgres else f"CAST({column} AS BLOB)"

    def stream(self, cursor: Any, statement: str, params: Sequence[Any], batch: int
               ) -> Iterator[dict[str, Any]]:
        """The rows of one query, as dicts, in ``cursor``'s transaction, ``batch`` at a time
        (a server-side cursor on PostgreSQL; several may be open on one transaction)."""
        if self.is_postgres:
            from psycopg.rows import dict_row

            name = f"opsledger_stream_{uuid.uuid4().hex}"
            with cursor.connection.cursor(name=name, row_factory=dict_row) as named:
                named.itersize = batch
                named.execute(self.sql(statement), tuple(params))
                while rows := named.fetchmany(batch):
                    yield from rows
            return
        with closing(self.tuple_cursor(cursor)) as raw:
            raw.execute(statement, tuple(params))
            names = [column[0] for column in raw.description]
            while rows := raw.fetchmany(batch):
                for row in rows:
                    yield dict(zip(names, row, strict=True))

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of one read-only query, as dicts."""
        with self.transaction(commit=False) as cursor:
            self.execute(cursor, statement, params)
            return [dict(row) for row in cursor.fetchall()]

    def fetch_one(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one query in the caller's transaction (None if none)."""
        self.execute(cursor, statement, params)
        return cursor.fetchone()

    @staticmethod
    def rowcount(cursor: Any) -> int:
        """Rows changed by the cursor's last statement (the library's SQLite cursor wraps
        the driver's)."""
        return max(int(getattr(cursor, "sqlite_cursor", cursor).rowcount), 0)

    def compact(self) -> None:
        """SQLite: rewrite the database file and empty the WAL, so deleted rows leave no
        bytes on disk (after an erasure). Elsewhere nothing: PostgreSQL reclaims dead rows
        with its own VACUUM."""
        if self.is_postgres or self.kind == "memory":
            return
        with self.datastore.get_connection(commit=True) as connection:  # the pool's writer
            raw = connection._sqlite_conn  # VACUUM runs outside any transaction
            raw.execute("VACUUM")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> None:
        """Run one statement with dialect-adapted placeholders."""
        cursor.execute(self.sql(statement), tuple(params))

    def executemany(self, cursor: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many rows."""
        if rows:
            cursor.executemany(self.sql(statement), [tuple(r) for r in rows])

    def table_exists(self, cursor: Any, name: str) -> bool:
        """True if the table ``name`` exists (in the store's schema on PostgreSQL)."""
        if self.is_postgres:
            self.execute(cursor, "SELECT to_regclass(?) IS NOT NULL AS found", (self.table(name),))
        else:
            self.execute(cursor, "SELECT COUNT(*) > 0 AS found FROM sqlite_master "
                                 "WHERE type = 'table' AND name = ?", (name,))
        return bool(cursor.fetchone()["found"])

    def id_param(self, originator_id: UUID) -> Any:
        """An aggregate id as the events table stores it."""
        if self.is_postgres:
            return originator_id
        return originator_id.hex if self._uuid_ids else str(originator_id)

    def select_stored_events(
        self, cursor: Any, ids: Sequence[UUID], newer_than: dict[UUID, int] | None = None
    ) -> list[Any]:
        """Stored events of the given aggregates (only those after ``newer_than[id]`` for
        streams the caller already holds), ordered by stream and version."""
        newer = sorted((newer_than or {}).items())
        rows: list[Any] = []
        for start in range(0, max(len(ids), 1), 500):
            chunk = [self.id_param(i) for i in ids[start : start + 500]]
            clauses = [f"originator_id IN ({','.join('?' * len(chunk))})"] if chunk else []
            params: list[Any] = list(chunk)
            if start == 0:
                for oid, version in newer:
                    clauses.append("(originator_id = ? AND originator_version > ?)")
                    params += [self.id_param(oid), version]
            if not clauses:
                break
            statement = (
                f"SELECT originator_id, originator_version, topic, state "
                f"FROM {self.table(self.events_table)} WHERE {' OR '.join(clauses)} "
                f"ORDER BY originator_id, originator_version"
            )
            self.execute(cursor, statement, params)
            rows.extend(cursor.fetchall())
        return rows

    def insert_stored_events(self, cursor: Any, stored_events: Sequence[Any]) -> None:
        """Append stored events inside the caller's transaction (the recorder's own insert:
        on PostgreSQL it takes the table lock that keeps notification ids in commit order).
        """
        if not stored_events:
            return
        if self.is_postgres:
            self.recorder._insert_stored_events(cursor, stored_events)
        else:
            self.recorder._insert_events(cursor, stored_events)


def equals(**filters: Any) -> tuple[list[str], list[Any]]:
    """``column = ?`` clauses (and their parameters) for the filters that are not None."""
    given = [(column, value) for column, value in filters.items() if value is not None]
    return [f"{column} = ?" for column, _ in given], [value for _, value in given]


def create_index(
    sql: SqlStore, name: str, table: str, columns: str, unique: bool = False
) -> str:
    """``CREATE [UNIQUE] INDEX IF NOT EXISTS`` of a view's deferrable index."""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return f"CREATE {kind} IF NOT EXISTS {name} ON {sql.table(table)} ({columns})"
