"""The freshness rule's bookkeeping in tables, so the alert process's JSON state stays
small however long a stream goes without a watermark.

Until a freshness window is final the rule holds one pending entry per accepted publish,
one entry per visibility not yet matched, and the counts of every open window (see
:mod:`opsledger.domain.freshness_rule`). With the audit imported before its snapshots
that is the whole history; kept in the process's JSON state it was parsed and rewritten
for every batch. Here each is a row keyed by (tenant, ...), read and written one at a
time through the process's cursor, so it commits with the position and the rest of the
state (exactly once; a crash leaves the last commit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsledger.projections._sql import SqlStore

__all__ = ["PENDING", "TABLES", "VISIBLE", "WINDOWS", "FreshRows", "create_tables",
           "forget"]

PENDING = "alert_fresh_pending"
VISIBLE = "alert_fresh_visible"
WINDOWS = "alert_fresh_windows"
TABLES = (PENDING, VISIBLE, WINDOWS)


def create_tables(sql: SqlStore, cursor: Any) -> None:
    """Pending acceptances, visibilities and open windows, per tenant."""
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(PENDING)} (tenant_id TEXT NOT "
                        "NULL, fkey TEXT NOT NULL, at BIGINT NOT NULL, win BIGINT NOT NULL, "
                        "on_time INTEGER NOT NULL, due BIGINT NOT NULL, "
                        "PRIMARY KEY (tenant_id, fkey))")
    sql.execute(cursor, f"CREATE INDEX IF NOT EXISTS alert_fresh_pending_win ON "
                        f"{sql.table(PENDING)} (tenant_id, win)")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(VISIBLE)} (tenant_id TEXT NOT "
                        "NULL, fkey TEXT NOT NULL, at BIGINT NOT NULL, "
                        "PRIMARY KEY (tenant_id, fkey))")
    sql.execute(cursor, f"CREATE INDEX IF NOT EXISTS alert_fresh_visible_at ON "
                        f"{sql.table(VISIBLE)} (tenant_id, at)")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(WINDOWS)} (tenant_id TEXT NOT "
                        "NULL, win BIGINT NOT NULL, accepted BIGINT NOT NULL, on_time BIGINT "
                        "NOT NULL, width BIGINT NOT NULL, PRIMARY KEY (tenant_id, win))")


def forget(sql: SqlStore, cursor: Any, tenant_id: str) -> int:
    """Delete a forgotten tenant's rows; how many went."""
    removed = 0
    for table in TABLES:
        sql.execute(cursor, f"DELETE FROM {sql.table(table)} WHERE tenant_id = ?", (tenant_id,))
        removed += sql.rowcount(cursor)
    return removed


