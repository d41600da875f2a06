"""The alert history view: every alert ever triggered, open or resolved (policy §4).

Alertmanager keeps no history; here every trigger and resolution is an event, and this
view makes them queryable by tenant, rule, state and time. An alert found by re-evaluating
late facts is flagged ``backfilled`` with ``found_at``; one that late facts showed never
held is kept, flagged ``withdrawn`` (left out of queries unless asked for). Operators'
judgements are columns too: who acknowledged it and when, its ``verdict`` (actionable or
noise, with its reason, who judged and when), and the incident it is linked to — by an operator,
or by an incident opened with it among its ``alert_ids`` (the automatic incident an alert
opens). Reads derive ``actionable``: the verdict if judged, else true when linked to an
incident, else unknown (``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opsledger.domain import topics
from opsledger.domain.time import iso_utc
from opsledger.projections._facts import Fact, iso
from opsledger.projections._sql import SqlStore, create_index, equals

__all__ = ["ALERT_COLUMNS", "AlertsView", "actionable", "alert_row", "alert_rows"]

TRIGGERED = topics.ALERT_TRIGGERED
RESOLVED = topics.ALERT_RESOLVED
REVISED = topics.ALERT_REVISED
ACKNOWLEDGED = topics.ALERT_ACKNOWLEDGED
JUDGED = topics.ALERT_JUDGED
LINKED = topics.ALERT_LINKED_TO_INCIDENT
INCIDENT_OPENED = topics.INCIDENT_OPENED
ALERT_COLUMNS = (
    "id", "tenant", "rule", "level", "repository", "triggered_at", "resolved_at", "observed",
    "threshold", "window_start", "window_end", "resolution", "backfilled", "found_at",
    "withdrawn", "acknowledged_at", "acknowledged_by", "verdict", "verdict_reason", "judged_by",
    "judged_at", "incident_id",
)
_FLAGS = ("backfilled", "withdrawn")


class AlertsView:
    """Table ``alerts``: one row per alert."""

    name = "alerts"
    #: Bump when the tables or the rows written change: stores rebuild the view on open.
    #: 2: the ``backfilled``/``withdrawn``/``found_at`` flags (a store from before them had
    #: the columns added by hand; it is rebuilt instead). 3: operators' judgements and the
    #: linked incident.
    version: int = 3
    tables: tuple[str, ...] = ("alerts",)
    #: Secondary indexes (see :attr:`AuditView.indexes`).
    indexes = (("alerts_scope", "alerts", "tenant, triggered_at"),)

    def create_tables(self, sql: SqlStore, cursor: Any) -> None:
        """Create the table if missing."""
        types = {"observed": "DOUBLE PRECISION", "threshold": "DOUBLE PRECISION",
                 "backfilled": "INTEGER NOT NULL DEFAULT 0",
                 "withdrawn": "INTEGER NOT NULL DEFAULT 0"}
        cols = ", ".join(f"{c} {types.get(c, 'TEXT')}" for c in ALERT_COLUMNS)
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table('alerts')} ({cols}, "
                            "PRIMARY KEY (id))")
        for index in self.indexes:
            sql.execute(cursor, create_index(sql, *index))

    def clear(self, sql: SqlStore, cursor: Any) -> None:
        """Delete every row."""
        sql.execute(cursor, f"DELETE FROM {sql.table('alerts')}")

    def apply(self, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        """Insert triggered alerts, then mark resolutions."""
        rows: list[tuple[Any, ...]] = []
        resolved: list[tuple[Any, ...]] = []
        revised: list[tuple[Any, ...]] = []
        acknowledged: list[tuple[Any, ...]] = []
        judged: list[tuple[Any, ...]] = []
        linked: list[tuple[Any, ...]] = []
        for fact in facts:
            s = fact.state
            if fact.topic == TRIGGERED:
                details = s.get("details") or {}
                found = details.get("found_at")
                rows.append((fact.stream_id, s["tenant_id"], s["rule"], s["level"],
                             s["repository_id"], iso(s["occurred_at"]), None, s["observed"],
                             s["threshold"], iso(s["window_start"]), iso(s["window_end"]),
                             None, int(bool(details.get("backfilled"))),
                             iso(found) if found else None, 0, None, None, None, None, None,
                             None, details.get("incident_id")))
            elif fact.topic == RESOLVED:
                resolved.append((iso(s["occurred_at"]), s["reason"], fact.stream_id))
            elif fact.topic == REVISED:
                revised.append((iso(s["resolved_at"]) if s["resolved_at"] else None,
                                s["reason"], int(s["withdrawn"]), iso(s["found_at"]),
                                fact.stream_id))
            elif fact.topic == ACKNOWLEDGED:
                acknowledged.append((iso(s["occurred_at"]), s["by"], fact.stream_id))
            elif fact.topic == JUDGED:
                judged.append((s["verdict"], s["reason"], s["by"], iso(s["occurred_at"]),
                               fact.stream_id))
            elif fact.topic == LINKED:
                linked.append((s["incident_id"], fact.stream_id))
            elif fact.topic == INCIDENT_OPENED and s.get("alert_ids"):
                linked.extend((fact.stream_id, a) for a in s["alert_ids"])
        sql.executemany(cursor, f"INSERT INTO {sql.table('alerts')} VALUES "
                                f"({', '.join('?' * len(ALERT_COLUMNS))})", rows)
        sql.executemany(cursor, f"UPDATE {sql.table('alerts')} SET resolved_at = ?, "
                                "resolution = ? WHERE id = ?", resolved)
        sql.executemany(cursor, f"UPDATE {sql.table('alerts')} SET resolved_at = ?, "
                                "resolution = ?, withdrawn = ?, found_at = ? WHERE id = ?",
                        revised)
        table = sql.table("alerts")
        sql.executemany(cursor, f"UPDATE {table} SET acknowledged_at = ?, acknowledged_by = ? "
                                "WHERE id = ?", acknowledged)
        sql.executemany(cursor, f"UPDATE {table} SET verdict = ?, verdict_reason = ?, "
                                "judged_by = ?, judged_at = ? WHERE id = ?", judged)
        sql.executemany(cursor, f"UPDATE {table} SET incident_id = ? WHERE id = ?", linked)


def alert_rows(
    sql: SqlStore,
    tenant_id: str | None,
    rule: str | None = None,
    open_only: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    include_withdrawn: bool = False,
) -> list[dict[str, Any]]:
    """Alerts in scope (``tenant_id`` None = every tenant), by trigger time; ``backfilled``
    and ``withdrawn`` as booleans. Withdrawn alerts only with ``include_withdrawn``."""
    clauses, params = equals(tenant=tenant_id, rule=rule)
    if not include_withdrawn:
        clauses.append("withdrawn = 0")
    if open_only:
        clauses.append("resolved_at IS NULL")
    if since is not None:
        clauses.append("(resolved_at IS NULL OR resolved_at >= ?)")
        params.append(iso_utc(since))
    if until is not None:
        clauses.append("triggered_at < ?")
        params.append(iso_utc(until))
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT * FROM {sql.table('alerts')}{where} "
                            "ORDER BY triggered_at, tenant, rule", params)
        rows = [dict(r) for r in cursor.fetchall()]
    for row in rows:
        for flag in _FLAGS:
            row[flag] = bool(row[flag])
        row["actionable"] = actionable(row)
    return rows


def alert_row(sql: SqlStore, alert_id: str) -> dict[str, Any] | None:
    """One alert's row as :func:`alert_rows` gives it (withdrawn or not), or ``None``."""
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT * FROM {sql.table('alerts')} WHERE id = ?", [alert_id])
        found = cursor.fetchone()
    if found is None:
        return None
    row = dict(found)
    for flag in _FLAGS:
        row[flag] = bool(row[flag])
    row["actionable"] = actionable(row)
    return row


def actionable(row: dict[str, Any]) -> bool | None:
    """An alert is actionable as judged; unjudged, when it is linked to an incident (it
    opened one, or an operator linked it); else unknown (``None``)."""
    if row.get("verdict") is not None:
        return bool(row["verdict"] == "actionable")
    return True if row.get("incident_id") is not None else None
