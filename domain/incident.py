"""The Incident aggregate (policy §3): severity, response-SLA deadlines, lifecycle.

States: ``open`` → ``acknowledged`` → ``mitigating`` → ``resolved`` → ``closed``. Every event
carries the incident's deadlines as they stand after it — computed from the policy when
they are created (opening, status update, severity change, resolution) — so views and the
scheduler read them straight from the log. ``DeadlineMissed`` carries its due time and is
recorded with ``occurred_at = due_at`` whenever it is detected. Illegal transitions raise
:class:`IllegalTransition` naming the current state.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.errors import IllegalTransition, InvalidInput
from opsledger.domain.ids import NAMESPACE
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import fmt_time

__all__ = ["CAUSES", "Incident", "Severity", "State", "incident_uuid", "initial_deadlines"]

CAUSES = ("tenant_isolation_breach", "ingestion_outage", "data_corruption_risk",
          "degraded_ingestion", "latency", "partial_publish_failures", "defect", "regression",
          "other")
Deadlines = dict[str, dict[str, Any]]


class Severity(StrEnum):
    """Policy §3 severities."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"


class State(StrEnum):
    """Where an incident is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"
    CLOSED = "closed"


def incident_uuid(key: str) -> UUID:
    """``key`` is a fresh uuid for a manual incident, ``alert/<id>`` for an automatic one."""
    return uuid5(NAMESPACE, f"incident/{key}")


def initial_deadlines(severity: Severity, opened_at: datetime,
                      policy: OperationsPolicy) -> dict[str, datetime | None]:
    """Due times counted from the opening (the RCA comes at resolution)."""
    r = policy.response
    if severity is Severity.SEV1:
        return {"acknowledge": opened_at + timedelta(minutes=r.sev1_ack_minutes),
                "mitigation": opened_at + timedelta(minutes=r.sev1_mitigation_minutes),
                "status_update": opened_at + timedelta(minutes=r.sev1_status_update_minutes)}
    if severity is Severity.SEV2:
        return {"acknowledge": opened_at + timedelta(minutes=r.sev2_ack_minutes),
                "mitigation": opened_at + timedelta(minutes=r.sev2_mitigation_minutes)}
    calendar = policy.business_calendar()
    return {"acknowledge": calendar.add_business_days(opened_at, r.sev3_ack_business_days),
            "fix_scheduled": None}


def pending(due: datetime | None) -> dict[str, Any]:
    """A deadline not yet met or missed."""
    return {"due_at": due, "status": "pending", "met_at": None, "missed_at": None}


class Incident(Aggregate):
    """One incident and its response-SLA clocks."""

    TOPIC = topics.INCIDENT_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.INCIDENT_CREATED

    @staticmethod
    def create_id(key: str) -> UUID:
        """See :func:`incident_uuid`."""
        return incident_uuid(key)

    @event("Opened", topic=topics.INCIDENT_OPENED)
    def __init__(self, key: str, severity: str, tenant_id: str | None, title: str, cause: str,
                 alert_ids: list[str], deadlines: Deadlines, by: str,
                 occurred_at: datetime) -> None:
        self.severity = Severity(severity)
        self.tenant_id = tenant_id
        self.title = title
        self.cause = cause
        self.alert_ids = list(alert_ids)
        self.opened_at = occurred_at
        self.state = State.OPEN
        self.deadlines: Deadlines = deadlines
        self.escalated_to: str | None = None
        self.rca_link: str | None = None
        self.fix_sprint: str | None = None
        self.times: dict[str, datetime] = {"opened": occurred_at}
        #: The business time of the incident's latest event: its history runs to here.
        self.last_at = occurred_at

    @classmethod
    def open(cls, *, key: str, severity: Severity, tenant_id: str | None, title: str,
             cause: str, by: str, at: datetime, policy: OperationsPolicy,
             alert_ids: list[str] | None = None) -> Incident:
        """Open an incident; its deadlines follow from the severity and the policy."""
        if cause not in CAUSES:
            raise InvalidInput(f"cause {cause!r}: expected one of {', '.join(CAUSES)}")
        if not title.strip():
            raise InvalidInput("an incident needs a title")
        dues = initial_deadlines(Severity(severity), at, policy)
        return cls(key=key, severity=Severity(severity).value, tenant_id=tenant_id,
                   title=title, cause=cause, alert_ids=alert_ids or [],
                   deadlines={k: pending(v) for k, v in dues.items()}, by=by, occurred_at=at)

    # ---- helpers (pure: compute the deadlines an event will carry) --------------------
    def _require(self, command: str, *states: State) -> None:
        if self.state not in states:
            raise IllegalTransition(f"incident {self.id}", command, self.state.value)

    def _settled(self, kind: str, at: datetime, into: Deadlines | None = None) -> Deadlines:
        """Deadlines with ``kind`` met at ``at`` (a late one stays missed)."""
        result = copy.deepcopy(self.deadlines) if into is None else into
        d = result.get(kind)
        if d is not None and d["status"] == "pending":
            due = d["due_at"]
            if due is None or at <= due:
                d.update(status="met", met_at=at)
            else:
                d.update(status="missed", missed_at=due, done_at=at)
        elif d is not None and d["status"] == "missed":
            d.setdefault("done_at", at)
        return result

    def overdue(self, at: datetime) -> list[tuple[str, datetime]]:
        """Pending deadlines already past at ``at`` (acting exactly at the due time is on
        time), earliest first: (kind, due_at)."""
        due = sorted((d["due_at"], k) for k, d in self.deadlines.items()
                     if d["status"] == "pending" and d["due_at"] is not None
                     and d["due_at"] < at)
        return [(k, t) for t, k in due]

    def check_not_before_history(self, at: datetime) -> None:
        """An operator's action may not be dated before what the incident has recorded
        already (its opening, an earlier action, a deadline missed): history is appended
        to, never rewritten, so every point-in-time read of it stays meaningful."""
        if at < self.last_at:
            raise InvalidInput(f"at {fmt_time(at)} is before incident {self.id}'s history, "
                               f"which runs to {fmt_time(self.last_at)}")

    def record_overdue(self, at: datetime, escalate_to: str,
                       policy: OperationsPolicy) -> int:
        """Record every deadline due by ``at`` as missed, each at its own due time (a missed
        status slot arms the next, which may be overdue too); returns how many."""
        recorded = 0
        while overdue := self.overdue(at):
            kind, due = overdue[0]
            recorded += self.record_missed(kind, due, escalate_to, policy)
        return recorded

    def _catch_up(self, at: datetime, escalate_to: str, policy: OperationsPolicy) -> None:
        """Record the misses an action reveals before acting."""
        self.record_overdue(at, escalate_to, policy)

    # ---- commands ---------------------------------------------------------------------
    def acknowledge(self, by: str, at: datetime, escalate_to: str,
                    policy: OperationsPolicy) -> None:
        """Someone owns it now (policy §3 acknowledge)."""
        self._require("acknowledge", State.OPEN)
        self._catch_up(at, escalate_to, policy)
        self._acknowledge(by=by, occurred_at=at, state=State.ACKNOWLEDGED.value,
                          deadlines=self._settled("acknowledge", at))

    @event("Acknowledged", topic=topics.INCIDENT_ACKNOWLEDGED)
    def _acknowledge(self, by: str, occurred_at: datetime, state: str,
                     deadlines: Deadlines) -> None:
        self._apply(state, deadlines, "acknowledged", occurred_at)

    def start_mitigation(self, by: str, at: datetime, escalate_to: str,
                         policy: OperationsPolicy) -> None:
        """Mitigation has started (policy §3 mitigation; SEV1 and SEV2)."""
        self._require("start mitigation of", State.ACKNOWLEDGED)
        if self.severity is Severity.SEV3:
            raise IllegalTransition(f"incident {self.id}", "start mitigation of",
                                    "SEV3 (its fix is scheduled in the sprint flow)")
        self._catch_up(at, escalate_to, policy)
        self._start_mitigation(by=by, occurred_at=at, state=State.MITIGATING.value,
                               deadlines=self._settled("mitigation", at))

    @event("MitigationStarted", topic=topics.INCIDENT_MITIGATION_STARTED)
    def _start_mitigation(self, by: str, occurred_at: datetime, state: str,
                          deadlines: Deadlines) -> None:
        self._apply(state, deadlines, "mitigation_started", occurred_at)

    def post_status_update(self, message: str, customer_facing: bool, by: str, at: datetime,
                           policy: OperationsPolicy, escalate_to: str) -> None:
        """A status update; a customer-facing one meets and re-arms the SEV1 cadence."""
        self._require("post a status update on", State.OPEN, State.ACKNOWLEDGED,
                      State.MITIGATING)
        if not message.strip():
            raise InvalidInput("a status update needs a message")
        self._catch_up(at, escalate_to, policy)
        deadlines = copy.deepcopy(self.deadlines)
        settled: list[dict[str, Any]] = []
        if customer_facing and "status_update" in deadlines:
            deadlines = self._settled("status_update", at, deadlines)
            settled.append(deadlines["status_update"])
            cadence = timedelta(minutes=policy.response.sev1_status_update_minutes)
            deadlines["status_update"] = pending(at + cadence)
        self._post_status_update(message=message, customer_facing=customer_facing, by=by,
                                 occurred_at=at, state=self.state.value, deadlines=deadlines,
                                 settled=settled)

    @event("StatusUpdatePosted", topic=topics.INCIDENT_STATUS_UPDATE_POSTED)
    def _post_status_update(self, message: str, customer_facing: bool, by: str,
                            occurred_at: datetime, state: str, deadlines: Deadlines,
                            settled: list[dict[str, Any]]) -> None:
        self._apply(state, deadlines, None, occurred_at)

    def change_severity(self, severity: Severity, reason: str, by: str, at: datetime,
                        policy: OperationsPolicy, escalate_to: str) -> None:
        """New severity: open deadlines recomputed from the original opening time."""
        self._require("change the severity of", State.OPEN, State.ACKNOWLEDGED,
                      State.MITIGATING)
        new = Severity(severity)
        if new is self.severity:
            raise IllegalTransition(f"incident {self.id}", f"change the severity to {new}",
                                    f"already {new}")
        if not reason.strip():
            raise InvalidInput("a severity change needs a reason")
        self._catch_up(at, escalate_to, policy)
        deadlines = copy.deepcopy(self.deadlines)
        targets = initial_deadlines(new, self.opened_at, policy)
        for kind in list(deadlines):  # open deadlines the new severity does not have go
            if kind not in targets and deadlines[kind]["status"] == "pending":
                del deadlines[kind]
        for kind, due in targets.items():
            current = deadlines.get(kind)
            if current is None or current["status"] == "pending":
                deadlines[kind] = pending(due)
        self._change_severity(severity=new.value, previous=self.severity.value, reason=reason,
                              by=by, occurred_at=at, state=self.state.value,
                              deadlines=deadlines)

    @event("SeverityChanged", topic=topics.INCIDENT_SEVERITY_CHANGED)
    def _change_severity(self, severity: str, previous: str, reason: str, by: str,
                         occurred_at: datetime, state: str, deadlines: Deadlines) -> None:
        self.severity = Severity(severity)
        self._apply(state, deadlines, None, occurred_at)

    def resolve(self, summary: str, by: str, at: datetime, policy: OperationsPolicy,
                escalate_to: str) -> None:
        """Resolved: the status cadence stops, the RCA clock starts (SEV1: 5, SEV2: 10
        business days in the policy calendar)."""
        self._require("resolve", State.ACKNOWLEDGED, State.MITIGATING)
        self._catch_up(at, escalate_to, policy)
        deadlines = self._settled("mitigation", at)  # resolving mitigates
        cadence = deadlines.get("status_update", {})
        if cadence.get("status") == "pending" or cadence.get("lapsed"):
            del deadlines["status_update"]  # the status cadence stops at resolution
        days = {Severity.SEV1: policy.response.sev1_rca_business_days,
                Severity.SEV2: policy.response.sev2_rca_business_days}.get(self.severity)
        if days is not None:
            deadlines["rca"] = pending(policy.business_calendar().add_business_days(at, days))
        self._resolve(summary=summary, by=by, occurred_at=at, state=State.RESOLVED.value,
                      deadlines=deadlines, alert_ids=list(self.alert_ids),
                      tenant_id=self.tenant_id)

    @event("Resolved", topic=topics.INCIDENT_RESOLVED)
    def _resolve(self, summary: str, by: str, occurred_at: datetime, state: str,
                 deadlines: Deadlines, alert_ids: list[str], tenant_id: str | None) -> None:
        self._apply(state, deadlines, "resolved", occurred_at)

    def publish_rca(self, link: str, by: str, at: datetime, escalate_to: str,
                    policy: OperationsPolicy) -> None:
        """The root-cause analysis is published."""
        self._require("publish the RCA of", State.RESOLVED)
        if not link.strip():
            raise InvalidInput("an RCA needs a link")
        self._catch_up(at, escalate_to, policy)
        self._publish_rca(link=link, by=by, occurred_at=at, state=self.state.value,
                          deadlines=self._settled("rca", at))

    @event("RcaPublished", topic=topics.INCIDENT_RCA_PUBLISHED)
    def _publish_rca(self, link: str, by: str, occurred_at: datetime, state: str,
                     deadlines: Deadlines) -> None:
        self.rca_link = link
        self._apply(state, deadlines, "rca_published", occurred_at)

    def schedule_fix(self, sprint: str, by: str, at: datetime) -> None:
        """SEV3: the fix is scheduled in the normal sprint flow."""
        if self.severity is not Severity.SEV3:
            raise IllegalTransition(f"incident {self.id}", "schedule a fix for",
                                    f"{self.severity.value} (only SEV3 fixes are scheduled)")
        self._require("schedule a fix for", State.ACKNOWLEDGED, State.RESOLVED)
        if not sprint.strip():
            raise InvalidInput("a scheduled fix names its sprint")
        self._schedule_fix(sprint=sprint, by=by, occurred_at=at, state=self.state.value,
                           deadlines=self._settled("fix_scheduled", at))

    @event("FixScheduled", topic=topics.INCIDENT_FIX_SCHEDULED)
    def _schedule_fix(self, sprint: str, by: str, occurred_at: datetime, state: str,
                      deadlines: Deadlines) -> None:
        self.fix_sprint = sprint
        self._apply(state, deadlines, "fix_scheduled", occurred_at)

    def close(self, by: str, at: datetime) -> None:
        """Closed: after the RCA (SEV1/SEV2) or the scheduled fix (SEV3)."""
        self._require("close", State.RESOLVED)
        if self.severity is Severity.SEV3 and self.fix_sprint is None:
            raise IllegalTransition(f"incident {self.id}", "close",
                                    "resolved without a scheduled fix")
        if self.severity is not Severity.SEV3 and self.rca_link is None:
            raise IllegalTransition(f"incident {self.id}", "close",
                                    "resolved without a published RCA")
        self._close(by=by, occurred_at=at, state=State.CLOSED.value,
                    deadlines=copy.deepcopy(self.deadlines))

    @event("Closed", topic=topics.INCIDENT_CLOSED)
    def _close(self, by: str, occurred_at: datetime, state: str, deadlines: Deadlines) -> None:
        self._apply(state, deadlines, "closed", occurred_at)

    def record_missed(self, kind: str, due_at: datetime, escalate_to: str,
                      policy: OperationsPolicy) -> bool:
        """Record a missed deadline at its due time (False if already settled or moved).

        A missed acknowledgement escalates to the secondary owner (policy §7). A missed
        status update arms the next slot 30 minutes later, until
        ``sev1_status_update_max_missed`` slots were missed in a row: then the cadence
        lapses (the deadline stays missed, flagged ``lapsed``) until the next
        customer-facing update re-arms it, so a long silence costs a bounded number of
        events whatever the sweep's time.
        """
        d = self.deadlines.get(kind)
        if d is None or d["status"] != "pending" or d["due_at"] != due_at:
            return False
        # Each deadline is a flat dict of immutable values: a copy of each is a deep copy
        # (a miss is the sweep's per-event cost: copy.deepcopy was most of it).
        deadlines = {k: dict(v) for k, v in self.deadlines.items()}
        deadlines[kind].update(status="missed", missed_at=due_at)
        if kind == "status_update":  # every further 30 minutes without an update is a miss
            response = policy.response
            in_row = int(d.get("missed_in_row", 0)) + 1
            if in_row < response.sev1_status_update_max_missed:
                cadence = timedelta(minutes=response.sev1_status_update_minutes)
                deadlines[kind] = dict(pending(due_at + cadence), missed_in_row=in_row)
            else:
                deadlines[kind]["lapsed"] = True
        self._miss(kind=kind, due_at=due_at, occurred_at=due_at, state=self.state.value,
                   deadlines=deadlines, missed=dict(d, status="missed", missed_at=due_at),
                   escalated_to=escalate_to if kind == "acknowledge" else None)
        return True

    @event("DeadlineMissed", topic=topics.INCIDENT_DEADLINE_MISSED)
    def _miss(self, kind: str, due_at: datetime, occurred_at: datetime, state: str,
              deadlines: Deadlines, missed: dict[str, Any], escalated_to: str | None) -> None:
        if escalated_to is not None:
            self.escalated_to = escalated_to
        self._apply(state, deadlines, None, occurred_at)

    def _apply(self, state: str, deadlines: Deadlines, stamp: str | None,
               at: datetime) -> None:
        self.state = State(state)
        self.deadlines = deadlines
        self.last_at = max(self.last_at, at)
        if stamp is not None:
            self.times[stamp] = at
