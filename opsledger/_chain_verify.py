"""Walking the hash chain (``opsledger verify``): events and links together, in batches of
notification ids, each batch one read-only transaction — memory stays flat.

Each batch is one ``events LEFT JOIN chain`` range query (the join runs in the database);
a link without its event (a deleted event row) is found by comparing the number of links
in the range with the number of events that found theirs, and only then located.
"""

from __future__ import annotations

import hashlib
from contextlib import closing
from typing import Any

from opsledger.chain import CHAIN_TABLE, GENESIS, HEADER, ChainReport, Checkpoint, originator_text
from opsledger.projections import SqlStore

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
        # turned into hex text in Python).
        self.oid, self.topic = (("e.originator_id", "convert_to(e.topic, 'UTF8')")
                                if sql.is_postgres else
                                ("CAST(e.originator_id AS BLOB)", "CAST(e.topic AS BLOB)"))


def _scalar(sql: SqlStore, cursor: Any, statement: str, params: tuple[Any, ...] = ()) -> Any:
    sql.execute(cursor, statement, params)
    row = cursor.fetchone()
    return None if row is None else row[0]


def _start(sql: SqlStore, names: _Names, start: int) -> tuple[int, int, bytes]:
    """The bound (highest id in either table, now) and the trusted link before ``start``."""
    with sql.transaction(commit=False) as cursor, closing(sql.tuple_cursor(cursor)) as raw:
        bound = max(_scalar(sql, raw, f"SELECT MAX({names.id}) FROM {names.events}") or 0,
                    _scalar(sql, raw, f"SELECT MAX(notification_id) FROM {names.chain}") or 0)
        sql.execute(raw, f"SELECT notification_id, hash FROM {names.chain} WHERE "
                         f"notification_id < ? ORDER BY notification_id DESC LIMIT 1", (start,))
        row = raw.fetchone()
    return (bound, 0, GENESIS) if row is None else (bound, int(row[0]), bytes(row[1]))


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
    select = (f"SELECT e.{names.id}, {names.oid}, e.originator_version, {names.topic}, e.state, "
              f"c.hash FROM {names.events} e LEFT JOIN {names.chain} c ON "
              f"c.notification_id = e.{names.id} WHERE e.{names.id} > ? AND e.{names.id} <= ? "
              f"ORDER BY e.{names.id} LIMIT ?")
    while lo < bound:
        bad: tuple[int, str] | None = None
        with (sql.transaction(commit=False) as cursor,
              closing(sql.tuple_cursor(cursor)) as raw):
            sql.execute(raw, select, (lo, bound, batch))
            rows = raw.fetchall()
            hi = rows[-1][0] if len(rows) == batch else bound
            linked = 0
            for n, o, version, t, state, stored in rows:
                if stored is None:
                    bad = (n, "event without its chain link (link deleted or event inserted)")
                    break
                if type(o) is not bytes:
                    o = originator_text(o).encode()
                prev = _sha256(_join((prev, _header(n, version, len(o), len(t), len(state)),
                                      o, t, state))).digest()
                if prev != stored:
                    bad = (n, "link does not match the event as stored (event or link altered, "
                              "rows swapped, or an earlier event deleted)")
                    break
                linked += 1
                last = n
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
        stored = _scalar(sql, raw, f"SELECT hash FROM {names.chain} WHERE notification_id = ?",
                         (checkpoint.n,))
    if stored is None or bytes(stored) != checkpoint.hash:
        return ChainReport(False, checked, checkpoint.n,
                           f"the history up to the checkpoint's n={checkpoint.n} differs from "
                           "the signed one (rewritten)", last)
    return ChainReport(True, checked, head=last)
