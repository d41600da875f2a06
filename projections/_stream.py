"""Rows read as they are needed, in bounded batches: a server-side (named) cursor on
PostgreSQL, the driver's lazy cursor on SQLite. Nothing here holds a whole result, so a
long read (an unbounded audit list, a year's replay, an export) runs in memory flat in
its length."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from opsledger.projections._sql import SqlStore

__all__ = ["BATCH", "merge_ordered", "ordered_within", "stream_query", "stream_rows", "text_order"]

#: Rows fetched from the server (or the SQLite cursor) at a time.
BATCH = 1000
T = TypeVar("T")


def stream_rows(
    sql: SqlStore, cursor: Any, statement: str, params: Sequence[Any] = (), batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """The rows of one query, as dicts, in ``cursor``'s transaction, ``batch`` at a time.
    Several streams may be open at once on one transaction."""
    return sql.stream(cursor, statement, params, batch)


def stream_query(
    sql: SqlStore, statement: str, params: Sequence[Any] = (), batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """:func:`stream_rows` in a read transaction of its own, held while the rows are read."""
    with sql.transaction(commit=False) as cursor:
        yield from stream_rows(sql, cursor, statement, params, batch)


def text_order(sql: SqlStore, column: str) -> str:
    """``column`` for an ORDER BY that sorts text by code point, as Python does (SQLite's
    default; PostgreSQL's database collation may be a locale's)."""
    return sql.binary_order(column)


def ordered_within(
    rows: Iterable[T], at: Callable[[T], Any], key: Callable[[T], Any]
) -> Iterator[T]:
    """``rows`` (already in ``at`` order) with each run of equal ``at`` sorted by ``key``
    (stably): a stream in ``key`` order as long as ``key`` starts with ``at``. Only one
    run is held at a time."""
    for _, run in itertools.groupby(rows, key=at):
        yield from sorted(run, key=key)


def merge_ordered(streams: Sequence[Iterable[T]], key: Callable[[T], Any]) -> Iterator[T]:
    """Merge streams each in ``key`` order into one (ties keep the streams' order, as a
    stable sort of their concatenation would)."""
    return heapq.merge(*streams, key=key)
