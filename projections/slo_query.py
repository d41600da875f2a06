"""Reading the SLO view: counts, exact latency histograms and freshness over a period.

Scope is explicit: a tenant, optionally one repository, or (operator scope) every tenant
when ``tenant_id`` is None. Times are fixed-width UTC text: minutes ``YYYY-MM-DDTHH:MM``
for buckets, full ``…Z`` stamps for freshness rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opsledger.projections._sql import SqlStore, equals
from opsledger.projections.slo import COUNTERS

__all__ = ["FreshnessCounts", "counts", "counts_by_repository", "daily_counts",
           "daily_freshness", "daily_latency", "freshness", "freshness_by_repository",
           "latency_by_repository", "latency_histogram", "minute_scope", "pending_freshness",
           "repositories", "unresolved_isolation_incidents"]

#: A minute's or a stamp's UTC day (``YYYY-MM-DD``), the same SQL on SQLite and PostgreSQL.
_DAY = "substr({}, 1, 10)"


def _scope(tenant_id: str | None, repository_id: str | None) -> tuple[str, list[Any]]:
    clauses, params = equals(tenant_id=tenant_id, repository_id=repository_id)
    return "".join(f" AND {c}" for c in clauses), params


def _repository_ids(sql: SqlStore, cursor: Any, table: str, tenant_id: str,
                    minutes: tuple[str, str] | None = None) -> list[str]:
    """The tenant's repositories in ``table`` (whose primary key starts ``tenant_id,
    repository_id, minute``) — with ``minutes``, those with a row in ``[start, end)`` — in
    order, one index seek each (a loose index scan), not one row per minute."""
    name = sql.table(table)
    within, params = "", [tenant_id, tenant_id]
    if minutes is not None:
        within = (f" AND EXISTS (SELECT 1 FROM {name} WHERE tenant_id = ? AND "
                  "repository_id = r.repo AND minute >= ? AND minute < ?)")
        params += [tenant_id, *minutes]
    sql.execute(cursor, f"WITH RECURSIVE r(repo) AS (SELECT MIN(repository_id) FROM {name} "
                        "WHERE tenant_id = ? UNION ALL SELECT (SELECT MIN(repository_id) FROM "
                        f"{name} WHERE tenant_id = ? AND repository_id > r.repo) FROM r "
                        f"WHERE r.repo IS NOT NULL) SELECT repo FROM r WHERE repo IS NOT NULL"
                        f"{within} ORDER BY repo", params)
    return [str(row["repo"]) for row in cursor.fetchall()]


@contextmanager
def _reading(sql: SqlStore, cursor: Any | None) -> Iterator[Any]:
    """``cursor`` (a caller's read that makes several queries in one transaction: one
    round trip each on PostgreSQL, no BEGIN/ROLLBACK between), or a read transaction."""
    if cursor is not None:
        yield cursor
    else:
        with sql.transaction(commit=False) as own:
            yield own


#: A read's tenant scopes of the minute tables, by table (see :func:`minute_scope`).
Scopes = dict[str, tuple[str, list[Any]]]


def _tenant_scope(sql: SqlStore, cursor: Any, table: str, tenant_id: str,
                  scopes: Scopes | None) -> tuple[str, list[Any]]:
    if scopes is None:
        return minute_scope(sql, cursor, table, tenant_id, None)
    if table not in scopes:
        scopes[table] = minute_scope(sql, cursor, table, tenant_id, None)
    return scopes[table]


def minute_scope(sql: SqlStore, cursor: Any, table: str, tenant_id: str | None,
                 repository_id: str | None) -> tuple[str, list[Any]]:
    """``_scope`` for the minute tables (``slo_minute``, ``slo_latency``: primary key
    ``tenant_id, repository_id, minute, …``). A tenant's total names its repositories, so
    that a range of minutes is a range of that key for each of them — read in proportion to
    the period, not to the tenant's whole history (the same rows, the same sums)."""
    if tenant_id is None or repository_id is not None:
        return _scope(tenant_id, repository_id)
    repositories = _repository_ids(sql, cursor, table, tenant_id)
    if not repositories:
        return _scope(tenant_id, None)
    marks = ", ".join("?" for _ in repositories)
    return f" AND tenant_id = ? AND repository_id IN ({marks})", [tenant_id, *repositories]


