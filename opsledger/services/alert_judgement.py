"""Operators' judgement of alerts (issue 17; policy §7 tunes thresholds on it): acknowledge
an alert, mark it actionable or noise (noise with a reason), link it to an incident. Each is
an event on the alert with who and when; the alert history view shows the outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from opsledger import results as rs
from opsledger.domain.alert import Alert
from opsledger.domain.bounds import bounded
from opsledger.domain.errors import InvalidInput, NotFound
from opsledger.domain.incident import Incident
from opsledger.projections.alerts import alert_row
from opsledger.services.clock import BusinessClock
from opsledger.services.views import Views
from opsledger.store.events import EventStore

__all__ = ["AlertJudgement"]


def _uuid(value: str | UUID) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:  # not a UUID
        return None


class AlertJudgement:
    """Operator commands on alerts; each returns the alert as the history lists it."""

    def __init__(self, store: EventStore, clock: BusinessClock, views: Views) -> None:
        self._store = store
        self._clock = clock
        self._views = views

    def _alert(self, alert_id: str | UUID) -> Alert:
        key = _uuid(alert_id)
        found = None if key is None else self._store.get(key, Alert)
        if found is None:
            raise NotFound(f"no alert {alert_id}")
        return found

    def _change(self, alert_id: str | UUID, at: datetime | None,
                change: Callable[[Alert, datetime], object]) -> rs.Alert:
        moment = self._clock.now(at)

        def act(alert: Alert) -> Alert:
            change(alert, moment)
            return alert

        alert = self._store.update(lambda: self._alert(alert_id), act)
        self._views.catch_up()
        row = alert_row(self._store.sql, str(alert.id))
        if row is None:  # the alerts view stopped (see view_status)
            raise NotFound(f"alert {alert.id} is not in the alert history view")
        return rs.Alert.of(row)

    @bounded(alert_id="ref", by="id", at="time")
    def acknowledge_alert(self, alert_id: str | UUID, *, by: str,
                          at: datetime | None = None) -> rs.Alert:
        """Someone has seen the alert (once: a second acknowledgement is refused)."""
        return self._change(alert_id, at, lambda a, t: a.acknowledge(by, t))

    @bounded(alert_id="ref", verdict="id", reason="text", by="id", at="time")
    def judge_alert(self, alert_id: str | UUID, verdict: str, *, reason: str | None = None,
                    by: str, at: datetime | None = None) -> rs.Alert:
        """Mark the alert ``actionable`` or ``noise`` (noise needs a ``reason``); a later
        judgement replaces an earlier one (policy §7: threshold tuning counts these)."""
        return self._change(alert_id, at, lambda a, t: a.judge(verdict, reason, by, t))

    @bounded(alert_id="ref", incident_id="ref", by="id", at="time")
    def link_alert(self, alert_id: str | UUID, incident_id: str | UUID, *, by: str,
                   at: datetime | None = None) -> rs.Alert:
        """Link the alert to an incident (of its tenant, or platform-wide); unjudged, a
        linked alert counts as actionable."""
        key = _uuid(incident_id)
        incident = None if key is None else self._store.get(key, Incident)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")

        def link(alert: Alert, at_: datetime) -> None:
            if incident.tenant_id not in (None, alert.tenant_id):
                raise InvalidInput(f"incident {incident.id} is another tenant's than alert "
                                   f"{alert.id}'s")
            alert.link_to_incident(str(incident.id), by, at_)

        return self._change(alert_id, at, link)
