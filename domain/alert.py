"""The Alert aggregate and the policy's alert rules (policy §4).

An alert is one firing of one rule for one tenant: ``Triggered`` (rule, level, window,
observed value, threshold, ``triggered_at``) and later ``Resolved``. An alert found by
re-evaluating facts that arrived late is *backfilled*: its ``Triggered`` carries
``details["backfilled"]`` and ``details["found_at"]`` (the event time it was found). When
late facts show a recorded alert ended at another time, or never held, it is ``Revised``
(its new ``resolved_at``, or ``withdrawn``) — history is amended, never deleted. Operators
judge it: ``Acknowledged``, ``Judged`` (actionable or noise, a later judgement replacing an
earlier one) and ``LinkedToIncident``, each with who and when. Its id is
a uuid5 of tenant, rule and trigger time, so evaluating the same facts twice — a second process, a
rebuild — can never create a second alert: the store rejects the duplicate stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.errors import IllegalTransition, InvalidInput
from opsledger.domain.ids import NAMESPACE
from opsledger.domain.time import fmt_time

__all__ = ["RULES", "VERDICTS", "Alert", "alert_uuid"]

#: rule id -> (level, policy clause id). The ids are a public contract.
RULES: dict[str, tuple[str, str]] = {
    "no_successful_ingestion": ("critical", "4.critical.no_successful_ingestion"),
    "tenant_boundary_violation": ("critical", "4.critical.tenant_boundary_violation"),
    "publish_error_rate": ("high", "4.high.publish_error_rate"),
    "auth_scope_failures": ("high", "4.high.auth_scope_failures"),
    "idempotency_collision_rate": ("high", "4.high.idempotency_collision_rate"),
    "publish_latency_p95": ("medium", "4.medium.publish_latency_p95"),
    "freshness_under_target": ("medium", "4.medium.freshness_under_target"),
    "availability_burn_page": ("high", "2.availability"),
    "availability_burn_ticket": ("medium", "2.availability"),
}


#: An operator's judgement of an alert: it called for action, or it was noise.
VERDICTS = ("actionable", "noise")


def alert_uuid(tenant_id: str, rule: str, triggered_at: datetime) -> UUID:
    """Deterministic: the same firing evaluated twice is the same stream."""
    return uuid5(NAMESPACE, f"alert/{tenant_id}/{rule}/{triggered_at.isoformat()}")


class Alert(Aggregate):
    """One firing of one rule for one tenant."""

    TOPIC = topics.ALERT_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.ALERT_CREATED

    @staticmethod
    def create_id(tenant_id: str, rule: str, occurred_at: datetime) -> UUID:
        """See :func:`alert_uuid`."""
        return alert_uuid(tenant_id, rule, occurred_at)

    @event("Triggered", topic=topics.ALERT_TRIGGERED)
    def __init__(
        self,
        tenant_id: str,
        rule: str,
        level: str,
        repository_id: str | None,
        occurred_at: datetime,
        window_start: datetime,
        window_end: datetime,
        observed: float | None,
        threshold: float | None,
        details: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.rule = rule
        self.level = level
        self.repository_id = repository_id
        self.triggered_at = occurred_at
        self.resolved_at: datetime | None = None
        self.withdrawn = False
        self.acknowledged_at: datetime | None = None
        self.acknowledged_by: str | None = None
        self.verdict: str | None = None
        self.verdict_reason: str | None = None
        self.judged_by: str | None = None
        self.incident_id: str | None = details.get("incident_id") if details else None

    def resolve(self, at: datetime, reason: str) -> None:
        """Close the alert; refused if it is already resolved."""
        if self.resolved_at is not None:
            raise IllegalTransition(f"alert {self.id}", "resolve", "resolved")
        self._resolve(tenant_id=self.tenant_id, rule=self.rule, occurred_at=at, reason=reason)

    @event("Resolved", topic=topics.ALERT_RESOLVED)
    def _resolve(self, tenant_id: str, rule: str, occurred_at: datetime, reason: str) -> None:
        self.resolved_at = occurred_at

    def revise(self, resolved_at: datetime | None, withdrawn: bool, reason: str,
               found_at: datetime) -> None:
        """Amend the alert after late facts were evaluated: its end (None: still open) and
        whether it held at all; ``found_at`` is the event time the revision was found."""
        if resolved_at == self.resolved_at and withdrawn == self.withdrawn:
            raise IllegalTransition(f"alert {self.id}", "revise", "unchanged")
        self._revise(tenant_id=self.tenant_id, rule=self.rule, resolved_at=resolved_at,
                     withdrawn=withdrawn, reason=reason, found_at=found_at)

    @event("Revised", topic=topics.ALERT_REVISED)
    def _revise(self, tenant_id: str, rule: str, resolved_at: datetime | None,
                withdrawn: bool, reason: str, found_at: datetime) -> None:
        self.resolved_at = resolved_at
        self.withdrawn = withdrawn

    def _check_judgeable(self, command: str, at: datetime) -> None:
        """An operator may act on an alert that held, no earlier than it fired."""
        if self.withdrawn:
            raise IllegalTransition(f"alert {self.id}", command, "withdrawn")
        if at < self.triggered_at:
            raise InvalidInput(f"at {fmt_time(at)} is before alert {self.id} triggered "
                               f"({fmt_time(self.triggered_at)})")

    def acknowledge(self, by: str, at: datetime) -> None:
        """Someone has seen the alert; refused if already acknowledged."""
        self._check_judgeable("acknowledge", at)
        if self.acknowledged_at is not None:
            raise IllegalTransition(f"alert {self.id}", "acknowledge", "acknowledged")
        self._acknowledge(tenant_id=self.tenant_id, rule=self.rule, by=by, occurred_at=at)

    @event("Acknowledged", topic=topics.ALERT_ACKNOWLEDGED)
    def _acknowledge(self, tenant_id: str, rule: str, by: str, occurred_at: datetime) -> None:
        self.acknowledged_at = occurred_at
        self.acknowledged_by = by

    def judge(self, verdict: str, reason: str | None, by: str, at: datetime) -> None:
        """Mark the alert actionable or noise; noise needs a reason. A later judgement
        replaces an earlier one."""
        if verdict not in VERDICTS:
            raise InvalidInput(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
        if verdict == "noise" and not (reason or "").strip():
            raise InvalidInput("reason: required to mark an alert noise")
        self._check_judgeable("judge", at)
        self._judge(tenant_id=self.tenant_id, rule=self.rule, verdict=verdict,
                    reason=reason or None, by=by, occurred_at=at)

    @event("Judged", topic=topics.ALERT_JUDGED)
    def _judge(self, tenant_id: str, rule: str, verdict: str, reason: str | None, by: str,
               occurred_at: datetime) -> None:
        self.verdict = verdict
        self.verdict_reason = reason
        self.judged_by = by

    def link_to_incident(self, incident_id: str, by: str, at: datetime) -> None:
        """Link the alert to an incident; refused if it is linked to that one already."""
        self._check_judgeable("link", at)
        if self.incident_id == incident_id:
            raise IllegalTransition(f"alert {self.id}", "link", f"linked to {incident_id}")
        self._link(tenant_id=self.tenant_id, rule=self.rule, incident_id=incident_id, by=by,
                   occurred_at=at)

    @event("LinkedToIncident", topic=topics.ALERT_LINKED_TO_INCIDENT)
    def _link(self, tenant_id: str, rule: str, incident_id: str, by: str,
              occurred_at: datetime) -> None:
        self.incident_id = incident_id
