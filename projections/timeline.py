"""The replay timeline for root-cause analysis: one ordered list merging per-minute publish
statistics, alerts, incident transitions and deadlines, gate and mode changes, policy
changes and freshness misses for a tenant and a time range. Deterministic: ties are broken
by kind and content, so the same store always gives the same bytes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from opsledger.projections._sql import SqlStore
from opsledger.projections.slo import COUNTERS
from opsledger.projections.slo_query import nearest_rank

__all__ = ["timeline"]


def _minutes(sql: SqlStore, tenant: str, start: str, end: str) -> list[dict[str, Any]]:
    sums = ", ".join(f"SUM({c}) AS {c}" for c in COUNTERS)
    rows = sql.fetch(f"SELECT minute, {sums} FROM {sql.table('slo_minute')} WHERE "
                     "tenant_id = ? AND minute >= ? AND minute < ? GROUP BY minute",
                     [tenant, start[:16], end[:16]])
    hist: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in sql.fetch(f"SELECT minute, latency_ms, SUM(n) AS n FROM "
                       f"{sql.table('slo_latency')} WHERE tenant_id = ? AND minute >= ? "
                       "AND minute < ? GROUP BY minute, latency_ms ORDER BY minute, "
                       "latency_ms", [tenant, start[:16], end[:16]]):
        hist[r["minute"]].append((int(r["latency_ms"]), int(r["n"])))
    return [{"at": f"{r['minute']}:00.000000Z", "kind": "publish_minute",
             **{c: int(r[c]) for c in COUNTERS},
             "latency_p95_ms": nearest_rank(hist.get(r["minute"], []), 0.95)} for r in rows]


def timeline(sql: SqlStore, tenant: str, start: str, end: str) -> list[dict[str, Any]]:
    """Every entry with ``at`` in ``[start, end)`` (fixed-width UTC text), ordered by ``at``."""
    entries = _minutes(sql, tenant, start, end)
    for a in sql.fetch(f"SELECT * FROM {sql.table('alerts')} WHERE tenant = ?", [tenant]):
        base = {"alert_id": a["id"], "rule": a["rule"], "level": a["level"]}
        entries.append({"at": a["triggered_at"], "kind": "alert_triggered", **base,
                        "observed": a["observed"], "threshold": a["threshold"]})
        if a["resolved_at"]:
            entries.append({"at": a["resolved_at"], "kind": "alert_resolved", **base,
                            "resolution": a["resolution"]})
    for i in sql.fetch(f"SELECT * FROM {sql.table('incidents')} WHERE tenant = ?", [tenant]):
        base = {"incident_id": i["id"], "severity": i["severity"]}
        for stamp in ("opened_at", "acknowledged_at", "mitigation_started_at", "resolved_at",
                      "closed_at"):
            if i[stamp]:
                entries.append({"at": i[stamp], "kind": f"incident_{stamp[:-3]}", **base})
    for r in sql.fetch(f"SELECT * FROM {sql.table('incident_deadlines')} WHERE tenant = ? "
                          "AND status <> 'pending'", [tenant]):
        entries.append({"at": r["met_at"] or r["missed_at"], "kind": f"deadline_{r['status']}",
                        "incident_id": r["incident_id"], "severity": r["severity"],
                        "deadline": r["kind"], "due_at": r["due"]})
    for r in sql.fetch(f"SELECT * FROM {sql.table('audit_action')} WHERE tenant_id = ? OR "
                          "tenant_id IS NULL", [tenant]):
        entries.append({"at": r["occurred_at"], "kind": r["action"], "actor": r["actor"],
                        "details": orjson.loads(r["details"])})
    for r in sql.fetch(f"SELECT * FROM {sql.table('slo_freshness')} WHERE tenant_id = ? AND "
                          "missed_at IS NOT NULL", [tenant]):
        entries.append({"at": r["missed_at"], "kind": "freshness_missed",
                        "repository_id": r["repository_id"],
                        "idempotency_key": r["idempotency_key"], "accepted_at": r["accepted_at"],
                        "visible_at": r["visible_at"]})
    chosen = [e for e in entries if e["at"] and start <= e["at"] < end]
    keyed = [(orjson.dumps(e, option=orjson.OPT_SORT_KEYS), e) for e in chosen]
    return [e for _, e in sorted(keyed, key=lambda pair: (pair[1]["at"], pair[0]))]
