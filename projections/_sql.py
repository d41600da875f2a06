"""What the views need of the SQL layer (a protocol), and two helpers for their SQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol
from uuid import UUID

__all__ = ["SqlStore", "create_index", "equals"]


class SqlStore(Protocol):
    """The SQL layer the views are given (the concrete one, and the one home of the
    SQLite/PostgreSQL differences, is :class:`opsledger.store.sql.SqlStore`; the views see
    only this protocol, so :mod:`opsledger.projections` imports nothing above the domain).

    Views write SQL once with ``?`` placeholders; the layer adapts them to the driver.
    """

    recorder: Any
    datastore: Any
    events_table: str
    kind: str
    schema: str
    is_postgres: bool

    def table(self, name: str) -> str:
        """A table name, schema-qualified on PostgreSQL; a view's table (a name given to
        :meth:`register_views`) lives in the views' database or schema."""

    def register_views(self, names: Sequence[str]) -> None:
        """Route the tables and indexes ``names`` to the views' database."""

    def index_on(self, name: str, table: str) -> str:
        """``<index> ON <table>`` of a ``CREATE INDEX`` on ``table``."""

    def fresh_views(self) -> AbstractContextManager[SqlStore | None]:
        """A SQL layer over a new, empty views database, swapped in when the block ends
        without an error (None: the store rebuilds its views in place)."""

    def adopt_views(self) -> list[str]:
        """Move the registered tables found beside the events into the views' database."""

    def sql(self, statement: str) -> str:
        """Adapt ``?`` placeholders to the driver."""

    def transaction(self, *, commit: bool, durable: bool = True
                    ) -> AbstractContextManager[Any]:
        """A cursor in one transaction (committed on success when ``commit``)."""

    def tuple_cursor(self, cursor: Any) -> Any:
        """A driver cursor in ``cursor``'s transaction whose rows are plain tuples."""

    def uuid_text(self, column: str) -> str:
        """SQL text of an aggregate id ``column`` as the canonical UUID text."""

    def zero_padded(self, expression: str, width: int) -> str:
        """SQL text of a non-negative integer as ``width`` zero-padded digits."""

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of one read-only query, as dicts."""

    def fetch_one(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one query in the caller's transaction (None if none)."""

    def rowcount(self, cursor: Any) -> int:
        """Rows changed by the cursor's last statement."""

    def compact(self) -> None:
        """Reclaim the bytes of deleted rows on disk (SQLite)."""

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> None:
        """Run one statement with dialect-adapted placeholders."""

    def executemany(self, cursor: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many rows."""

    def table_exists(self, cursor: Any, name: str) -> bool:
        """True if the table ``name`` exists."""

    def id_param(self, originator_id: UUID) -> Any:
        """An aggregate id as the events table stores it."""

    def select_stored_events(
        self, cursor: Any, ids: Sequence[UUID], newer_than: dict[UUID, int] | None = None
    ) -> list[Any]:
        """Stored events of the given aggregates, ordered by stream and version."""

    def insert_stored_events(self, cursor: Any, stored_events: Sequence[Any]) -> None:
        """Append stored events inside the caller's transaction."""

    @property
    def unique_violations(self) -> tuple[type[BaseException], ...]:
        """The errors a unique or primary key violation raises."""

    @property
    def lost_connection(self) -> tuple[type[BaseException], ...]:
        """The errors of a connection that broke (not of a statement that failed)."""

    def binary_order(self, column: str) -> str:
        """``column`` compared byte by byte (code point order)."""

    def lock_table(self, cursor: Any, name: str) -> None:
        """Order concurrent writers of ``name`` until the transaction ends."""

    def column_names(self, cursor: Any, table: str) -> set[str]:
        """The columns the table ``table`` has now."""

    def index_names(self, cursor: Any) -> set[str]:
        """The names of the indexes that exist."""

    def position_column(self) -> str:
        """The events table's column of log positions."""

    def state_bytes(self, column: str = "state") -> str:
        """SQL text of a stored event's state as bytes."""

    def stream(self, cursor: Any, statement: str, params: Sequence[Any], batch: int
               ) -> Iterator[dict[str, Any]]:
        """The rows of one query, as dicts, in ``cursor``'s transaction, ``batch`` at a time."""


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