def counts(
    sql: SqlStore, tenant_id: str | None, repository_id: str | None, start: str, end: str
) -> dict[str, int]:
    """Summed counters over minutes ``[start, end)``."""
    sums = ", ".join(f"COALESCE(SUM({c}), 0) AS {c}" for c in COUNTERS)
    with sql.transaction(commit=False) as cursor:
        scope, params = minute_scope(sql, cursor, "slo_minute", tenant_id, repository_id)
        sql.execute(cursor, f"SELECT {sums} FROM {sql.table('slo_minute')} "
                            f"WHERE minute >= ? AND minute < ?{scope}", [start, end, *params])
        row = cursor.fetchone()
    return {c: int(row[c]) for c in COUNTERS}


def latency_histogram(
    sql: SqlStore, tenant_id: str | None, repository_id: str | None, start: str, end: str
) -> list[tuple[int, int]]:
    """(latency_ms, count) pairs over minutes ``[start, end)``, ascending."""
    with sql.transaction(commit=False) as cursor:
        scope, params = minute_scope(sql, cursor, "slo_latency", tenant_id, repository_id)
        sql.execute(cursor, f"SELECT latency_ms, SUM(n) AS n FROM {sql.table('slo_latency')} "
                            f"WHERE minute >= ? AND minute < ?{scope} "
                            "GROUP BY latency_ms ORDER BY latency_ms", [start, end, *params])
        return [(int(r["latency_ms"]), int(r["n"])) for r in cursor.fetchall()]


def counts_by_repository(
    sql: SqlStore, tenant_id: str, start: str, end: str, *, cursor: Any | None = None,
    scopes: Scopes | None = None,
) -> dict[str, dict[str, int]]:
    """:func:`counts` of each of the tenant's repositories with facts in minutes ``[start,
    end)`` (one pass; the tenant's total is their sum). ``cursor``: in the caller's read;
    ``scopes``: the tenant scopes it found already (filled in)."""
    sums = ", ".join(f"COALESCE(SUM({c}), 0) AS {c}" for c in COUNTERS)
    with _reading(sql, cursor) as cursor:
        scope, params = _tenant_scope(sql, cursor, "slo_minute", tenant_id, scopes)
        sql.execute(cursor, f"SELECT repository_id, {sums} FROM {sql.table('slo_minute')} "
                            f"WHERE minute >= ? AND minute < ?{scope} GROUP BY repository_id",
                    [start, end, *params])
        return {r["repository_id"]: {c: int(r[c]) for c in COUNTERS}
                for r in cursor.fetchall()}


def latency_by_repository(
    sql: SqlStore, tenant_id: str, start: str, end: str, *, cursor: Any | None = None,
    scopes: Scopes | None = None,
) -> dict[str, list[tuple[int, int]]]:
    """:func:`latency_histogram` of each of the tenant's repositories with facts in minutes
    ``[start, end)`` (one pass; ``cursor`` and ``scopes`` as for
    :func:`counts_by_repository`)."""
    found: dict[str, list[tuple[int, int]]] = {}
    with _reading(sql, cursor) as cursor:
        scope, params = _tenant_scope(sql, cursor, "slo_latency", tenant_id, scopes)
        sql.execute(cursor, f"SELECT repository_id, latency_ms, SUM(n) AS n FROM "
                            f"{sql.table('slo_latency')} WHERE minute >= ? AND minute < ?"
                            f"{scope} GROUP BY repository_id, latency_ms "
                            "ORDER BY repository_id, latency_ms", [start, end, *params])
        for r in cursor.fetchall():
            found.setdefault(r["repository_id"], []).append((int(r["latency_ms"]), int(r["n"])))
    return found


