"""SLA compliance (policy §3): per incident, each deadline met or missed and by how much;
per period and severity, the share of each deadline kind met, MTTA, time to mitigation,
MTTR and whether the SEV1 status-update cadence was kept.

With ``as_of``, as it stood then: a deadline counts as met or missed only if it was decided
before ``as_of`` (a status-update slot missed later was still pending), and an incident's
acknowledgement, mitigation and resolution only if they happened before it — so a closed
period's figures never change when later events and sweeps arrive."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import fmean
from typing import Any

from opsledger.domain.time import iso_utc
from opsledger.projections._sql import SqlStore

__all__ = ["sla_summary"]


def _t(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _as_of(incidents: list[dict[str, Any]], deadlines: list[dict[str, Any]],
           cutoff: str) -> None:
    """Forget, in place, what happened at or after ``cutoff`` (fixed-width UTC text)."""
    for incident in incidents:
        for column in ("acknowledged_at", "mitigation_started_at", "resolved_at"):
            if incident[column] and incident[column] >= cutoff:
                incident[column] = None
    for d in deadlines:
        decided = d["met_at"] if d["status"] == "met" else d["missed_at"]
        if d["status"] in ("met", "missed") and (not decided or decided >= cutoff):
            d["status"] = "pending"


def sla_summary(sql: SqlStore, start: datetime, end: datetime, tenant_id: str | None,
                as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Per severity, for incidents opened in ``[start, end)`` (a tenant's, or all); with
    ``as_of``, as it stood then (see the module docstring)."""
    params: list[Any] = [iso_utc(start), iso_utc(end)]
    scope = ""
    if tenant_id is not None:
        scope = " AND tenant = ?"
        params.append(tenant_id)
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT * FROM {sql.table('incidents')} WHERE opened_at >= ? AND "
                            f"opened_at < ?{scope} ORDER BY opened_at", params)
        incidents = [dict(r) for r in cursor.fetchall()]
        sql.execute(cursor, f"SELECT * FROM {sql.table('incident_deadlines')} WHERE "
                            f"opened_at >= ? AND opened_at < ?{scope}", params)
        deadlines = [dict(r) for r in cursor.fetchall()]
    if as_of is not None:
        _as_of(incidents, deadlines, iso_utc(as_of))
    by_severity: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for incident in incidents:
        by_severity[incident["severity"]].append(incident)
    kinds: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for d in deadlines:
        if d["status"] in ("met", "missed"):
            kinds[d["severity"]][d["kind"]][d["status"] == "met"] += 1
    rows = []
    for severity in sorted(set(by_severity) | set(kinds)):
        group = by_severity.get(severity, [])

        def mean_minutes(column: str, group: list[dict[str, Any]] = group) -> float | None:
            spans = [(_t(i[column]) - _t(i["opened_at"])).total_seconds() / 60  # type: ignore[operator]
                     for i in group if i[column]]
            return fmean(spans) if spans else None

        met = {kind: {"met": c[1], "missed": c[0], "met_ratio": c[1] / (c[0] + c[1])}
               for kind, c in sorted(kinds[severity].items())}
        status = met.get("status_update")
        rows.append({
            "severity": severity, "incidents": len(group),
            "resolved": sum(1 for i in group if i["resolved_at"]),
            "deadlines": met,
            "mtta_minutes": mean_minutes("acknowledged_at"),
            "time_to_mitigation_minutes": mean_minutes("mitigation_started_at"),
            "mttr_minutes": mean_minutes("resolved_at"),
            "status_cadence_kept": None if status is None else status["missed"] == 0,
        })
    return rows
