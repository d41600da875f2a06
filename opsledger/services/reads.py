"""The read side of ``Operations``: views (audit trail, SLOs), freshness and deadlines."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from opsledger.domain import topics
from opsledger.domain.errors import NotFound
from opsledger.domain.time import iso_utc, utc
from opsledger.projections import (
    AuditQuery,
    SqlStore,
    TrackingConflict,
    ViewRunner,
    ViewStatus,
    alert_rows,
    slo_query,
)
from opsledger.projections import audit as audit_queries
from opsledger.projections._stream import stream_query
from opsledger.projections.timeline import iter_timeline
from opsledger.services import alerting, freshness
from opsledger.services.slo import Period, slo_row
from opsledger.store.asof import evaluated_by

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["ReadModels"]


class ReadModels:
    """Queries over the views, kept current by catching up before each read."""

    sql: SqlStore
    views: ViewRunner

    def _ops(self) -> Operations:
        return cast("Operations", self)

    def catch_up(self, progress: Callable[[int, int], None] | None = None, *,
                 retry: bool = False) -> int:
        """Bring every running view up to date; returns the number of events applied. A
        view that fails stops alone (see :meth:`view_status`); ``retry`` lets stopped views
        run again (after the cause was fixed)."""
        while True:
            try:
                return self.views.catch_up(progress=progress, retry=retry)
            except TrackingConflict:
                continue

    def rebuild_views(self, progress: Callable[[int, int], None] | None = None,
                      views: Sequence[str] | None = None) -> int:
        """Clear and re-apply every view (or the named ones and the views that depend on
        them) from the first event; a rebuilt view that had stopped runs again."""
        return self.views.rebuild(progress=progress, views=views)

    def view_status(self) -> list[ViewStatus]:
        """Each view's position, lag and, if it stopped, where and why."""
        return self.views.status()

    def _scoped(self, query: AuditQuery) -> AuditQuery:
        if not query.all_tenants:
            if not query.tenant_id:
                raise NotFound("an audit query needs --tenant, or --all-tenants (operator scope)")
            self._ops()._tenant(query.tenant_id)
        self.catch_up()
        return query

    def audit(self, query: AuditQuery) -> list[dict[str, Any]]:
        """Publish operations and outcomes matching ``query`` (tenant-scoped)."""
        return audit_queries.publish_rows(self.sql, self._scoped(query))

    def audit_stream(self, query: AuditQuery) -> Iterator[dict[str, Any]]:
        """:meth:`audit` as rows read in bounded batches while they are consumed (memory
        flat in the number of rows), in business-time order (then tenant and operation).
        The scope is checked now; the read transaction stays open until the end."""
        where, params = self._scoped(query).where()
        limit = f" LIMIT {int(query.limit)}" if query.limit else ""
        return stream_query(self.sql, f"SELECT * FROM {self.sql.table('audit_publish')}{where} "
                                      f"ORDER BY occurred_at, tenant_id, operation_id{limit}",
                            params)

    def audit_refusals_stream(self, query: AuditQuery) -> Iterator[dict[str, Any]]:
        """:meth:`audit_refusals` read in bounded batches (in business-time order)."""
        scoped = self._scoped(AuditQuery(
            tenant_id=query.tenant_id, all_tenants=query.all_tenants,
            repository_id=query.repository_id, since=query.since, until=query.until))
        where, params = scoped.where()
        return stream_query(self.sql, f"SELECT * FROM {self.sql.table('audit_refusal')}{where} "
                                      "ORDER BY occurred_at, refusal_id", params)

    def audit_refusals(self, query: AuditQuery) -> list[dict[str, Any]]:
        """Refused commands in scope."""
        return audit_queries.refusal_rows(self.sql, self._scoped(query))

    def audit_actions(self, query: AuditQuery) -> list[dict[str, Any]]:
        """Operator actions with their actors, in scope."""
        return audit_queries.action_rows(self.sql, self._scoped(query))

    def audit_summary(self, query: AuditQuery) -> list[dict[str, Any]]:
        """Counts per tenant / outcome / error code (integers on every backend:
        PostgreSQL's ``SUM`` gives decimals)."""
        rows = audit_queries.summary_rows(self.sql, self._scoped(query))
        for row in rows:
            for column in ("operations", "collisions", "key_missing"):
                if row.get(column) is not None:
                    row[column] = int(row[column])
        return rows

    # ---- SLOs and freshness (policy §2) -------------------------------------------------
    def slo(
        self,
        period: Period,
        *,
        tenant_id: str | None = None,
        all_tenants: bool = False,
        repository_id: str | None = None,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """SLO rows for the period: the tenant total first, then each repository (or, in
        the operator scope, each tenant's total and then all tenants together)."""
        if not all_tenants:
            if not tenant_id:
                raise NotFound("an SLO query needs a tenant, or all_tenants=True")
            self._ops()._tenant(tenant_id)
        moment = self._ops()._now(now, "now", command=False)
        self.catch_up()
        as_of = min(period.end, max(period.start, moment))
        policy = self._ops().policy_at(as_of - timedelta(microseconds=1))
        start, end = iso_utc(period.start)[:16], iso_utc(period.end)[:16]
        if repository_id is not None:
            scopes: list[tuple[str | None, str | None]] = [(tenant_id, repository_id)]
        elif all_tenants:
            tenants = sorted({t for t, _ in slo_query.repositories(self.sql, None, start, end)})
            scopes = [*((t, None) for t in tenants), (None, None)]
        else:
            repos = [r for _, r in slo_query.repositories(self.sql, tenant_id, start, end)]
            scopes = [(tenant_id, None), *((tenant_id, r) for r in repos)]
        return [slo_row(self.sql, t, r, period, moment, policy) for t, r in scopes]

    def record_visibility(
        self,
        *,
        tenant_id: str,
        repository_id: str,
        idempotency_key: str,
        payload_hash: str,
        visible_at: datetime,
    ) -> bool:
        """Record when an accepted payload became visible downstream (False if known)."""
        return freshness.record_visibility(
            self._ops(), tenant_id, repository_id, idempotency_key, payload_hash, visible_at)

    def advance(self, now: datetime | None = None) -> dict[str, int]:
        """Record every deadline due by ``now`` (default: the clock) at its due time, and
        evaluate the alert rules up to ``now`` minus the allowed lateness."""
        moment = self._ops()._now(now, "now", command=False)
        changes = self.evaluate_alerts(moment)
        missed = freshness.advance_freshness(self._ops(), moment)
        return {"freshness_missed": missed, "alert_changes": changes,
                "incident_deadlines_missed": self._ops().record_due_incident_deadlines(moment),
                "gate_deadlines_settled": self._ops().settle_gate_deadlines(moment)}

    def advance_by_event_time(self) -> dict[str, int]:
        """Record what the facts themselves have passed (imports, replays): freshness
        deadlines by the visibility stream's time, alerts and incident deadlines by each
        tenant's own watermark."""
        changes = self.evaluate_alerts()
        watermark = freshness.visibility_watermark(self._ops())
        missed = freshness.advance_freshness(self._ops(), watermark) if watermark else 0
        incidents = self._ops().record_due_incident_deadlines_per_tenant(
            alerting.publish_watermarks(self._ops()))
        return {"freshness_missed": missed, "alert_changes": changes,
                "incident_deadlines_missed": incidents}

    def replay(self, tenant_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The RCA timeline of one tenant over ``[start, end)``: publish minutes, alerts,
        incident transitions and deadlines, gate, mode and policy changes, freshness
        misses — ordered by ``at``; the same store always gives the same list."""
        return list(self.replay_stream(tenant_id, start, end))

    def replay_stream(self, tenant_id: str, start: datetime, end: datetime
                      ) -> Iterator[dict[str, Any]]:
        """:meth:`replay` produced as the views are read: memory flat in the range's
        length (a year of publish minutes). The tenant is checked now."""
        self._ops()._tenant(tenant_id)
        self.catch_up()
        return iter_timeline(self.sql, tenant_id, iso_utc(start), iso_utc(end))

    # ---- alerts (policy §4) ---------------------------------------------------------
    subscribers: list[tuple[alerting.Subscriber, frozenset[str]]]

    def subscribe(self, callback: alerting.Subscriber,
                  kinds: tuple[str, ...] = (topics.action(topics.ALERT_TRIGGERED),
                                             topics.action(topics.ALERT_RESOLVED))) -> None:
        """Call ``callback(event)`` after each alert event this process stores. A failing
        callback is retried and logged; it never loses or blocks the event."""
        self.subscribers.append((callback, frozenset(kinds)))

    def late_alert_facts(self) -> dict[str, dict[str, int]]:
        """Per tenant, facts that arrived behind its own event time (``late``) and how many
        still wait for re-evaluation (``pending``); tenants with none are absent."""
        return alerting.late_facts(self._ops())

    def alert_process_status(self) -> dict[str, Any]:
        """The alert process's position in the log and its late facts per tenant."""
        return {"position": alerting.position(self._ops()),
                "late_facts": alerting.late_facts(self._ops())}

    def evaluate_alerts(self, now: datetime | None = None) -> int:
        """Run the alert process over every new fact; returns the alert changes recorded."""
        return alerting.evaluate(self._ops(), now=now, subscribers=self.subscribers)

    def alerts(
        self,
        *,
        tenant_id: str | None = None,
        all_tenants: bool = False,
        rule: str | None = None,
        open_only: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        as_of: datetime | None = None,
        include_withdrawn: bool = False,
    ) -> list[dict[str, Any]]:
        """Alert history in scope (a tenant, or every tenant with ``all_tenants``); with
        ``as_of``, as it stood then: alerts the rules had evaluated by that time (they
        wait behind the watermark), open if not yet resolved then. Alerts found by re-evaluating
        late facts are flagged ``backfilled`` (with ``found_at``); those late facts showed
        never held are ``withdrawn`` and listed only with ``include_withdrawn``."""
        if not all_tenants:
            if not tenant_id:
                raise NotFound("an alert query needs a tenant, or all_tenants=True")
            self._ops()._tenant(tenant_id)
        self.evaluate_alerts()
        self.catch_up()
        rows = alert_rows(self.sql, None if all_tenants else tenant_id, rule, False, since,
                          until, include_withdrawn)
        if as_of is not None:
            moment = utc(as_of, "as_of")
            cutoff = iso_utc(evaluated_by(
                moment, self._ops().policy_at(moment).alerts.allowed_lateness_seconds))
            rows = [r for r in rows if r["triggered_at"] <= cutoff]
            for r in rows:
                if r["resolved_at"] is not None and r["resolved_at"] > cutoff:
                    r["resolved_at"] = r["resolution"] = None
        return [r for r in rows if not open_only or r["resolved_at"] is None]
