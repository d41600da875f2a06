"""The replay timeline for root-cause analysis: one ordered list merging per-minute publish
statistics, alerts, incident transitions and deadlines, gate and mode changes, policy
changes and freshness misses for a tenant and a time range. Deterministic: ties are broken
by kind and content, so the same store always gives the same bytes.

The long parts (a minute of publish statistics for every minute of the range, freshness
misses) are streamed from the views in order and merged with the short ones (alerts,
incidents, deadlines, operator actions), so a year's replay runs in memory flat in its
length (:func:`iter_timeline`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from opsledger.domain.slo_math import nearest_rank
from opsledger.projections._sql import SqlStore
from opsledger.projections._stream import merge_ordered, ordered_within, stream_rows, text_order
from opsledger.projections.slo import COUNTERS
from opsledger.projections.slo_query import minute_scope

__all__ = ["iter_timeline", "timeline"]


def _key(entry: dict[str, Any]) -> tuple[str, bytes]:
    return entry["at"], orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)


def _minutes(sql: SqlStore, cursor: Any, tenant: str, start: str, end: str
             ) -> Iterator[dict[str, Any]]:
    """One ``publish_minute`` entry per minute with facts, in minute order: the counters'
    sums merged with the minute's latency histogram (two streams in the same order)."""
    sums = ", ".join(f"SUM({c}) AS {c}" for c in COUNTERS)
    minute = text_order(sql, "minute")
    scope = "minute >= ? AND minute < ?"
    params = [start[:16], end[:16]]
    tenants = {t: minute_scope(sql, cursor, t, tenant, None)  # the range, per repository
               for t in ("slo_minute", "slo_latency")}
    counts = stream_rows(sql, cursor, f"SELECT minute, {sums} FROM {sql.table('slo_minute')} "
                         f"WHERE {scope}{tenants['slo_minute'][0]} GROUP BY minute "
                         f"ORDER BY {minute}", params + tenants["slo_minute"][1])
    latencies = stream_rows(sql, cursor, f"SELECT minute, latency_ms, SUM(n) AS n FROM "
                            f"{sql.table('slo_latency')} WHERE {scope}"
                            f"{tenants['slo_latency'][0]} GROUP BY minute, latency_ms "
                            f"ORDER BY {minute}, latency_ms", params + tenants["slo_latency"][1])
    pending = next(latencies, None)
    for r in counts:
        hist: list[tuple[int, int]] = []
        while pending is not None and pending["minute"] < r["minute"]:
            pending = next(latencies, None)  # a histogram without counts: none in the view
        while pending is not None and pending["minute"] == r["minute"]:
            hist.append((int(pending["latency_ms"]), int(pending["n"])))
            pending = next(latencies, None)
        yield {"at": f"{r['minute']}:00.000000Z", "kind": "publish_minute",
               **{c: int(r[c]) for c in COUNTERS}, "latency_p95_ms": nearest_rank(hist, 0.95)}


def _freshness_misses(sql: SqlStore, cursor: Any, tenant: str, start: str, end: str
                      ) -> Iterator[dict[str, Any]]:
    rows = stream_rows(sql, cursor, f"SELECT * FROM {sql.table('slo_freshness')} WHERE "
                       "tenant_id = ? AND missed_at >= ? AND missed_at < ? ORDER BY "
                       f"{text_order(sql, 'missed_at')}", [tenant, start, end])
    entries = ({"at": r["missed_at"], "kind": "freshness_missed",
                "repository_id": r["repository_id"], "idempotency_key": r["idempotency_key"],
                "accepted_at": r["accepted_at"], "visible_at": r["visible_at"]} for r in rows)
    return ordered_within(entries, at=lambda e: e["at"], key=_key)


def _changes(sql: SqlStore, cursor: Any, tenant: str) -> list[dict[str, Any]]:
    """Alerts, incident transitions, decided deadlines and operator actions: a tenant's
    few, read whole."""
    def fetch(statement: str) -> list[dict[str, Any]]:
        sql.execute(cursor, statement, [tenant])
        return [dict(row) for row in cursor.fetchall()]

    entries: list[dict[str, Any]] = []
    for a in fetch(f"SELECT * FROM {sql.table('alerts')} WHERE tenant = ?"):
        base = {"alert_id": a["id"], "rule": a["rule"], "level": a["level"]}
        entries.append({"at": a["triggered_at"], "kind": "alert_triggered", **base,
                        "observed": a["observed"], "threshold": a["threshold"]})
        if a["resolved_at"]:
            entries.append({"at": a["resolved_at"], "kind": "alert_resolved", **base,
                            "resolution": a["resolution"]})
    for i in fetch(f"SELECT * FROM {sql.table('incidents')} WHERE tenant = ?"):
        base = {"incident_id": i["id"], "severity": i["severity"]}
        for stamp in ("opened_at", "acknowledged_at", "mitigation_started_at", "resolved_at",
                      "closed_at"):
            if i[stamp]:
                entries.append({"at": i[stamp], "kind": f"incident_{stamp[:-3]}", **base})
    for r in fetch(f"SELECT * FROM {sql.table('incident_deadlines')} WHERE tenant = ? "
                   "AND status <> 'pending'"):
        entries.append({"at": r["met_at"] or r["missed_at"], "kind": f"deadline_{r['status']}",
                        "incident_id": r["incident_id"], "severity": r["severity"],
                        "deadline": r["kind"], "due_at": r["due"] or None})
    for r in fetch(f"SELECT * FROM {sql.table('audit_action')} WHERE tenant_id = ? OR "
                   "tenant_id IS NULL"):
        entries.append({"at": r["occurred_at"], "kind": r["action"], "actor": r["actor"],
                        "details": orjson.loads(r["details"])})
    return entries


def iter_timeline(sql: SqlStore, tenant: str, start: str, end: str) -> Iterator[dict[str, Any]]:
    """Every entry with ``at`` in ``[start, end)`` (fixed-width UTC text), ordered by ``at``
    (then content), produced as the views are read (one read transaction)."""
    with sql.transaction(commit=False) as cursor:
        changes = sorted((e for e in _changes(sql, cursor, tenant)
                          if e["at"] and start <= e["at"] < end), key=_key)
        minutes = (e for e in _minutes(sql, cursor, tenant, start, end)
                   if start <= e["at"] < end)
        misses = _freshness_misses(sql, cursor, tenant, start, end)
        yield from merge_ordered([minutes, misses, changes], key=_key)


def timeline(sql: SqlStore, tenant: str, start: str, end: str) -> list[dict[str, Any]]:
    """:func:`iter_timeline` as a list."""
    return list(iter_timeline(sql, tenant, start, end))