class FreshRows:
    """One tenant's freshness bookkeeping as rows (a ``FreshTables`` of the engine)."""

    def __init__(self, sql: SqlStore, cursor: Any, tenant: str) -> None:
        self.sql, self.cursor, self.tenant = sql, cursor, tenant
        self.pending_t, self.visible_t = sql.table(PENDING), sql.table(VISIBLE)
        self.windows_t = sql.table(WINDOWS)

    def _one(self, statement: str, params: tuple[Any, ...]) -> Any:
        return self.sql.fetch_one(self.cursor, statement, (self.tenant, *params))

    def _run(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        self.sql.execute(self.cursor, statement, (self.tenant, *params))

    def pending(self, key: str) -> list[Any] | None:
        """See ``FreshStore``."""
        row = self._one(f"SELECT at, win, on_time, due FROM {self.pending_t} "
                        "WHERE tenant_id = ? AND fkey = ?", (key,))
        if row is None:
            return None
        return [int(row["at"]), str(row["win"]), bool(row["on_time"]), int(row["due"])]

    def add_pending(self, key: str, entry: list[Any]) -> None:
        """See ``FreshStore``."""
        at, window, on_time, due, width = entry
        self._run(f"INSERT INTO {self.pending_t} VALUES (?, ?, ?, ?, ?, ?)",
                  (key, at, int(window), int(on_time), due))
        self._count(int(window), 1, int(on_time), width)

    def _count(self, window: int, accepted: int, on_time: int, width: int) -> None:
        self._run(f"INSERT INTO {self.windows_t} VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                  "(tenant_id, win) DO UPDATE SET accepted = "
                  f"{self.windows_t}.accepted + excluded.accepted, on_time = "
                  f"{self.windows_t}.on_time + excluded.on_time",
                  (window, accepted, on_time, width))

    def mark_on_time(self, key: str, window: str) -> None:
        """See ``FreshStore``."""
        self._run(f"UPDATE {self.pending_t} SET on_time = 1 WHERE tenant_id = ? AND fkey = ?",
                  (key,))
        self._run(f"UPDATE {self.windows_t} SET on_time = on_time + 1 WHERE tenant_id = ? "
                  "AND win = ?", (int(window),))

    def visible(self, key: str) -> int | None:
        """See ``FreshStore``."""
        row = self._one(f"SELECT at FROM {self.visible_t} WHERE tenant_id = ? AND fkey = ?",
                        (key,))
        return None if row is None else int(row["at"])

    def set_visible(self, key: str, at: int) -> None:
        """See ``FreshStore``."""
        self._run(f"INSERT INTO {self.visible_t} VALUES (?, ?, ?) ON CONFLICT "
                  "(tenant_id, fkey) DO UPDATE SET at = excluded.at", (key, at))

    def first_window(self) -> tuple[str, list[int]] | None:
        """See ``FreshStore``."""
        row = self._one(f"SELECT win, accepted, on_time, width FROM {self.windows_t} "
                        "WHERE tenant_id = ? ORDER BY win LIMIT 1", ())
        if row is None:
            return None
        return str(row["win"]), [int(row["accepted"]), int(row["on_time"]), int(row["width"])]

    def close_window(self, window: str) -> None:
        """See ``FreshStore``."""
        win = int(window)
        self._run(f"DELETE FROM {self.visible_t} WHERE tenant_id = ? AND fkey IN (SELECT fkey "
                  f"FROM {self.pending_t} WHERE tenant_id = ? AND win = ?)",
                  (self.tenant, win))
        self._run(f"DELETE FROM {self.pending_t} WHERE tenant_id = ? AND win = ?", (win,))
        self._run(f"DELETE FROM {self.windows_t} WHERE tenant_id = ? AND win = ?", (win,))

    def prune_visible(self, horizon: int) -> None:
        """See ``FreshStore``."""
        self._run(f"DELETE FROM {self.visible_t} WHERE tenant_id = ? AND at < ? AND NOT "
                  f"EXISTS (SELECT 1 FROM {self.pending_t} p WHERE p.tenant_id = "
                  f"{self.visible_t}.tenant_id AND p.fkey = {self.visible_t}.fkey)",
                  (horizon,))

    def snapshot(self, limit: int) -> dict[str, Any] | None:
        """The bookkeeping as the JSON state keeps it (``windows``/``pending``/
        ``visible``), or None when any part holds more than ``limit`` rows (reads at most
        ``limit + 1`` rows of each)."""
        found: dict[str, Any] = {}
        for table, columns in ((self.pending_t, "fkey, at, win, on_time, due"),
                               (self.visible_t, "fkey, at"),
                               (self.windows_t, "win, accepted, on_time, width")):
            self.sql.execute(self.cursor, f"SELECT {columns} FROM {table} WHERE tenant_id = ? "
                                          "LIMIT ?", (self.tenant, limit + 1))
            rows = self.cursor.fetchall()
            if len(rows) > limit:
                return None
            found[table] = rows
        return {
            "pending": {r["fkey"]: [int(r["at"]), str(r["win"]), bool(r["on_time"]),
                                    int(r["due"])] for r in found[self.pending_t]},
            "visible": {r["fkey"]: int(r["at"]) for r in found[self.visible_t]},
            "windows": {str(r["win"]): [int(r["accepted"]), int(r["on_time"]), int(r["width"])]
                        for r in found[self.windows_t]},
        }

    def clear(self) -> None:
        """Forget everything held for the tenant (a re-run rebuilds it)."""
        forget(self.sql, self.cursor, self.tenant)

    def load(self, fresh: dict[str, Any]) -> None:
        """Take over a JSON state's bookkeeping (the state it came from drops it)."""
        self.sql.executemany(self.cursor, f"INSERT INTO {self.pending_t} VALUES "
                                          "(?, ?, ?, ?, ?, ?)",
                             [(self.tenant, k, p[0], int(p[1]), int(bool(p[2])), p[3])
                              for k, p in fresh.get("pending", {}).items()])
        self.sql.executemany(self.cursor, f"INSERT INTO {self.visible_t} VALUES (?, ?, ?)",
                             [(self.tenant, k, at)
                              for k, at in fresh.get("visible", {}).items()])
        self.sql.executemany(self.cursor, f"INSERT INTO {self.windows_t} VALUES "
                                          "(?, ?, ?, ?, ?)",
                             [(self.tenant, int(w), c[0], c[1], c[2])
                              for w, c in fresh.get("windows", {}).items()])
