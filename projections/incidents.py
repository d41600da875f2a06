"""Incidents and their response-SLA deadlines as rows (policy §3): the incident list, the
pending deadlines the scheduler sweeps, and every deadline instance for SLA compliance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from opsledger.domain import topics
from opsledger.domain.time import iso_utc
from opsledger.projections._facts import Fact, iso, moment
from opsledger.projections._sql import SqlStore, create_index, equals

__all__ = ["IncidentsView", "describe", "incident_rows", "pending_deadlines"]

INCIDENT_COLUMNS = ("id", "tenant", "severity", "state", "cause", "title", "opened_at",
                    "acknowledged_at", "mitigation_started_at", "resolved_at", "closed_at",
                    "escalated_to", "alert_ids", "deadlines")
DEADLINE_COLUMNS = ("incident_id", "kind", "due", "status", "met_at", "missed_at",
                    "severity", "tenant", "opened_at")
STAMPS = {"Acknowledged": "acknowledged_at", "MitigationStarted": "mitigation_started_at",
          "Resolved": "resolved_at", "Closed": "closed_at"}


def _t(value: Any) -> str | None:
    return None if value is None else iso(value)


def _seconds(later: Any, earlier: Any) -> float | None:
    if later is None or earlier is None:
        return None
    return (moment(later) - moment(earlier)).total_seconds()


def _deadline_list(deadlines: dict[str, Any]) -> list[dict[str, Any]]:
    """Each deadline with how early it was met, or how late it was done after a miss."""
    return [{"kind": kind, "due_at": _t(d["due_at"]), "status": d["status"],
             "met_at": _t(d.get("met_at")), "missed_at": _t(d.get("missed_at")),
             "early_by_s": _seconds(d["due_at"], d.get("met_at")),
             "late_by_s": _seconds(d.get("done_at"), d["due_at"])}
            for kind, d in sorted(deadlines.items())]


def describe(incident: Any) -> dict[str, Any]:
    """An incident aggregate as the API and ``incident show --json`` present it."""
    times = incident.times
    return {
        "id": str(incident.id), "tenant": incident.tenant_id,
        "severity": incident.severity.value, "state": incident.state.value,
        "cause": incident.cause, "title": incident.title, "alert_ids": incident.alert_ids,
        "opened_at": iso_utc(incident.opened_at),
        **{f"{k}_at": iso_utc(v) for k, v in times.items() if k != "opened"},
        "escalated_to": incident.escalated_to, "rca_link": incident.rca_link,
        "fix_sprint": incident.fix_sprint,
        "deadlines": _deadline_list(incident.deadlines),
    }


class IncidentsView:
    """Tables ``incidents`` and ``incident_deadlines``."""

    name = "incidents"
    #: Bump when the tables or the rows written change: stores rebuild the view on open.
    version: int = 1
    tables: tuple[str, ...] = ("incidents", "incident_deadlines")
    #: Secondary indexes (see :attr:`AuditView.indexes`).
    indexes = (("incident_deadlines_pending", "incident_deadlines", "status, due"),)

    def create_tables(self, sql: SqlStore, cursor: Any) -> None:
        """Create the tables if missing."""
        cols = ", ".join(f"{c} TEXT" for c in INCIDENT_COLUMNS)
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table('incidents')} ({cols}, "
                            "PRIMARY KEY (id))")
        cols = ", ".join(f"{c} TEXT" for c in DEADLINE_COLUMNS)
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table('incident_deadlines')} "
                            f"({cols}, PRIMARY KEY (incident_id, kind, due))")
        for index in self.indexes:
            sql.execute(cursor, create_index(sql, *index))

    def clear(self, sql: SqlStore, cursor: Any) -> None:
        """Delete every row."""
        for table in ("incidents", "incident_deadlines"):
            sql.execute(cursor, f"DELETE FROM {sql.table(table)}")

    def apply(self, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        """Every incident event carries its deadlines and state: upsert both."""
        for fact in facts:
            if not fact.topic.startswith(topics.INCIDENT_PREFIX):
                continue
            s, name = fact.state, fact.topic.rsplit(".", 1)[1]
            if name == "Opened":
                sql.execute(cursor, f"INSERT INTO {sql.table('incidents')} VALUES "
                                    f"({', '.join('?' * len(INCIDENT_COLUMNS))})",
                            (fact.stream_id, s["tenant_id"], s["severity"], "open", s["cause"],
                             s["title"], iso(s["occurred_at"]), None, None, None, None, None,
                             orjson.dumps(s["alert_ids"]).decode(), None))
            sets = ["state = ?", "deadlines = ?"]
            params: list[Any] = [s.get("state", "open"),
                                 orjson.dumps(_deadline_list(s["deadlines"])).decode()]
            if name in STAMPS:
                sets.append(f"{STAMPS[name]} = ?")
                params.append(iso(s["occurred_at"]))
            if name == "SeverityChanged":
                sets.append("severity = ?")
                params.append(s["severity"])
            if s.get("escalated_to"):
                sets.append("escalated_to = ?")
                params.append(s["escalated_to"])
            sql.execute(cursor, f"UPDATE {sql.table('incidents')} SET {', '.join(sets)} "
                                "WHERE id = ?", (*params, fact.stream_id))
            self._deadlines(sql, cursor, fact.stream_id, s)

    @staticmethod
    def _deadlines(sql: SqlStore, cursor: Any, incident_id: str, s: dict[str, Any]) -> None:
        sql.execute(cursor, f"SELECT severity, tenant, opened_at FROM {sql.table('incidents')} "
                            "WHERE id = ?", (incident_id,))
        head = cursor.fetchone()
        # A pending deadline the event no longer carries was moved (severity change).
        sql.execute(cursor, f"DELETE FROM {sql.table('incident_deadlines')} WHERE "
                            "incident_id = ? AND status = 'pending'", (incident_id,))
        instances = [*s.get("settled", ()), *([s["missed"]] if s.get("missed") else []),
                     *s["deadlines"].values()]
        kinds = [*(["status_update"] * len(s.get("settled", ()))),
                 *([s["kind"]] if s.get("missed") else []), *s["deadlines"].keys()]
        rows = [(incident_id, kind, _t(d["due_at"]) or "", d["status"], _t(d.get("met_at")),
                 _t(d.get("missed_at")), head["severity"], head["tenant"], head["opened_at"])
                for kind, d in zip(kinds, instances, strict=True)]
        sets = ", ".join(f"{c} = excluded.{c}" for c in ("status", "met_at", "missed_at",
                                                         "severity"))
        sql.executemany(cursor, f"INSERT INTO {sql.table('incident_deadlines')} VALUES "
                                f"({', '.join('?' * len(DEADLINE_COLUMNS))}) ON CONFLICT "
                                f"(incident_id, kind, due) DO UPDATE SET {sets}", rows)


def incident_rows(sql: SqlStore, tenant_id: str | None, state: str | None) -> list[
        dict[str, Any]]:
    """Incidents (a tenant's, or every one with ``tenant_id`` None), by opening time."""
    clauses, params = equals(tenant=tenant_id, state=state)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT * FROM {sql.table('incidents')}{where} "
                            "ORDER BY opened_at, id", params)
        rows = [dict(r) for r in cursor.fetchall()]
    for row in rows:
        row["alert_ids"] = orjson.loads(row["alert_ids"] or "[]")
        row["deadlines"] = orjson.loads(row["deadlines"] or "[]")
    return rows


def pending_deadlines(sql: SqlStore) -> list[dict[str, Any]]:
    """Every pending deadline with a due time (the scheduler's work list)."""
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT incident_id, kind, due FROM "
                            f"{sql.table('incident_deadlines')} WHERE status = 'pending' "
                            "AND due <> '' ORDER BY due, incident_id, kind")
        return [{"incident_id": r["incident_id"], "kind": r["kind"],
                 "due": datetime.fromisoformat(r["due"].replace("Z", "+00:00"))}
                for r in cursor.fetchall()]