def daily_counts(
    sql: SqlStore, tenant_id: str | None, repository_id: str | None, start: str, end: str
) -> dict[str, dict[str, int]]:
    """Summed counters per UTC day (``YYYY-MM-DD``) over minutes ``[start, end)``; days
    without facts are absent."""
    sums = ", ".join(f"COALESCE(SUM({c}), 0) AS {c}" for c in COUNTERS)
    day = _DAY.format("minute")
    with sql.transaction(commit=False) as cursor:
        scope, params = minute_scope(sql, cursor, "slo_minute", tenant_id, repository_id)
        sql.execute(cursor, f"SELECT {day} AS day, {sums} FROM {sql.table('slo_minute')} "
                            f"WHERE minute >= ? AND minute < ?{scope} GROUP BY {day}",
                    [start, end, *params])
        return {r["day"]: {c: int(r[c]) for c in COUNTERS} for r in cursor.fetchall()}


def daily_latency(
    sql: SqlStore, tenant_id: str | None, repository_id: str | None, start: str, end: str
) -> dict[str, list[tuple[int, int]]]:
    """Each UTC day's (latency_ms, count) pairs over minutes ``[start, end)``, ascending."""
    day = _DAY.format("minute")
    days: dict[str, list[tuple[int, int]]] = {}
    with sql.transaction(commit=False) as cursor:
        scope, params = minute_scope(sql, cursor, "slo_latency", tenant_id, repository_id)
        sql.execute(cursor, f"SELECT {day} AS day, latency_ms, SUM(n) AS n FROM "
                            f"{sql.table('slo_latency')} WHERE minute >= ? AND minute < ?"
                            f"{scope} GROUP BY {day}, latency_ms ORDER BY {day}, latency_ms",
                    [start, end, *params])
        for r in cursor.fetchall():
            days.setdefault(r["day"], []).append((int(r["latency_ms"]), int(r["n"])))
    return days


@dataclass(frozen=True)
class FreshnessCounts:
    """Accepted publishes in a period and how their downstream visibility went."""

    accepted: int
    fresh: int
    stale: int
    pending: int
    visible_late: int


def _freshness_rows(
    sql: SqlStore, tenant_id: str | None, repository_id: str | None, start: str, end: str,
    known_at: str, group: str, cursor: Any | None = None,
) -> dict[str, FreshnessCounts]:
    """:func:`freshness` over ``[start, end)``, in one row (``group`` ``"''"``: key ``""``)
    or per value of the SQL expression ``group`` (a UTC day of acceptance, a
    repository)."""
    scope, params = _scope(tenant_id, repository_id)
    # Fresh: known visible by its due time — even when that visibility was recorded after
    # the deadline had been swept as missed (a snapshot arriving late: it was visible in
    # time). Stale: every other publish recorded missed, or known visible only after its
    # due time. The two never overlap (IS NOT NULL keeps the tests out of SQL's NULL logic).
    seen = "visible_at IS NOT NULL AND visible_at <= ?"
    fresh = f"({seen} AND visible_at <= due_at)"
    stale = f"NOT {fresh} AND (missed_at <= ? OR ({seen} AND visible_at > due_at))"
    day = group
    with _reading(sql, cursor) as cursor:
        sql.execute(
            cursor,
            f"SELECT {day} AS day, COUNT(*) AS accepted, "
            f"COALESCE(SUM(CASE WHEN {fresh} THEN 1 ELSE 0 END), 0) AS fresh, "
            f"COALESCE(SUM(CASE WHEN {stale} THEN 1 ELSE 0 END), 0) AS stale, "
            f"COALESCE(SUM(CASE WHEN {seen} AND visible_at > due_at THEN 1 ELSE 0 END), 0) "
            f"AS late "
            f"FROM {sql.table('slo_freshness')} "
            f"WHERE accepted_at >= ? AND accepted_at < ?{scope}"
            + (f" GROUP BY {day}" if group != "''" else ""),
            [known_at, known_at, known_at, known_at, known_at, start, end, *params],
        )
        rows = cursor.fetchall()
    found = {}
    for row in rows:
        accepted, ok, bad = int(row["accepted"]), int(row["fresh"]), int(row["stale"])
        found[row["day"]] = FreshnessCounts(accepted, ok, bad, accepted - ok - bad,
                                            int(row["late"]))
    return found


