"""Walking the hash chain (``opsledger verify``): events and links together, in batches of
notification ids, each batch one read-only transaction — memory stays flat.

Each batch is one ``events LEFT JOIN chain`` range query (the join runs in the database);
a link without its event (a deleted event row) is found by comparing the number of links
in the range with the number of events that found theirs, and only then located.
"""

from __future__ import annotations

import hashlib
import struct
from contextlib import closing
from typing import Any

from opsledger.store.chain import (
    CHAIN_TABLE,
    GENESIS,
    HEADER,
    ChainReport,
    Checkpoint,
    originator_text,
)
from opsledger.store.sql import SqlStore

__all__ = ["verify_chain"]

_header = HEADER.pack
_sha256 = hashlib.sha256
_join = b"".join


class _Names:
    def __init__(self, sql: SqlStore) -> None:
        self.events = sql.table(sql.events_table)
        self.chain = sql.table(CHAIN_TABLE)
        self.id = "notification_id" if sql.is_postgres else "rowid"
        # The text columns as UTF-8 bytes, made by the database (PostgreSQL's uuid is
        # turned into hex text in Python). On SQLite every column is read as bytes whatever
        # type a tampering gave it (a state rewritten as TEXT that is not UTF-8 cannot even
        # be fetched as text), and ``typed`` is 1 only while each column keeps the type the
        # recorder writes: a value rewritten with another type is a change, even with the
        # same bytes.
        if sql.is_postgres:
            self.oid, self.topic, self.state = ("e.originator_id",
                                                "convert_to(e.topic, 'UTF8')", "e.state")
            self.hash, self.typed = "c.hash", "1"
        else:
            self.oid, self.topic, self.state = ("CAST(e.originator_id AS BLOB)",
                                                "CAST(e.topic AS BLOB)", "CAST(e.state AS BLOB)")
            self.hash = "CAST(c.hash AS BLOB)"
            self.typed = ("(typeof(e.originator_id) = 'text' AND typeof(e.originator_version) "
                          "= 'integer' AND typeof(e.topic) = 'text' AND typeof(e.state) = "
                          "'blob' AND typeof(c.hash) IN ('blob', 'null'))")
        self.stored_hash = "hash" if sql.is_postgres else "CAST(hash AS BLOB)"


def _scalar(sql: SqlStore, cursor: Any, statement: str, params: tuple[Any, ...] = ()) -> Any:
    sql.execute(cursor, statement, params)
    row = cursor.fetchone()
    return None if row is None else row[0]


def _start(sql: SqlStore, names: _Names, start: int) -> tuple[int, int, bytes]:
    """The bound (highest id in either table, now) and the trusted link before ``start``."""
    with sql.transaction(commit=False) as cursor, closing(sql.tuple_cursor(cursor)) as raw:
        bound = max(_scalar(sql, raw, f"SELECT MAX({names.id}) FROM {names.events}") or 0,
                    _scalar(sql, raw, f"SELECT MAX(notification_id) FROM {names.chain}") or 0)
        sql.execute(raw, f"SELECT notification_id, {names.stored_hash} FROM {names.chain} WHERE "
                         f"notification_id < ? ORDER BY notification_id DESC LIMIT 1", (start,))
        row = raw.fetchone()
    if row is None or type(row[1]) is not bytes or len(row[1]) != len(GENESIS):
        return bound, 0, GENESIS  # (an altered link before ``start`` fails at its own turn)
    return bound, int(row[0]), row[1]


def _retyped(sql: SqlStore, raw: Any, names: _Names, n: int) -> str:
    """Why event ``n``'s row fails the type check: which columns changed type (SQLite)."""
    sql.execute(raw, f"SELECT typeof(e.originator_id), typeof(e.originator_version), "
                     f"typeof(e.topic), typeof(e.state), typeof(c.hash) FROM {names.events} e "
                     f"LEFT JOIN {names.chain} c ON c.notification_id = e.{names.id} "
                     f"WHERE e.{names.id} = ?", (n,))
    found = raw.fetchone() or ()
    expected = ("text", "integer", "text", "blob", "blob")
    columns = ("originator_id", "originator_version", "topic", "state", "chain hash")
    changed = [f"{c} is {t}, not {e}" for c, t, e in zip(columns, found, expected, strict=False)
               if t != e]
    return f"event row altered: {', '.join(changed) or 'a column changed type'}"


