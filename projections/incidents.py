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

__all__ = ["IncidentsView", "describe", "incident_rows", "incidents_between", "pending_deadlines"]

INCIDENT_COLUMNS = ("id", "tenant", "severity", "state", "cause", "title", "opened_at",
                    "acknowledged_at", "mitigation_started_at", "resolved_at", "closed_at",
                    "escalated_to", "alert_ids", "deadlines", "last_at")
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
    #: 2: ``last_at``, the business time of the incident's latest event (what an export of
    #: a period reads: the incidents with events in it).
    version: int = 2
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
        """Every incident event carries its deadlines and state: upsert both. The writes
        of one incident's events in the batch are folded in memory and written once at the
        end of the batch (one update of its row, one of its deadlines), with the same rows
        as applying each event in turn would leave."""
        changes: dict[str, _Changes] = {}
        for fact in facts:
            if not fact.topic.startswith(topics.INCIDENT_PREFIX):
                continue
            s, name = fact.state, fact.topic.rsplit(".", 1)[1]
            change = changes.get(fact.stream_id)
            if name == "Opened":
                sql.execute(cursor, f"INSERT INTO {sql.table('incidents')} VALUES "
                                    f"({', '.join('?' * len(INCIDENT_COLUMNS))})",
                            (fact.stream_id, s["tenant_id"], s["severity"], "open", s["cause"],
                             s["title"], iso(s["occurred_at"]), None, None, None, None, None,
                             orjson.dumps(s["alert_ids"]).decode(), None,
                             iso(s["occurred_at"])))
            if change is None:
                change = changes[fact.stream_id] = _Changes(_head(sql, cursor, fact.stream_id))
            change.add(name, s)
        for incident_id, change in changes.items():
            change.write(sql, cursor, incident_id)


def _head(sql: SqlStore, cursor: Any, incident_id: str) -> dict[str, Any] | None:
    sql.execute(cursor, f"SELECT severity, tenant, opened_at, last_at FROM "
                        f"{sql.table('incidents')} "
                        "WHERE id = ?", (incident_id,))
    row = cursor.fetchone()
    return None if row is None else dict(row)


class _Changes:
    """One incident's writes in a batch, folded: the columns its row gets (the last value
    of each), its deadline rows by (kind, due) as the events leave them, and the rows an
    event removed (a pending deadline the next event no longer carries)."""

    def __init__(self, head: dict[str, Any] | None) -> None:
        self.head = head
        self.sets: dict[str, Any] = {}
        self.deadlines: dict[str, Any] = {}
        self.rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.dropped: set[tuple[str, str]] = set()
        self.pending: set[tuple[str, str]] = set()  # the keys of the pending rows

    def add(self, name: str, s: dict[str, Any]) -> None:
        """Fold one event in."""
        self.sets["state"] = s.get("state", "open")
        at = iso(s["occurred_at"])
        if self.head is not None and (self.head["last_at"] or "") < at:
            self.head["last_at"] = self.sets["last_at"] = at
        self.deadlines = s["deadlines"]
        if name in STAMPS:
            self.sets[STAMPS[name]] = iso(s["occurred_at"])
        if name == "SeverityChanged":
            self.sets["severity"] = s["severity"]
            if self.head is not None:
                self.head["severity"] = s["severity"]
        if s.get("escalated_to"):
            self.sets["escalated_to"] = s["escalated_to"]
        # A pending deadline the event no longer carries was moved (severity change).
        for key in self.pending:
            del self.rows[key]
        self.dropped |= self.pending
        self.pending = set()
        instances = [*s.get("settled", ()), *([s["missed"]] if s.get("missed") else []),
                     *s["deadlines"].values()]
        kinds = [*(["status_update"] * len(s.get("settled", ()))),
                 *([s["kind"]] if s.get("missed") else []), *s["deadlines"].keys()]
        head = self.head
        for kind, d in zip(kinds, instances, strict=True):
            due = _t(d["due_at"]) or ""
            key = (kind, due)
            self.rows[key] = (kind, due, d["status"], _t(d.get("met_at")), _t(d.get("missed_at")),
                              head["severity"], head["tenant"], head["opened_at"])  # type: ignore[index]
            if d["status"] == "pending":
                self.pending.add(key)
            else:
                self.pending.discard(key)

    def write(self, sql: SqlStore, cursor: Any, incident_id: str) -> None:
        """The row, then the deadlines: pending ones of before go, the removed ones go,
        the rows the events left are upserted."""
        sets = {**self.sets, "deadlines": orjson.dumps(_deadline_list(self.deadlines)).decode()}
        sql.execute(cursor, f"UPDATE {sql.table('incidents')} SET "
                            f"{', '.join(f'{c} = ?' for c in sets)} WHERE id = ?",
                    (*sets.values(), incident_id))
        table = sql.table("incident_deadlines")
        sql.execute(cursor, f"DELETE FROM {table} WHERE incident_id = ? AND status = 'pending'",
                    (incident_id,))
        gone = [(incident_id, *key) for key in self.dropped if key not in self.rows]
        if gone:
            sql.executemany(cursor, f"DELETE FROM {table} WHERE incident_id = ? AND kind = ? "
                                    "AND due = ?", sorted(gone))
        updated = ", ".join(f"{c} = excluded.{c}" for c in ("status", "met_at", "missed_at",
                                                            "severity"))
        sql.executemany(cursor, f"INSERT INTO {table} VALUES "
                                f"({', '.join('?' * len(DEADLINE_COLUMNS))}) ON CONFLICT "
                                f"(incident_id, kind, due) DO UPDATE SET {updated}",
                        [(incident_id, *row) for row in self.rows.values()])


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
        del row["last_at"]  # the view's own (see incidents_between)
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


def incidents_between(sql: SqlStore, tenant_id: str, start: str, end: str) -> list[
        dict[str, Any]]:
    """The tenant's incidents with events in ``[start, end)`` (fixed-width UTC text): opened
    before ``end``, their latest event at or after ``start``; ``id`` and ``severity``, by
    opening time (as :func:`incident_rows` orders them)."""
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT id, severity FROM {sql.table('incidents')} WHERE "
                            "tenant = ? AND opened_at < ? AND last_at >= ? "
                            "ORDER BY opened_at, id", (tenant_id, end, start))
        return [dict(r) for r in cursor.fetchall()]