def freshness(
    sql: SqlStore, tenant_id: str | None, repository_id: str | None, start: str, end: str,
    known_at: str = "9999-12-31T23:59:59.999999Z",
) -> FreshnessCounts:
    """Accepted publishes with ``accepted_at`` in ``[start, end)``, judged by what was known
    at ``known_at`` (visibility and misses up to then: the state as it stood)."""
    return _freshness_rows(sql, tenant_id, repository_id, start, end, known_at, "''")[""]


def freshness_by_repository(
    sql: SqlStore, tenant_id: str, start: str, end: str, known_at: str, *,
    cursor: Any | None = None,
) -> dict[str, FreshnessCounts]:
    """:func:`freshness` of each of the tenant's repositories with accepted publishes in
    ``[start, end)`` (one pass; ``cursor``: in the caller's read)."""
    return _freshness_rows(sql, tenant_id, None, start, end, known_at, "repository_id",
                           cursor)


def daily_freshness(
    sql: SqlStore, tenant_id: str | None, repository_id: str | None, start: str, end: str,
    known_at: str,
) -> dict[str, FreshnessCounts]:
    """:func:`freshness` per UTC day of acceptance (days without publishes absent)."""
    return _freshness_rows(sql, tenant_id, repository_id, start, end, known_at,
                           _DAY.format("accepted_at"))


def pending_freshness(sql: SqlStore, until: str) -> list[dict[str, Any]]:
    """Accepted publishes due by ``until`` that were not visible in time and are not yet
    recorded as missed: the freshness deadlines to record."""
    with sql.transaction(commit=False) as cursor:
        sql.execute(
            cursor,
            f"SELECT * FROM {sql.table('slo_freshness')} WHERE due_at <= ? "
            "AND missed_at IS NULL AND (visible_at IS NULL OR visible_at > due_at) "
            "ORDER BY due_at, tenant_id, repository_id, idempotency_key, payload_hash",
            [until],
        )
        return [dict(r) for r in cursor.fetchall()]


def repositories(sql: SqlStore, tenant_id: str | None, start: str, end: str, *,
                 cursor: Any | None = None) -> list[tuple[str, str]]:
    """(tenant, repository) pairs with facts in the period (``cursor``: in the caller's
    read)."""
    scope, params = _scope(tenant_id, None)
    with _reading(sql, cursor) as cursor:
        if tenant_id is not None:
            return [(tenant_id, r) for r in _repository_ids(sql, cursor, "slo_minute",
                                                            tenant_id, (start, end))]
        sql.execute(cursor, f"SELECT DISTINCT tenant_id, repository_id FROM "
                            f"{sql.table('slo_minute')} WHERE minute >= ? AND minute < ?{scope} "
                            "ORDER BY tenant_id, repository_id", [start, end, *params])
        return [(r["tenant_id"], r["repository_id"]) for r in cursor.fetchall()]


def unresolved_isolation_incidents(sql: SqlStore, tenant_id: str | None, at: str, *,
                                   cursor: Any | None = None) -> int:
    """Critical tenant-isolation incidents open at ``at`` (written by the incident views;
    ``cursor``: in the caller's read)."""
    scope, params = _scope(tenant_id, None)
    with _reading(sql, cursor) as cursor:
        sql.execute(cursor, f"SELECT COUNT(*) AS n FROM {sql.table('slo_integrity')} WHERE "
                            f"opened_at <= ? AND (resolved_at IS NULL OR resolved_at > ?){scope}",
                            [at, at, *params])
        return int(cursor.fetchone()["n"])