def _orphan(sql: SqlStore, raw: Any, names: _Names, lo: int, hi: int, linked: int) -> int | None:
    """The first link in ``(lo, hi]`` whose event row is missing, if any."""
    links = _scalar(sql, raw, f"SELECT COUNT(*) FROM {names.chain} WHERE notification_id > ? "
                              "AND notification_id <= ?", (lo, hi))
    if links == linked:
        return None
    return _scalar(sql, raw,  # type: ignore[no-any-return]
                   f"SELECT MIN(c.notification_id) FROM {names.chain} c WHERE "
                   f"c.notification_id > ? AND c.notification_id <= ? AND NOT EXISTS "
                   f"(SELECT 1 FROM {names.events} e WHERE e.{names.id} = c.notification_id)",
                   (lo, hi))


def verify_chain(sql: SqlStore, *, from_position: int | None = None,
                 checkpoint: Checkpoint | None = None, batch: int = 20_000) -> ChainReport:
    """Check every link from ``from_position`` (default 1, trusting the stored link before
    it) and, given a ``checkpoint``, that the history up to its ``n`` is the signed one."""
    names = _Names(sql)
    start = max(from_position or 1, 1)
    bound, last, prev = _start(sql, names, start)
    lo, checked = start - 1, 0
    select = (f"SELECT e.{names.id}, {names.oid}, e.originator_version, {names.topic}, "
              f"{names.state}, {names.hash}, {names.typed} FROM {names.events} e LEFT JOIN "
              f"{names.chain} c ON "
              f"c.notification_id = e.{names.id} WHERE e.{names.id} > ? AND e.{names.id} <= ? "
              f"ORDER BY e.{names.id} LIMIT ?")
    while lo < bound:
        bad: tuple[int, str] | None = None
        with (sql.transaction(commit=False) as cursor,
              closing(sql.tuple_cursor(cursor)) as raw):
            sql.execute(raw, select, (lo, bound, batch))
            rows = raw.fetchall()
            hi = rows[-1][0] if len(rows) == batch else bound
            linked = n = 0
            try:
                for n, o, version, t, state, stored, typed in rows:
                    if stored is None:
                        bad = (n, "event without its chain link (link deleted or event "
                                  "inserted)")
                        break
                    if not typed:
                        bad = (n, _retyped(sql, raw, names, n))
                        break
                    if type(o) is not bytes:
                        o = originator_text(o).encode()
                    prev = _sha256(_join((prev, _header(n, version, len(o), len(t),
                                                        len(state)), o, t, state))).digest()
                    if prev != stored:
                        bad = (n, "link does not match the event as stored (event or link "
                                  "altered, rows swapped, or an earlier event deleted)")
                        break
                    linked += 1
                    last = n
            except (TypeError, ValueError, AttributeError, struct.error) as exc:
                bad = (n, f"event row cannot be read as stored: a column was altered "
                          f"({type(exc).__name__}: {str(exc)[:80]})")
            orphan = _orphan(sql, raw, names, lo, bad[0] - 1 if bad else hi, linked)
        if orphan is not None:
            return ChainReport(False, checked + linked, orphan,
                               "chain link without its event (event row deleted)", last)
        checked += linked
        if bad is not None:
            return ChainReport(False, checked, bad[0], bad[1], last)
        lo = hi
    if checkpoint is not None and checkpoint.n > 0:
        return _against(sql, names, checkpoint, checked, last)
    return ChainReport(True, checked, head=last)


def _against(sql: SqlStore, names: _Names, checkpoint: Checkpoint, checked: int,
             last: int) -> ChainReport:
    """The (valid) chain versus a signed checkpoint ``(n, h_n)``."""
    if last < checkpoint.n:
        return ChainReport(False, checked, last + 1,
                           f"history ends at {last}, before the checkpoint's n={checkpoint.n} "
                           "(truncated)", last)
    with sql.transaction(commit=False) as cursor, closing(sql.tuple_cursor(cursor)) as raw:
        stored = _scalar(sql, raw, f"SELECT {names.stored_hash} FROM {names.chain} WHERE "
                                   "notification_id = ?", (checkpoint.n,))
    if type(stored) is not bytes or stored != checkpoint.hash:
        return ChainReport(False, checked, checkpoint.n,
                           f"the history up to the checkpoint's n={checkpoint.n} differs from "
                           "the signed one (rewritten)", last)
    return ChainReport(True, checked, head=last)
