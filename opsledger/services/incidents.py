"""Incidents as a service (policy §3): open, acknowledge, mitigate, update,
change severity, resolve, publish the RCA, schedule a SEV3 fix, close; and the sweep
that records missed deadlines at their due times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from opsledger import results as rs
from opsledger.domain.bounds import bounded
from opsledger.domain.errors import NotFound
from opsledger.domain.incident import Incident, Severity
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import iso_utc, utc
from opsledger.projections import incidents as incident_view
from opsledger.projections.sla import sla_summary
from opsledger.projections.timeline import timeline
from opsledger.scheduler import Deadline, DeadlineQueue
from opsledger.services._incident_sweep import event_entries, record_all
from opsledger.services.clock import BusinessClock
from opsledger.services.gate import GateState
from opsledger.services.policies import Policies
from opsledger.services.tenants import Tenants
from opsledger.services.views import Views
from opsledger.store.asof import as_of, evaluated_by
from opsledger.store.events import EventStore

__all__ = ["Incidents"]


class Incidents:
    """Incident commands, reads and the sweep of their deadlines."""

    def __init__(self, store: EventStore, clock: BusinessClock, policies: Policies,
                 tenants: Tenants, gate: GateState, views: Views) -> None:
        self._store = store
        self._clock = clock
        self._policies = policies
        self._tenants = tenants
        self._gate = gate
        self._views = views

    def _incident(self, incident_id: str | UUID) -> Incident:
        try:
            found = self._store.get(UUID(str(incident_id)), Incident)
        except ValueError:  # not a UUID
            found = None
        if found is None:
            raise NotFound(f"no incident {incident_id}")
        return found

    def _escalation(self, at: datetime) -> tuple[str, OperationsPolicy]:
        """The secondary owner (the gate's, else the policy's) and the policy in force."""
        policy = self._policies.policy_at(at)
        return self._gate.secondary_owner() or policy.ownership.secondary_owner, policy

    def _change_incident(self, incident_id: str | UUID, at: datetime | None,
                         change: Callable[[Incident, datetime], object]) -> rs.Incident:
        moment = self._clock.now(at)
        def act(incident: Incident) -> Incident:
            incident.check_not_before_history(moment)
            change(incident, moment)
            return incident

        incident = self._store.update(lambda: self._incident(incident_id), act)
        return rs.Incident.of(incident_view.describe(incident))

    @bounded(title="text", cause="label", by="id", tenant_id="id", alert_ids="ids", at="time",
             request_id="id")
    def open_incident(self, *, severity: Severity | str, title: str, cause: str, by: str,
                      tenant_id: str | None = None, alert_ids: list[str] | None = None,
                      at: datetime | None = None,
                      request_id: str | None = None) -> rs.Incident:
        """Open an incident (platform-wide when no tenant); returns it as ``show`` does.
        With ``request_id`` the opening is idempotent: the same id opens one incident (its
        id derived from the request id), and a retry returns that incident unchanged."""
        moment = self._clock.now(at)
        if tenant_id is not None:
            self._tenants.tenant(tenant_id)  # UnknownTenant if not registered
        key = uuid4().hex if request_id is None else f"request/{request_id}"
        if request_id is not None:
            existing = self._store.get(Incident.create_id(key), Incident)
            if existing is not None:
                return rs.Incident.of(incident_view.describe(existing))
        incident = Incident.open(key=key, severity=Severity(severity),
                                 tenant_id=tenant_id, title=title, cause=cause, by=by,
                                 at=moment, policy=self._policies.policy_at(moment),
                                 alert_ids=alert_ids)
        self._store.save(incident)
        return rs.Incident.of(incident_view.describe(incident))

    @bounded(incident_id="ref", by="id", at="time")
    def acknowledge(self, incident_id: str | UUID, *, by: str,
                    at: datetime | None = None) -> rs.Incident:
        """Acknowledge (policy §3)."""
        return self._change_incident(incident_id, at, lambda i, t: i.acknowledge(
            by, t, *self._escalation(t)))

    @bounded(incident_id="ref", by="id", at="time")
    def start_mitigation(self, incident_id: str | UUID, *, by: str,
                         at: datetime | None = None) -> rs.Incident:
        """Mitigation started (policy §3)."""
        return self._change_incident(incident_id, at, lambda i, t: i.start_mitigation(
            by, t, *self._escalation(t)))

    @bounded(incident_id="ref", message="text", by="id", at="time")
    def post_status_update(self, incident_id: str | UUID, *, message: str, by: str,
                           customer_facing: bool = True,
                           at: datetime | None = None) -> rs.Incident:
        """A status update (customer-facing ones keep the SEV1 30-minute cadence)."""
        def post(i: Incident, t: datetime) -> None:
            owner, policy = self._escalation(t)
            i.post_status_update(message, customer_facing, by, t, policy, owner)

        return self._change_incident(incident_id, at, post)

    @bounded(incident_id="ref", reason="text", by="id", at="time")
    def change_severity(self, incident_id: str | UUID, *, severity: Severity | str,
                        reason: str, by: str, at: datetime | None = None) -> rs.Incident:
        """Re-grade; open deadlines are recomputed from the opening time."""
        def change(i: Incident, t: datetime) -> None:
            owner, policy = self._escalation(t)
            i.change_severity(Severity(severity), reason, by, t, policy, owner)

        return self._change_incident(incident_id, at, change)

    @bounded(incident_id="ref", summary="text", by="id", at="time")
    def resolve_incident(self, incident_id: str | UUID, *, summary: str, by: str,
                         at: datetime | None = None) -> rs.Incident:
        """Resolved; the RCA clock starts (business days)."""
        def resolve(i: Incident, t: datetime) -> None:
            owner, policy = self._escalation(t)
            i.resolve(summary, by, t, policy, owner)

        return self._change_incident(incident_id, at, resolve)

    @bounded(incident_id="ref", link="label", by="id", at="time")
    def publish_rca(self, incident_id: str | UUID, *, link: str, by: str,
                    at: datetime | None = None) -> rs.Incident:
        """The RCA is published."""
        return self._change_incident(incident_id, at, lambda i, t: i.publish_rca(
            link, by, t, *self._escalation(t)))

    @bounded(incident_id="ref", sprint="label", by="id", at="time")
    def schedule_fix(self, incident_id: str | UUID, *, sprint: str, by: str,
                     at: datetime | None = None) -> rs.Incident:
        """SEV3: fix scheduled in the sprint flow."""
        return self._change_incident(incident_id, at, lambda i, t: i.schedule_fix(
            sprint, by, t))

    @bounded(incident_id="ref", by="id", at="time")
    def close_incident(self, incident_id: str | UUID, *, by: str,
                       at: datetime | None = None) -> rs.Incident:
        """Closed."""
        return self._change_incident(incident_id, at, lambda i, t: i.close(by, t))

    def incident(self, incident_id: str | UUID, *,
                 as_of: datetime | None = None) -> rs.Incident:
        """One incident with its deadlines (``id``, ``severity``, ``state``, ``deadlines``);
        with ``as_of``, as it stood then."""
        incident = self._incident(incident_id)
        if as_of is not None:
            incident = self._incident_as_of(incident.id, utc(as_of, "as_of"))
        return rs.Incident.of(incident_view.describe(incident))

    def _incident_as_of(self, incident_id: UUID, moment: datetime) -> Incident:
        found: Incident | None = as_of(self._store.app, incident_id, moment)
        if found is None or (found.alert_ids and found.opened_at > evaluated_by(
                moment, self._policies.policy_at(moment).alerts.allowed_lateness_seconds)):
            raise NotFound(f"incident {incident_id} did not exist at {moment.isoformat()}")
        return found

    def incident_timeline(self, incident_id: str | UUID) -> list[rs.TimelineEntry]:
        """The incident's events, its linked alerts' triggers and resolutions, and its
        tenant's per-minute publish statistics from 30 minutes before it opened to 30
        minutes after it was resolved, in business-time order (deterministic)."""
        incident = self._incident(incident_id)
        entries = event_entries(self._store.app.events.get(incident.id))
        for alert_id in incident.alert_ids:
            for e in self._store.app.events.get(UUID(alert_id)):
                if "occurred_at" not in vars(e):  # a revision after late facts: not an entry
                    continue
                fields = vars(e)
                extra = {} if "by" not in fields else {  # an operator's judgement
                    k: fields.get(k) for k in ("by", "verdict", "reason", "incident_id")}
                entries.append({"at": iso_utc(fields["occurred_at"]),
                                "kind": type(e).__qualname__, "alert_id": alert_id,
                                "rule": fields["rule"], **extra})
        if incident.tenant_id is not None:
            self._views.catch_up()
            around = timedelta(minutes=30)
            end = incident.times.get("resolved", max(e_at for e_at in incident.times.values()))
            entries += [e for e in timeline(self._store.sql, incident.tenant_id,
                                            iso_utc(incident.opened_at - around),
                                            iso_utc(end + around))
                        if e["kind"] == "publish_minute"]
        return list(rs.TimelineEntry.of(e) for e in sorted(entries, key=lambda e: e["at"]))

    def incident_events_between(self, tenant_id: str, start: str, end: str) -> Iterator[
            tuple[str, str, list[rs.TimelineEntry]]]:
        """(id, severity, its events in ``[start, end)``) of each of the tenant's incidents
        with events then (fixed-width UTC text), by opening time: the incident events of
        :meth:`incident_timeline`, read from the incidents that have some in the range."""
        self._views.catch_up()
        for row in incident_view.incidents_between(self._store.sql, tenant_id, start, end):
            events = sorted(event_entries(self._store.app.events.get(UUID(row["id"]))),
                            key=lambda e: e["at"])
            yield row["id"], row["severity"], [rs.TimelineEntry.of(e) for e in events
                                               if start <= e["at"] < end]

    def incidents(self, *, tenant_id: str | None = None, all_tenants: bool = False,
                  state: str | None = None,
                  as_of: datetime | None = None) -> list[rs.Incident]:
        """Incidents in scope (platform-wide ones belong to the operator scope); with
        ``as_of``, those that existed then, each as it stood (``show``'s shape)."""
        self._tenants.check_scope(tenant_id, all_tenants, "an incident query")
        self._views.catch_up()
        rows = incident_view.incident_rows(self._store.sql,
                                           None if all_tenants else tenant_id, None)
        if as_of is None:
            return list(rs.Incident.of(r) for r in rows if state is None or r["state"] == state)
        shown = []
        for row in rows:
            try:
                then = self._incident_as_of(UUID(row["id"]), utc(as_of, "as_of"))
            except NotFound:
                continue
            if state is None or then.state.value == state:
                shown.append(rs.Incident.of(incident_view.describe(then)))
        return list(shown)

    def incident_deadlines(self) -> DeadlineQueue:
        """Every pending incident deadline with a due time, from the store."""
        self._views.catch_up()
        return DeadlineQueue(
            Deadline(due, "incident", (row["incident_id"], row["kind"]))
            for row in incident_view.pending_deadlines(self._store.sql)
            for due in [utc(row["due"], "due_at")]
        )

    def sla(self, start: datetime, end: datetime, *, tenant_id: str | None = None,
            all_tenants: bool = False, as_of: datetime | None = None) -> list[rs.SlaFigures]:
        """SLA compliance per severity for incidents opened in ``[start, end)``; with
        ``as_of``, as it stood then (deadlines decided, incidents acknowledged, mitigated
        and resolved before it)."""
        start, end = utc(start, "start"), utc(end, "end")
        moment = None if as_of is None else utc(as_of, "as_of")
        self._tenants.check_scope(tenant_id, all_tenants, "an SLA query")
        self._views.catch_up()
        return list(rs.SlaFigures.of(row) for row in sla_summary(
            self._store.sql, start, end, None if all_tenants else tenant_id, moment))

    def record_due_incident_deadlines(self, now: datetime) -> int:
        """Record every incident deadline due by ``now`` as missed, at its due time.

        Two sweepers racing on one store: the second's save conflicts on the incident's
        version, it reloads, finds the deadline recorded and moves on.
        """
        due = self.incident_deadlines().due(now)
        return record_all(self._store, ((self._incident(incident_id), now)
                                        for incident_id in dict.fromkeys(d.key[0] for d in due)),
                          self._escalation, self._record_overdue)

    def record_due_incident_deadlines_per_tenant(self, marks: dict[str, datetime]) -> int:
        """Record incident deadlines as missed on each tenant's own event time ``marks``
        (one tenant's facts never make another's deadline pass); an incident of no
        tenant goes by the newest of them."""
        if not marks:
            return 0
        newest = max(marks.values())

        def due() -> Iterator[tuple[Incident, datetime]]:
            for incident_id in dict.fromkeys(
                    d.key[0] for d in self.incident_deadlines().due(newest)):
                incident = self._incident(incident_id)
                tenant = incident.tenant_id
                if tenant is None or tenant in marks:
                    yield incident, marks.get(tenant or "", newest)

        return record_all(self._store, due(), self._escalation, self._record_overdue)

    def _record_overdue(self, incident_id: str, now: datetime) -> int:
        owner, policy = self._escalation(now)

        def miss(incident: Incident) -> int:
            return incident.record_overdue(now, owner, policy)

        return self._store.update(lambda: self._incident(incident_id), miss)

