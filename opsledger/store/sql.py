"""The SQL layer over the event store's own connection pool: the one home of the SQLite /
PostgreSQL differences. The views receive it (they see it through
:class:`opsledger.projections._sql.Sql`); the write path and the processes use it directly.

The views live in a database of their own (:mod:`opsledger.store.views_db`): on SQLite a
file attached to every connection as the schema ``views``, on PostgreSQL the schema
``<schema>_views``. The names the view runner registers (:meth:`SqlStore.register_views`:
the views' tables, load tables and indexes, their tracking, status and versions) are
qualified with it by :meth:`SqlStore.table`; every other name stays in the events'
database."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from opsledger.store.views_db import SCHEMA as VIEWS_SCHEMA
from opsledger.store.views_db import ViewsFile, ViewsMemory, views_schema
from opsledger.store.views_db import uri as views_uri

__all__ = ["FixedViews", "SqlStore", "create_index", "equals", "views_schema"]

#: The page cache of a rebuild's connections for the fresh views database, in KiB (64 MiB
#: measured no faster than 8 MiB, and cost 60 MiB of peak memory more).
FRESH_CACHE_KIB = 8192

_LEADING_TABLE = re.compile(r'^CREATE TABLE\s+("[^"]+"|\w+)', re.IGNORECASE)
_LEADING_INDEX = re.compile(r'^CREATE\s+(UNIQUE\s+)?INDEX\s+("[^"]+"|\w+)', re.IGNORECASE)

class FixedViews:
    """One views database to attach (a rebuild's fresh generation), with the pragmas its
    connections run after attaching it."""

    def __init__(self, uri: str, pragmas: Sequence[str] = ()) -> None:
        self.uri = uri
        self.pragmas = tuple(pragmas)

    def current(self) -> str:
        """The URI to attach."""
        return self.uri


class SqlStore:
    """Transactions and dialect details over the event store's own connection pool.

    Views and bulk reads write SQL once with ``?`` placeholders and ``{t}``-style table
    names; this class adapts them to SQLite or PostgreSQL (psycopg, schema-qualified).
    """

    def __init__(self, recorder: Any, kind: str, schema: str = "public",
                 views: ViewsFile | ViewsMemory | FixedViews | None = None,
                 datastore: Any = None) -> None:
        self.recorder = recorder
        self.datastore = datastore if datastore is not None else recorder.datastore
        self.events_table: str = recorder.events_table_name
        self.kind = kind
        self.schema = schema
        self.is_postgres = kind == "postgresql"
        self.views = views
        self.views_schema = views_schema(schema) if self.is_postgres else VIEWS_SCHEMA
        #: Names routed to the views' database (see :meth:`register_views`).
        self.view_names: set[str] = set()
        self._uuid_ids = getattr(self.datastore, "originator_id_type", "uuid") == "uuid"

    @property
    def _routes(self) -> bool:
        return self.is_postgres or self.views is not None

    def register_views(self, names: Sequence[str]) -> None:
        """Route ``names`` (tables and indexes of the views, and the runner's own) to the
        views' database."""
        self.view_names.update(names)

    def in_views(self, name: str) -> bool:
        """True if the table or index ``name`` lives in the views' database."""
        return self._routes and name in self.view_names

    def _schema_of(self, name: str) -> str:
        return self.views_schema if self.in_views(name) else self.schema

    def table(self, name: str) -> str:
        """A table name, schema-qualified on PostgreSQL (both quoted: the schema comes from
        the store URL, validated there, and any ``"`` is doubled here all the same); a
        view's table is qualified with the views' schema (``views.`` on SQLite)."""
        if not self.is_postgres:
            return f"{VIEWS_SCHEMA}.{name}" if self.in_views(name) else name
        return ".".join('"' + part.replace('"', '""') + '"'
                        for part in (self._schema_of(name), name))

    def index_on(self, name: str, table: str) -> str:
        """``<index> ON <table>`` of a ``CREATE INDEX``: SQLite qualifies the index with the
        table's database (and forbids qualifying the table), PostgreSQL the table."""
        if not self.is_postgres and self.in_views(table):
            return f"{VIEWS_SCHEMA}.{name} ON {table}"
        return f"{name} ON {self.table(table)}"

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
        snapshot), and fails at once instead of waiting for the lock. One that is not
        ``durable`` writes the views' database only: it takes that database's write lock
        first (a write that changes nothing) and leaves the events' free for writers.
        """
        if self.is_postgres:
            with self.datastore.transaction(commit=commit) as cursor:
                if not durable:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                yield cursor
            return
        if not commit:
            with self.datastore.get_connection(commit=False) as connection:
                self._attach(connection)
                with connection.transaction(commit=False) as cursor:
                    yield cursor
            return
        with self.datastore.get_connection(commit=True) as connection:
            self._attach(connection)
            cursor = connection.cursor()
            views_only = not durable and self.views is not None
            if not durable:
                cursor.execute("PRAGMA synchronous")
                before = int(cursor.fetchone()[0])
                cursor.execute("PRAGMA synchronous = NORMAL")
            try:
                if views_only:
                    cursor.execute("BEGIN")
                    self._lock_views(cursor)
                else:
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

    @staticmethod
    def _lock_views(cursor: Any) -> None:
        """Take the views' database's write lock at the start of a deferred transaction
        (waiting for it like ``BEGIN IMMEDIATE`` would), without locking the events': a
        write that changes nothing, as the first statement (so no read snapshot precedes
        it), to the runner's tracking table, which every views' database has."""
        cursor.execute(f"DELETE FROM {VIEWS_SCHEMA}.opsledger_tracking WHERE 0")

    def _attach(self, connection: Any) -> None:
        """Attach the current views' database to ``connection`` (SQLite), once per
        connection and again after a rebuild swapped in a new generation."""
        if self.views is None:
            return
        attached = getattr(connection, "_opsledger_views", None)
        for attempt in range(3):
            target = self.views.current()
            if attached == target:
                return
            raw = connection._sqlite_conn
            if attached is not None:
                raw.execute(f"DETACH {VIEWS_SCHEMA}")
                connection._opsledger_views = attached = None
            try:
                raw.execute(f"ATTACH ? AS {VIEWS_SCHEMA}", (target,))
            except sqlite3.OperationalError:
                if attempt == 2 or not isinstance(self.views, ViewsFile):
                    raise
                self.views.forget_cached()  # removed after a swap: read the pointer again
                continue
            for pragma in getattr(self.views, "pragmas", ()):
                raw.execute(pragma)
            if isinstance(self.views, ViewsFile):
                raw.execute(f"PRAGMA {VIEWS_SCHEMA}.synchronous = NORMAL")
            connection._opsledger_views = target
            return

    @contextmanager
    def fresh_views(self) -> Iterator[SqlStore | None]:
        """A rebuild's SQL layer over a new, empty generation of the views (a SQLite file
        store; elsewhere None: the caller rebuilds in place), swapped in when the block ends
        without an error, removed when it fails (see :mod:`opsledger.store.views_db`).

        Its own connections attach the new file with no journal on disk and no fsync (a
        crash leaves only an orphan the next open removes); at the end the file turns WAL,
        is synced, and the pointer names it. One rebuild at a time (a file lock)."""
        if not isinstance(self.views, ViewsFile):
            yield None
            return
        from eventsourcing.sqlite import SQLiteDatastore

        files = self.views
        with files.rebuilding():
            files.cleanup(locked=True)
            generation = files.create(wal=False)
            pragmas = [f"PRAGMA {VIEWS_SCHEMA}.{pragma}" for pragma in
                       ("journal_mode = MEMORY", "synchronous = OFF",
                        f"cache_size = -{FRESH_CACHE_KIB}")]
            datastore = SQLiteDatastore(self.datastore.pool.db_name, pool_size=2,
                                        max_overflow=2,
                                        lock_timeout=self.datastore.pool.lock_timeout)
            fresh = SqlStore(self.recorder, self.kind, self.schema,
                             FixedViews(views_uri(files.path(generation)), pragmas), datastore)
            fresh.view_names = set(self.view_names)
            try:
                yield fresh
                with datastore.get_connection(commit=True) as connection:
                    fresh._attach(connection)
                    raw = connection._sqlite_conn
                    raw.execute(f"PRAGMA {VIEWS_SCHEMA}.journal_mode = WAL")
            except BaseException:
                datastore.close()
                files.remove(generation)
                raise
            datastore.close()
            files.point_to(generation)
            files.cleanup(locked=True)

    def adopt_views(self) -> list[str]:
        """Move the views' tables (the names registered) that a store written before the
        views had their own database keeps beside its events into the views' database;
        returns the tables moved (none: one read).

        SQLite: each table is created again in the views' file from its own ``CREATE``
        text, its rows copied and its indexes made again (one transaction), then the old
        tables are dropped (another): a crash in between copies again on the next open.
        PostgreSQL: ``ALTER TABLE … SET SCHEMA`` (indexes move with their table)."""
        if not self._routes:
            return []
        if self.is_postgres:
            with self.transaction(commit=True) as cursor:
                moved = []
                for name in sorted(self.view_names):
                    self.execute(cursor, "SELECT to_regclass(?) IS NOT NULL AS found",
                                 (self._quoted(self.schema, name),))
                    if not cursor.fetchone()["found"]:
                        continue
                    self.execute(cursor, f"DROP TABLE IF EXISTS {self.table(name)}")
                    self.execute(cursor, f"ALTER TABLE {self._quoted(self.schema, name)} "
                                         f"SET SCHEMA {self._quoted(self.views_schema)}")
                    moved.append(name)
            return moved
        with self.transaction(commit=False) as cursor:
            self.execute(cursor, "SELECT type, name, tbl_name, sql FROM main.sqlite_master "
                                 "WHERE sql IS NOT NULL")
            found = [dict(row) for row in cursor.fetchall()]
        tables = [r for r in found if r["type"] == "table" and r["name"] in self.view_names]
        if not tables:
            return []
        names = {r["name"] for r in tables}
        with self.transaction(commit=True) as cursor:
            for row in tables:
                name = row["name"]
                self.execute(cursor, f"DROP TABLE IF EXISTS {VIEWS_SCHEMA}.{name}")
                self.execute(cursor, _LEADING_TABLE.sub(
                    f"CREATE TABLE {VIEWS_SCHEMA}.{name}", row["sql"], count=1))
                self.execute(cursor, f"INSERT INTO {VIEWS_SCHEMA}.{name} SELECT * FROM "
                                     f"main.{name}")
            for row in found:
                if row["type"] == "index" and row["tbl_name"] in names:
                    self.execute(cursor, _LEADING_INDEX.sub(
                        rf"CREATE \1INDEX {VIEWS_SCHEMA}.{row['name']}", row["sql"], count=1))
        with self.transaction(commit=True) as cursor:
            for name in sorted(names):
                self.execute(cursor, f"DROP TABLE main.{name}")
        return sorted(names)

    @staticmethod
    def _quoted(*parts: str) -> str:
        return ".".join('"' + part.replace('"', '""') + '"' for part in parts)

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
                                 "WHERE table_schema = ? AND table_name = ?",
                         (self._schema_of(table), table))
        else:
            schema = VIEWS_SCHEMA if self.in_views(table) else "main"
            self.execute(cursor, "SELECT name FROM pragma_table_info(?, ?)", (table, schema))
        return {row["name"] for row in cursor.fetchall()}

    def index_names(self, cursor: Any) -> set[str]:
        """The names of the indexes that exist (in the store's schema and its views' on
        PostgreSQL; in the events' and the views' databases on SQLite)."""
        if self.is_postgres:
            self.execute(cursor, "SELECT indexname AS name FROM pg_indexes "
                                 "WHERE schemaname IN (?, ?)", (self.schema, self.views_schema))
        elif self.views is not None:
            self.execute(cursor, "SELECT name FROM sqlite_master WHERE type = 'index' UNION "
                                 f"SELECT name FROM {VIEWS_SCHEMA}.sqlite_master "
                                 "WHERE type = 'index'")
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
            self._attach(connection)
            raw = connection._sqlite_conn  # VACUUM runs outside any transaction
            for schema in ("main", VIEWS_SCHEMA) if self.views is not None else ("main",):
                raw.execute(f"VACUUM {schema}")
                raw.execute(f"PRAGMA {schema}.wal_checkpoint(TRUNCATE)")

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> None:
        """Run one statement with dialect-adapted placeholders."""
        cursor.execute(self.sql(statement), tuple(params))

    def executemany(self, cursor: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many rows."""
        if rows:
            cursor.executemany(self.sql(statement), [tuple(r) for r in rows])

    def table_exists(self, cursor: Any, name: str) -> bool:
        """True if the table ``name`` exists (in its schema on PostgreSQL, its database on
        SQLite)."""
        if self.is_postgres:
            self.execute(cursor, "SELECT to_regclass(?) IS NOT NULL AS found", (self.table(name),))
        else:
            master = f"{VIEWS_SCHEMA}.sqlite_master" if self.in_views(name) else "sqlite_master"
            self.execute(cursor, f"SELECT COUNT(*) > 0 AS found FROM {master} "
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
    return f"CREATE {kind} IF NOT EXISTS {sql.index_on(name, table)} ({columns})"
