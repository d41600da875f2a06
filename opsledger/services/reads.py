"""The read side: the audit trail, SLO reports and the RCA timeline over the views (kept
current by catching up before each read), and the sweep that records what time has passed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson

from opsledger import results as rs
from opsledger.domain.errors import InvalidInput, NotFound, OpsledgerError
from opsledger.domain.time import fmt_time, iso_utc, utc
from opsledger.projections import AuditQuery, slo_query
from opsledger.projections import audit as audit_queries
from opsledger.projections._facts import moment
from opsledger.projections._stream import stream_query
from opsledger.projections.timeline import iter_timeline
from opsledger.services import alerting
from opsledger.services.alerting import AlertProcess
from opsledger.services.clock import BusinessClock
from opsledger.services.freshness import Freshness
from opsledger.services.gate import Gate
from opsledger.services.incidents import Incidents
from opsledger.services.policies import Policies
from opsledger.services.slo import Period, daily_rows, slo_row, tenant_rows
from opsledger.services.tenants import Tenants
from opsledger.services.views import Views
from opsledger.store.events import EventStore

__all__ = ["AuditReads", "SloReads", "Sweeps", "Timeline"]


class AuditReads:
    """The audit trail (policy §5): publish operations, refusals, operator actions."""

    def __init__(self, store: EventStore, tenants: Tenants, views: Views) -> None:
        self._store = store
        self._tenants = tenants
        self._views = views

    def _scoped(self, query: AuditQuery) -> AuditQuery:
        if not query.all_tenants:
            if not query.tenant_id:
                raise NotFound("an audit query needs --tenant, or --all-tenants (operator scope)")
            self._tenants.load(query.tenant_id)
        self._views.catch_up()
        return query

    def audit(self, query: AuditQuery) -> list[rs.AuditRow]:
        """Publish operations and outcomes matching ``query`` (tenant-scoped)."""
        return list(map(rs.AuditRow.of,
                         audit_queries.publish_rows(self._store.sql, self._scoped(query))))

    def audit_stream(self, query: AuditQuery) -> Iterator[rs.AuditRow]:
        """:meth:`audit` as rows read in bounded batches while they are consumed (memory
        flat in the number of rows), in business-time order (then tenant and operation).
        The scope is checked now; the read transaction stays open until the end."""
        where, params = self._scoped(query).where()
        limit = f" LIMIT {int(query.limit)}" if query.limit else ""
        sql = self._store.sql
        return map(rs.AuditRow.of, stream_query(
            sql, f"SELECT * FROM {sql.table('audit_publish')}{where} "
                 f"ORDER BY occurred_at, tenant_id, operation_id{limit}", params))

    def audit_refusals_stream(self, query: AuditQuery) -> Iterator[rs.RefusalRow]:
        """:meth:`audit_refusals` read in bounded batches (in business-time order)."""
        scoped = self._scoped(AuditQuery(
            tenant_id=query.tenant_id, all_tenants=query.all_tenants,
            repository_id=query.repository_id, since=query.since, until=query.until))
        where, params = scoped.where()
        sql = self._store.sql
        return map(rs.RefusalRow.of, stream_query(
            sql, f"SELECT * FROM {sql.table('audit_refusal')}{where} "
                 "ORDER BY occurred_at, refusal_id", params))

    def audit_refusals(self, query: AuditQuery) -> list[rs.RefusalRow]:
        """Refused commands in scope."""
        return list(map(rs.RefusalRow.of,
                         audit_queries.refusal_rows(self._store.sql, self._scoped(query))))

    def audit_actions(self, query: AuditQuery) -> list[rs.AuditAction]:
        """Operator actions with their actors, in scope (a time in their details in the
        one output form, not the store's encoding)."""
        rows = audit_queries.action_rows(self._store.sql, self._scoped(query))
        return [rs.AuditAction.of(_plain_times(row)) for row in rows]

    def audit_summary(self, query: AuditQuery) -> list[rs.AuditSummary]:
        """Counts per tenant / outcome / error code (integers on every backend:
        PostgreSQL's ``SUM`` gives decimals)."""
        rows = audit_queries.summary_rows(self._store.sql, self._scoped(query))
        for row in rows:
            for column in ("operations", "collisions", "key_missing"):
                if row.get(column) is not None:
                    row[column] = int(row[column])
        return list(map(rs.AuditSummary.of, rows))


class SloReads:
    """SLO reports (policy §2) for any period and scope."""

    def __init__(self, store: EventStore, clock: BusinessClock, policies: Policies,
                 tenants: Tenants, views: Views) -> None:
        self._store = store
        self._clock = clock
        self._policies = policies
        self._tenants = tenants
        self._views = views

    def slo(
        self,
        period: Period,
        *,
        tenant_id: str | None = None,
        all_tenants: bool = False,
        repository_id: str | None = None,
        now: datetime | None = None,
    ) -> list[rs.SloReport]:
        """SLO rows for the period: the tenant total first, then each repository (or, in
        the operator scope, each tenant's total and then all tenants together)."""
        self._tenants.check_scope(tenant_id, all_tenants, "an SLO query")
        moment = self._clock.now(now, "now", command=False)
        self._views.catch_up()
        as_of = min(period.end, max(period.start, moment))
        policy = self._policies.policy_at(as_of - timedelta(microseconds=1))
        start, end = iso_utc(period.start)[:16], iso_utc(period.end)[:16]
        if repository_id is None and not all_tenants and tenant_id is not None:
            mode = self._mode(tenant_id)
            return [rs.SloReport.of({**row, **({"tenant_mode": mode} if mode else {})})
                    for row in tenant_rows(self._store.sql, tenant_id, period, moment, policy)]
        if repository_id is not None:
            scopes: list[tuple[str | None, str | None]] = [(tenant_id, repository_id)]
        else:
            found = slo_query.repositories(self._store.sql, None, start, end)
            tenants = sorted({t for t, _ in found})
            scopes = [*((t, None) for t in tenants), (None, None)]
        modes = {t: self._mode(t) for t in {t for t, _ in scopes if t}}
        return list(rs.SloReport.of({**slo_row(self._store.sql, t, r, period, moment, policy),
                                      **({"tenant_mode": modes[t]} if t and modes[t] else {})})
                     for t, r in scopes)

    def daily(self, period: Period, *, tenant_id: str,
              now: datetime | None = None) -> list[rs.DailyFigures]:
        """A tenant's figures per UTC day of ``period`` up to ``now`` (as known then): the
        dashboard's daily charts, read in three grouped queries instead of a report a
        day."""
        self._tenants.check_scope(tenant_id, False, "an SLO query")
        moment = self._clock.now(now, "now", command=False)
        self._views.catch_up()
        as_of = min(period.end, max(period.start, moment))
        policy = self._policies.policy_at(as_of - timedelta(microseconds=1))
        return [rs.DailyFigures.of(row)
                for row in daily_rows(self._store.sql, tenant_id, period, moment, policy)]

    def _mode(self, tenant_id: str) -> str | None:
        """The tenant's mode now; ``None`` for a tenant no longer readable (forgotten)."""
        try:
            return self._tenants.tenant(tenant_id).mode
        except OpsledgerError:
            return None


class Timeline:
    """The ordered replay of a tenant's history for root-cause analysis."""

    def __init__(self, store: EventStore, tenants: Tenants, views: Views) -> None:
        self._store = store
        self._tenants = tenants
        self._views = views

    def replay(self, tenant_id: str, start: datetime, end: datetime
               ) -> list[rs.TimelineEntry]:
        """The RCA timeline of one tenant over ``[start, end)``: publish minutes, alerts,
        incident transitions and deadlines, gate, mode and policy changes, freshness
        misses — ordered by ``at``; the same store always gives the same list."""
        return list(self.replay_stream(tenant_id, start, end))

    def replay_stream(self, tenant_id: str, start: datetime, end: datetime
                      ) -> Iterator[rs.TimelineEntry]:
        """:meth:`replay` produced as the views are read: memory flat in the range's
        length (a year of publish minutes). The tenant is checked now."""
        start, end = utc(start, "start"), utc(end, "end")
        if end < start:
            raise InvalidInput("a replay's end is before its start")
        self._tenants.load(tenant_id)
        self._views.catch_up()
        return map(rs.TimelineEntry.of,
                   iter_timeline(self._store.sql, tenant_id, iso_utc(start), iso_utc(end)))


class Sweeps:
    """Records what time has passed: missed deadlines (freshness, incidents, gate grace)
    and the alert rules, by the clock or by the facts' own event time."""

    def __init__(self, store: EventStore, clock: BusinessClock, alerts: AlertProcess,
                 freshness: Freshness, incidents: Incidents, gate: Gate) -> None:
        self._store = store
        self._clock = clock
        self._alerts = alerts
        self._freshness = freshness
        self._incidents = incidents
        self._gate = gate

    def advance(self, now: datetime | None = None) -> rs.AdvanceReport:
        """Record every deadline due by ``now`` (default: the clock) at its due time, and
        evaluate the alert rules up to ``now`` minus the allowed lateness."""
        moment = self._clock.now(now, "now", command=False)
        changes = self._alerts.evaluate_alerts(moment)
        missed = self._freshness.advance_freshness(moment)
        return rs.AdvanceReport.of({
            "freshness_missed": missed, "alert_changes": changes,
            "incident_deadlines_missed": self._incidents.record_due_incident_deadlines(moment),
            "gate_deadlines_settled": self._gate.settle_gate_deadlines(moment)})

    def advance_by_event_time(self) -> rs.AdvanceReport:
        """Record what the facts themselves have passed (imports, replays): freshness
        deadlines, alerts and incident deadlines each by its tenant's own event time."""
        changes = self._alerts.evaluate_alerts()
        missed, _ = self._freshness.advance_freshness_by_event_time()
        incidents = self._incidents.record_due_incident_deadlines_per_tenant(
            alerting.publish_watermarks(self._store))
        return rs.AdvanceReport.of({"freshness_missed": missed, "alert_changes": changes,
                                    "incident_deadlines_missed": incidents})

    def next_due(self, now: datetime) -> datetime | None:
        """When the next incident or freshness deadline falls due (for the driver)."""
        dues = [q.next_due() for q in (self._incidents.incident_deadlines(),
                                        self._freshness.freshness_deadlines())]
        known = [d for d in dues if d is not None]
        return min(known) if known else None


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if value.keys() == {"_type_", "_data_"} and value["_type_"] == "datetime_iso":
            return fmt_time(moment(value))
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _plain_times(row: dict[str, Any]) -> dict[str, Any]:
    """An action row whose details (JSON text) hold stored times
    (``{"_type_": "datetime_iso", "_data_": …}``, e.g. a token's ``expires_at``, a grace
    deadline) with those times as RFC 3339 text instead."""
    details = row.get("details")
    if not isinstance(details, str) or '"_type_"' not in details:
        return row
    plain = _unwrap(orjson.loads(details))
    return {**row, "details": orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode()}
