"""Typed results of the public reads and commands: one frozen, slotted dataclass per shape.

Each type is built from the dict the code returns today with ``X.of(row)`` and gives that
dict back with ``x.to_dict()``; ``x["key"]`` reads a field by today's key (compatibility for
embedders and tests that index dicts). What ``of`` converts, and so what a round trip
``X.of(d).to_dict() == d`` relies on:

- times: fixed-width UTC text (``2026-11-03T07:03:03.583000Z``, :func:`iso_utc`) becomes a
  tz-aware ``datetime`` and is written back in that same form (text in any other ISO form
  comes back in this one; a naive time is refused with ``NaiveDatetime``);
- the audit rows' 0/1 flags (``key_missing``, ``collision``, ``retryable``) become ``bool``
  (``True == 1`` in Python, so the round trip compares equal; JSON would print ``true``);
- ``details`` held as JSON text (an audit action's, a policy adoption's) becomes a mapping,
  written back as compact JSON with sorted keys (as the views store it); free-form
  ``details`` (evidence, operator actions, incident events, export rows) stay mappings,
  read-only at the top level (so a result holding one cannot be hashed);
- lists become tuples, nested dicts typed objects; a dict keyed by a name (SLA deadlines
  by kind, late facts by tenant) becomes a tuple of objects carrying the name;
- renamed fields: ``id`` -> ``alert_id`` / ``incident_id``, ``tenant`` -> ``tenant_id``,
  ``repository`` -> ``repository_id``; ``x["id"]`` still works.

Shapes today's code gives in two forms: :class:`Incident` reads both ``describe`` (a
command's result, ``incident``) and the view's list rows (``incidents``); ``to_dict`` is
``describe``'s form (a stamp only once set; ``rca_link``/``fix_sprint`` always). The list
rows carry no ``rca_link``, ``fix_sprint``, ``rca_published_at`` or ``fix_scheduled_at``.

Method -> result type -> converter (what the services return once the lead applies them;
``of`` is applied per row, lists become tuples, iterators stay iterators)::

    Operations.slo                    -> tuple[SloReport, ...]     -> SloReport.of(row)
    Operations.alerts                 -> tuple[Alert, ...]         -> Alert.of(row)
    Operations.incident               -> Incident                  -> Incident.of(row)
    Operations.open_incident, acknowledge, start_mitigation, post_status_update,
      change_severity, resolve_incident, publish_rca, schedule_fix, close_incident
                                      -> Incident                  -> Incident.of(row)
    Operations.incidents              -> tuple[Incident, ...]      -> Incident.of(row)
    Operations.incident_timeline      -> tuple[TimelineEntry, ...] -> TimelineEntry.of(row)
    Operations.replay                 -> tuple[TimelineEntry, ...] -> TimelineEntry.of(row)
    Operations.replay_stream          -> Iterator[TimelineEntry]   -> TimelineEntry.of(row)
    Operations.sla                    -> tuple[SlaFigures, ...]    -> SlaFigures.of(row)
    Operations.audit                  -> tuple[AuditRow, ...]      -> AuditRow.of(row)
    Operations.audit_stream           -> Iterator[AuditRow]        -> AuditRow.of(row)
    Operations.audit_refusals         -> tuple[RefusalRow, ...]    -> RefusalRow.of(row)
    Operations.audit_refusals_stream  -> Iterator[RefusalRow]      -> RefusalRow.of(row)
    Operations.audit_actions          -> tuple[AuditAction, ...]   -> AuditAction.of(row)
    Operations.audit_summary          -> tuple[AuditSummary, ...]  -> AuditSummary.of(row)
    Operations.gate_status            -> GateStatus                -> GateStatus.of(row)
    Operations.record_gate_evidence, activate_saas, rollback_to_local, declare_constraint,
      lift_constraint                 -> GateStatus                -> GateStatus.of(row)
    Operations.advance                -> AdvanceReport             -> AdvanceReport.of(row)
    Operations.advance_by_event_time  -> AdvanceReport             -> AdvanceReport.of(row)
    Operations.late_alert_facts       -> LateAlertFacts            -> LateAlertFacts.of(row)
    Operations.alert_process_status   -> AlertProcessStatus        -> AlertProcessStatus.of(row)
    TenantState.boundary_violations   -> tuple[BoundaryViolation, ...] -> BoundaryViolation.of(v)
    ImportSummary.rejected            -> tuple[Rejection, ...]     -> Rejection.of(row)
    reports.review.weekly_review      -> WeeklyReview              -> WeeklyReview.of(row)
    reports.review.monthly_review     -> MonthlyReview             -> MonthlyReview.of(row)
    reports.whatif.what_if            -> WhatIfReport              -> WhatIfReport.of(row)
    services.export.export_rows       -> tuple[ExportRow, ...]     -> ExportRow.of(row)
    services.export.iter_export       -> Iterator[ExportRow]       -> ExportRow.of(row)

Already typed (no change): ``verify_chain`` (``ChainReport``), ``view_status``
(``ViewStatus``), ``checkpoint``, ``tenant``/``tenants`` (``TenantState``),
``record_publish`` (``PublishResult``), ``import_pumuki_audit`` (``ImportSummary``),
``apply_retention``/``forget_tenant`` (``RetentionReport``/``ForgetReport``: their times are
still text and their counts dicts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from types import MappingProxyType, NoneType, UnionType
from typing import Any, ClassVar, Self, Union, cast, get_args, get_origin, get_type_hints

from opsledger.domain import topics
from opsledger.domain.time import iso_utc, utc

__all__ = [
    "AdvanceReport",
    "Alert",
    "AlertEvent",
    "AlertJudgementEvent",
    "AlertProcessStatus",
    "AlertResolved",
    "AlertTriggered",
    "AuditAction",
    "AuditRow",
    "AuditSummary",
    "BoundaryViolation",
    "DailyFigures",
    "Deadline",
    "DeadlineCompliance",
    "DeadlineDecided",
    "DeliveryAttempt",
    "DeliveryReport",
    "Detection",
    "ErrorBudget",
    "ErrorsByCode",
    "ExportRow",
    "FreshnessMissed",
    "GateCheck",
    "GateConstraint",
    "GateEvidence",
    "GateOwners",
    "GateStatus",
    "GraceDeadline",
    "Incident",
    "IncidentBrief",
    "IncidentEvent",
    "IncidentTransition",
    "IssuedToken",
    "LateAlertFacts",
    "MonthlyReview",
    "MonthlyTenant",
    "Notification",
    "NotificationDelivery",
    "NotificationDetail",
    "OperatorAction",
    "OutboxStatus",
    "PolicyAdoption",
    "Principal",
    "PublishMinute",
    "RefusalRow",
    "Rejection",
    "Result",
    "ReviewBody",
    "RuleComparison",
    "SlaFigures",
    "SloReport",
    "SnapshotImportSummary",
    "TenantLateFacts",
    "TimelineEntry",
    "TokenInfo",
    "WeekNumbers",
    "WeeklyReview",
    "WeeklyTenant",
    "WhatIfReport",
]


def _key(name: str) -> Mapping[str, Any]:
    """Metadata of a field that today's dict names ``name``."""
    return MappingProxyType({"key": name})


#: Metadata of a field today's dict has only when set (absent: ``None``; left out by
#: ``to_dict``).
OMIT_NONE: Mapping[str, Any] = MappingProxyType({"omit_none": True})


#: Metadata of a mapping that today's dict holds as JSON text (compact, sorted keys).
JSON_TEXT: Mapping[str, Any] = MappingProxyType({"json": True})


def _keyed(name: str) -> Mapping[str, Any]:
    """Metadata of a tuple of objects today's dict holds as ``{obj.name: {...rest}}``."""
    return MappingProxyType({"keyed": name})


_Plan = tuple[tuple[str, str, Any, Mapping[str, Any]], ...]
_PLANS: dict[type[Result], _Plan] = {}


def _plan(cls: type[Result]) -> _Plan:
    """Per field: (attribute, today's key, resolved type, metadata); computed once."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = get_type_hints(cls)
        plan = _PLANS[cls] = tuple((f.name, f.metadata.get("key", f.name), hints[f.name],
                                    f.metadata) for f in fields(cls))
    return plan


def _inner(hint: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(hint) in (Union, UnionType):
        (inner,) = [a for a in get_args(hint) if a is not NoneType]
        return inner
    return hint


_SCALARS = frozenset({str, int, float, bool, NoneType})


def _from(hint: Any, value: Any) -> Any:
    hint = _inner(hint)
    if value is None:
        return None
    if hint is datetime:
        return utc(value if isinstance(value, datetime) else datetime.fromisoformat(value),
                   "time")
    if hint is date:
        return value if isinstance(value, date) else date.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Result):
        return value if isinstance(value, hint) else hint.of(value)
    if hint is bool:
        return bool(value)
    if get_origin(hint) is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from(args[0], v) for v in value)
        return tuple(_from(a, v) for a, v in zip(args, value, strict=True))
    if get_origin(hint) is Mapping:
        return MappingProxyType(dict(value))
    return value


def _to(value: Any, times: Callable[[datetime], Any] = iso_utc) -> Any:
    if type(value) in _SCALARS:  # the most common values, returned at once
        return value
    if isinstance(value, datetime):
        return times(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Result):
        return value.to_dict(times)
    if isinstance(value, tuple | list):
        return [_to(v, times) for v in value]
    if isinstance(value, Mapping):  # free-form details: their times at any depth, too
        return {k: _to(v, times) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Result:
    """Base of every result: ``of`` from today's dict, ``to_dict`` back, ``x["key"]``."""

    def __getitem__(self, key: str) -> Any:
        """The field today's dict called ``key`` (``KeyError`` if there is none)."""
        for attribute, name, _, _ in _plan(type(self)):
            if key in (name, attribute):
                return getattr(self, attribute)
        raise KeyError(key)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Self:
        """Build from today's dict (see the module docstring for what is converted)."""
        target = cls._target(row)
        if target is not cls:
            return cast(Self, target.of(row))
        row = cls._normalized(row)
        values: dict[str, Any] = {}
        for attribute, key, hint, meta in _plan(cls):
            if meta.get("omit_none") and key not in row:
                continue
            value = row[key]
            if "keyed" in meta:
                item = get_args(hint)[0]
                value = tuple(item.of({meta["keyed"]: k, **v}) for k, v in value.items())
            elif "json" in meta and isinstance(value, str):
                value = json.loads(value)
            values[attribute] = _from(hint, value)
        return cls(**values)

    @classmethod
    def _target(cls, row: Mapping[str, Any]) -> type[Result]:
        """The class ``of`` builds (a base class may pick a subclass by the row)."""
        return cls

    @classmethod
    def _normalized(cls, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """Today's dict made uniform before the fields are read (default: as is)."""
        return row

    def to_dict(self, times: Callable[[datetime], Any] = iso_utc) -> dict[str, Any]:
        """Today's dict shape (times as fixed-width UTC text, or as ``times`` makes them:
        the serializer passes its own format, :mod:`opsledger.serialize`)."""
        out: dict[str, Any] = {}
        for attribute, key, _, meta in _plan(type(self)):
            value = getattr(self, attribute)
            if value is None and meta.get("omit_none"):
                continue
            if "keyed" in meta:
                name = meta["keyed"]
                out[key] = {getattr(v, name): {k: x for k, x in v.to_dict(times).items()
                                               if k != name} for v in value}
            elif "json" in meta:
                out[key] = json.dumps(_to(value), separators=(",", ":"), sort_keys=True,
                                      ensure_ascii=False)
            else:
                out[key] = _to(value, times)
        return out


# ---- SLOs (Operations.slo) --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ErrorsByCode(Result):
    """Failed publish operations per error code."""

    auth_policy_violation: int = field(metadata=_key("AUTH_POLICY_VIOLATION"))
    isolation_violation: int = field(metadata=_key("ISOLATION_VIOLATION"))
    timeout: int = field(metadata=_key("TIMEOUT"))
    aborted: int = field(metadata=_key("ABORTED"))
    network: int = field(metadata=_key("NETWORK"))
    http_status: int = field(metadata=_key("HTTP_STATUS"))


@dataclass(frozen=True, slots=True)
class ErrorBudget(Result):
    """The availability SLO's error budget and burn rates (``None``: no traffic)."""

    allowed_failures: float
    failures: int
    remaining_failures: float
    remaining_ratio: float | None
    burn_rate_1h: float | None
    burn_rate_6h: float | None
    burn_rate_3d: float | None
    projected_exhaustion_at: datetime | None


@dataclass(frozen=True, slots=True)
class SloReport(Result):
    """One SLO row: a tenant (or, ``tenant_id`` None, every tenant) or one repository."""

    tenant_id: str | None = field(metadata=_key("tenant"))
    repository_id: str | None = field(metadata=_key("repository"))
    period_start: datetime
    period_end: datetime
    as_of: datetime
    operations: int
    successful: int
    errors: int
    errors_by_code: ErrorsByCode
    client_rejections: int
    collisions: int
    local_only_excluded: int
    availability: float | None
    availability_target: float
    availability_met: bool | None
    latency_p95_ms: int | None
    latency_p95_target_ms: int
    latency_met: bool | None
    accepted: int
    fresh: int
    stale: int
    pending: int
    visible_late: int
    freshness: float | None
    freshness_target: float
    freshness_met: bool | None
    unresolved_critical_isolation_incidents: int
    integrity_met: bool
    error_budget_remaining: float | None
    error_budget: ErrorBudget
    #: The tenant's mode now (``local_only``: its publishes count in no SLO, which is why
    #: such a tenant's report is empty); absent on the all-tenants row.
    tenant_mode: str | None = field(default=None, metadata=OMIT_NONE)


# ---- alerts -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Alert(Result):
    """An alert: when its rule fired and cleared; ``backfilled`` alerts were found by
    re-evaluating late facts (at ``found_at``), ``withdrawn`` ones shown never to hold.
    Operators' judgement: who acknowledged it and when, its ``verdict`` (``actionable`` or
    ``noise``, with ``verdict_reason``, ``judged_by`` and ``judged_at``), the
    ``incident_id`` it is linked to, and ``actionable`` (the verdict, else true when
    linked, else ``None``: unjudged)."""

    alert_id: str = field(metadata=_key("id"))
    tenant_id: str = field(metadata=_key("tenant"))
    rule: str
    level: str
    repository_id: str | None = field(metadata=_key("repository"))
    triggered_at: datetime
    resolved_at: datetime | None
    observed: float | None
    threshold: float | None
    window_start: datetime
    window_end: datetime
    resolution: str | None
    backfilled: bool
    found_at: datetime | None
    withdrawn: bool
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    verdict: str | None = None
    verdict_reason: str | None = None
    judged_by: str | None = None
    judged_at: datetime | None = None
    incident_id: str | None = None
    actionable: bool | None = None

    @classmethod
    def _normalized(cls, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """A row from before operators' judgements reads unjudged; ``actionable`` is
        derived when the row does not carry it (the verdict, else linked to an incident)."""
        judged: dict[str, Any] = {name: row.get(name) for name in _ALERT_JUDGEMENT}
        verdict = judged["verdict"]
        derived = (verdict == "actionable" if verdict is not None
                   else True if judged["incident_id"] is not None else None)
        return {**row, **judged, "actionable": row.get("actionable", derived)}


_ALERT_JUDGEMENT = ("acknowledged_at", "acknowledged_by", "verdict", "verdict_reason",
                    "judged_by", "judged_at", "incident_id")


@dataclass(frozen=True, slots=True)
class TenantLateFacts(Result):
    """One tenant's facts that arrived behind its event time; ``pending`` still wait."""

    tenant_id: str
    late: int
    pending: int


@dataclass(frozen=True, slots=True)
class LateAlertFacts(Result):
    """Late alert facts per tenant (tenants with none are absent). Today's dict is keyed
    by tenant id: ``of``/``to_dict`` read and give that; ``x[tenant_id]`` gives a tenant's."""

    tenants: tuple[TenantLateFacts, ...]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Self:
        """From ``{tenant_id: {"late": n, "pending": m}}``."""
        return cls(tuple(TenantLateFacts.of({"tenant_id": t, **c}) for t, c in row.items()))

    def to_dict(self, times: Callable[[datetime], Any] = iso_utc) -> dict[str, Any]:
        """``{tenant_id: {"late": n, "pending": m}}``."""
        return {t.tenant_id: {"late": t.late, "pending": t.pending} for t in self.tenants}

    def __getitem__(self, key: str) -> Any:
        """A tenant's counts (``KeyError`` if it has no late facts)."""
        for tenant in self.tenants:
            if tenant.tenant_id == key:
                return tenant
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class AlertProcessStatus(Result):
    """Where the alert process stands in the log, and its late facts."""

    position: int
    late_facts: LateAlertFacts


@dataclass(frozen=True, slots=True)
class AdvanceReport(Result):
    """What a sweep recorded (``gate_deadlines_settled``: ``advance`` only)."""

    freshness_missed: int
    alert_changes: int
    incident_deadlines_missed: int
    gate_deadlines_settled: int | None = field(default=None, metadata=OMIT_NONE)


# ---- incidents --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Deadline(Result):
    """A response deadline: how early it was met, or how late it was done after a miss."""

    kind: str
    due_at: datetime | None
    status: str
    met_at: datetime | None
    missed_at: datetime | None
    early_by_s: float | None
    late_by_s: float | None


@dataclass(frozen=True, slots=True)
class Incident(Result):
    """An incident with its deadlines (see the module docstring for its two sources)."""

    incident_id: str = field(metadata=_key("id"))
    tenant_id: str | None = field(metadata=_key("tenant"))
    severity: str
    state: str
    cause: str
    title: str
    alert_ids: tuple[str, ...]
    opened_at: datetime
    acknowledged_at: datetime | None = field(default=None, metadata=OMIT_NONE)
    mitigation_started_at: datetime | None = field(default=None, metadata=OMIT_NONE)
    resolved_at: datetime | None = field(default=None, metadata=OMIT_NONE)
    rca_published_at: datetime | None = field(default=None, metadata=OMIT_NONE)
    fix_scheduled_at: datetime | None = field(default=None, metadata=OMIT_NONE)
    closed_at: datetime | None = field(default=None, metadata=OMIT_NONE)
    escalated_to: str | None = None
    rca_link: str | None = None
    fix_sprint: str | None = None
    deadlines: tuple[Deadline, ...] = ()

    @classmethod
    def _normalized(cls, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """A list row (``incidents``) has no ``rca_link`` / ``fix_sprint``: ``None``."""
        return {"rca_link": None, "fix_sprint": None, **row}


@dataclass(frozen=True, slots=True)
class DeadlineCompliance(Result):
    """How often one kind of deadline was met."""

    kind: str
    met: int
    missed: int
    met_ratio: float


@dataclass(frozen=True, slots=True)
class SlaFigures(Result):
    """SLA compliance of one severity's incidents (times in minutes; ``None``: none)."""

    severity: str
    incidents: int
    resolved: int
    deadlines: tuple[DeadlineCompliance, ...] = field(metadata=_keyed("kind"))
    mtta_minutes: float | None = None
    time_to_mitigation_minutes: float | None = None
    mttr_minutes: float | None = None
    status_cadence_kept: bool | None = None


# ---- timelines (replay, incident timeline) ------------------------------------------------
@dataclass(frozen=True, slots=True)
class TimelineEntry(Result):
    """One entry of a timeline; ``TimelineEntry.of(row)`` gives the subclass for its kind."""

    at: datetime
    kind: str

    _kinds: ClassVar[dict[str, type[TimelineEntry]]] = {}

    @classmethod
    def _target(cls, row: Mapping[str, Any]) -> type[Result]:
        """``TimelineEntry.of`` types the entry by its ``kind``; a subclass builds itself."""
        return _entry_class(row) if cls is TimelineEntry else cls


@dataclass(frozen=True, slots=True)
class PublishMinute(TimelineEntry):
    """A minute of publish statistics (replay and incident timeline)."""

    operations: int
    successes: int
    errors: int
    client_rejections: int
    auth_failures: int
    isolation_blocked: int
    collisions: int
    err_timeout: int
    err_aborted: int
    err_network: int
    err_http_status: int
    local_only: int
    latency_p95_ms: int | None


@dataclass(frozen=True, slots=True)
class AlertTriggered(TimelineEntry):
    """Replay: an alert fired."""

    alert_id: str
    rule: str
    level: str
    observed: float | None
    threshold: float | None


@dataclass(frozen=True, slots=True)
class AlertResolved(TimelineEntry):
    """Replay: an alert cleared."""

    alert_id: str
    rule: str
    level: str
    resolution: str | None


@dataclass(frozen=True, slots=True)
class IncidentTransition(TimelineEntry):
    """Replay: an incident opened, was acknowledged, ... (``kind`` ``incident_<stamp>``)."""

    incident_id: str
    severity: str


@dataclass(frozen=True, slots=True)
class DeadlineDecided(TimelineEntry):
    """Replay: an incident deadline met or missed (``kind`` ``deadline_met``/``_missed``);
    ``due_at`` None for one that has no due time (a SEV3 fix scheduled "by the sprint")."""

    incident_id: str
    severity: str
    deadline: str
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class FreshnessMissed(TimelineEntry):
    """Replay: an accepted payload not visible downstream in time."""

    repository_id: str
    idempotency_key: str
    accepted_at: datetime
    visible_at: datetime | None


@dataclass(frozen=True, slots=True)
class OperatorAction(TimelineEntry):
    """Replay: an operator action (``kind`` is its name, e.g. ``Tenant.Registered``)."""

    actor: str
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AlertEvent(TimelineEntry):
    """Incident timeline: a linked alert's ``Alert.Triggered`` / ``Alert.Resolved``."""

    alert_id: str
    rule: str


@dataclass(frozen=True, slots=True)
class AlertJudgementEvent(TimelineEntry):
    """Incident timeline: an operator's ``Alert.Acknowledged`` / ``Alert.Judged`` /
    ``Alert.LinkedToIncident`` on a linked alert, with who (and the verdict and why)."""

    alert_id: str
    rule: str
    by: str
    verdict: str | None = None
    reason: str | None = None
    incident_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentEvent(TimelineEntry):
    """Incident timeline: one of the incident's events (``kind`` ``Incident.<Event>``);
    ``details`` holds the event's other fields as stored (times as ``datetime``)."""

    by: str | None = None
    state: str | None = None
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Self:
        """From ``{at, kind, [by], [state], **fields}``."""
        rest = {k: v for k, v in row.items() if k not in ("at", "kind", "by", "state")}
        return cls(at=_from(datetime, row["at"]), kind=row["kind"], by=row.get("by"),
                   state=row.get("state"), details=MappingProxyType(rest))

    def to_dict(self, times: Callable[[datetime], Any] = iso_utc) -> dict[str, Any]:
        """``{at, kind, [by], [state], **details}`` (details' times in ``times``' form)."""
        head = {k: v for k, v in (("by", self.by), ("state", self.state)) if v is not None}
        details = {k: _to(v, times) for k, v in self.details.items()}
        return {"at": times(self.at), "kind": self.kind, **details, **head}

    def __getitem__(self, key: str) -> Any:
        """A field, or one of ``details``."""
        if key in ("at", "kind", "by", "state"):
            return getattr(self, key)
        return self.details[key]


TimelineEntry._kinds.update({
    "publish_minute": PublishMinute, "alert_triggered": AlertTriggered,
    "alert_resolved": AlertResolved, "freshness_missed": FreshnessMissed,
    "deadline_met": DeadlineDecided, "deadline_missed": DeadlineDecided,
    topics.action(topics.ALERT_TRIGGERED): AlertEvent,
    topics.action(topics.ALERT_RESOLVED): AlertEvent,
    topics.action(topics.ALERT_ACKNOWLEDGED): AlertJudgementEvent,
    topics.action(topics.ALERT_JUDGED): AlertJudgementEvent,
    topics.action(topics.ALERT_LINKED_TO_INCIDENT): AlertJudgementEvent,
})


def _entry_class(row: Mapping[str, Any]) -> type[TimelineEntry]:
    kind: str = row["kind"]
    if "actor" in row:  # an audited operator action (``Alert.Judged`` in a tenant's replay)
        return OperatorAction
    if kind in TimelineEntry._kinds:
        return TimelineEntry._kinds[kind]
    if kind.startswith("incident_"):
        return IncidentTransition
    if kind.startswith(topics.action(topics.INCIDENT_PREFIX)):
        return IncidentEvent
    raise ValueError(f"no timeline entry type for kind {kind!r}")


# ---- audit trail ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuditRow(Result):
    """A recorded publish operation and its outcome (``audit``, ``audit_stream``)."""

    operation_id: str
    tenant_id: str
    repository_id: str
    idempotency_key: str
    key_missing: bool
    payload_hash: str
    occurred_at: datetime
    outcome: str
    attempts: int
    latency_ms: int | None
    error_code: str | None
    status: int | None
    request_id: str | None
    endpoint: str | None
    retryable: bool | None
    collision: bool
    source: str
    tenant_mode: str
    batch_id: str
    notification_id: int


@dataclass(frozen=True, slots=True)
class RefusalRow(Result):
    """A refused command: why, and what it named."""

    refusal_id: str
    command: str
    subject_id: str | None
    tenant_id: str | None
    repository_id: str | None
    reason: str
    message: str
    occurred_at: datetime
    notification_id: int


@dataclass(frozen=True, slots=True)
class AuditAction(Result):
    """An operator action (registration, scope or mode change, policy adoption, ...)."""

    notification_id: int
    stream_id: str
    tenant_id: str | None
    action: str
    actor: str
    occurred_at: datetime
    details: Mapping[str, Any] = field(metadata=JSON_TEXT)


@dataclass(frozen=True, slots=True)
class AuditSummary(Result):
    """Counts for one tenant / outcome / error code (``refused``: reason as the code)."""

    tenant_id: str | None
    outcome: str
    error_code: str | None
    operations: int
    collisions: int
    key_missing: int
    first_at: datetime
    last_at: datetime


# ---- go-live gate -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GateEvidence(Result):
    """The latest evidence recorded for a check."""

    result: str
    details: Mapping[str, Any]
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class GateCheck(Result):
    """One of the five checks: passed, failed, missing, stale, waived or other_version."""

    check: str
    state: str
    why: str
    evidence: GateEvidence | None


@dataclass(frozen=True, slots=True)
class GateConstraint(Result):
    """A declared constraint (policy §8)."""

    kind: str
    reason: str
    declared_at: datetime


@dataclass(frozen=True, slots=True)
class GraceDeadline(Result):
    """The grace period after a lifted constraint: which waived checks it covers."""

    kind: str
    due_at: datetime
    waived: tuple[str, ...]
    status: str


@dataclass(frozen=True, slots=True)
class GateOwners(Result):
    """The gate's owners; incidents escalate to the secondary."""

    primary: str
    secondary: str


@dataclass(frozen=True, slots=True)
class GateStatus(Result):
    """An environment's go-live gate: mode, version, checks, constraints, grace periods."""

    environment: str
    mode: str
    version: str | None
    owners: GateOwners
    checks: tuple[GateCheck, ...]
    constraints: tuple[GateConstraint, ...]
    grace: tuple[GraceDeadline, ...]


# ---- tenants and imports ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BoundaryViolation(Result):
    """A confirmed tenant boundary violation (``TenantState.boundary_violations``)."""

    violation_id: str
    evidence: str
    repository_id: str | None
    by: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Rejection(Result):
    """A refused or malformed import line (``ImportSummary.rejected``)."""

    file: str
    line: int
    field: str | None
    error: str


@dataclass(frozen=True, slots=True)
class SnapshotImportSummary(Result):
    """What an import of downstream snapshots did; the freshness deadlines it settled by
    the snapshots' own time (``watermark``: absent when no snapshot was recorded)."""

    lines: int
    recorded: int
    duplicates: int
    rejected: tuple[Rejection, ...]
    missed: int
    watermark: datetime | None = field(default=None, metadata=OMIT_NONE)


# ---- reports (opsledger.reports) and exports (opsledger.services.export) -----------------
@dataclass(frozen=True, slots=True)
class WeekNumbers(Result):
    """One tenant's figures for one week (weekly review)."""

    operations: int
    error_rate: float | None
    latency_p95_ms: int | None
    freshness: float | None
    isolation_blocked: int
    confirmed_violations: int


@dataclass(frozen=True, slots=True)
class WeeklyTenant(Result):
    """A tenant's week: its SLO report and days, and the week against the week before."""

    tenant_id: str = field(metadata=_key("tenant"))
    slo: SloReport
    daily: tuple[DailyFigures, ...]
    this_week: WeekNumbers
    last_week: WeekNumbers


@dataclass(frozen=True, slots=True)
class ReviewBody(Result):
    """What the weekly and the monthly review both show of their period, as it stood at its
    end (``tenants`` are each review's own)."""

    kind: str
    period_start: datetime
    period_end: datetime
    sla: tuple[SlaFigures, ...]
    alerts_per_rule: Mapping[str, int]
    alerts: tuple[Alert, ...]
    incidents: tuple[IncidentBrief, ...]
    #: Each incident's own timeline (id, title, entries: at, what, by, detail).
    incident_timelines: tuple[Mapping[str, Any], ...]
    #: Detection quality per rule and tenant (``alerts quality``): precision, misses, time
    #: to detect, and the missed detections.
    quality: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WeeklyReview(ReviewBody):
    """§7 weekly review (``weekly_review``): each tenant against the week before."""

    tenants: tuple[WeeklyTenant, ...]


@dataclass(frozen=True, slots=True)
class DailyFigures(Result):
    """One day of a monthly review; ``budget_remaining``: failures left in the month so far."""

    day: date
    operations: int
    availability: float | None
    latency_p95_ms: int | None
    freshness: float | None
    budget_remaining: float


@dataclass(frozen=True, slots=True)
class MonthlyTenant(Result):
    """A tenant's month: its SLO report and its days."""

    tenant_id: str = field(metadata=_key("tenant"))
    slo: SloReport
    daily: tuple[DailyFigures, ...]


@dataclass(frozen=True, slots=True)
class IncidentBrief(Result):
    """An incident as the monthly review lists it."""

    incident_id: str = field(metadata=_key("id"))
    title: str
    tenant_id: str | None = field(metadata=_key("tenant"))
    severity: str
    state: str
    cause: str
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class PolicyAdoption(Result):
    """A policy adopted in the month (threshold tuning): recorded ``at`` by ``by``, in
    force from ``effective_at``, and what it changed: ``section.key`` -> [before, after]."""

    at: datetime
    by: str
    effective_at: datetime
    reason: str | None
    changes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MonthlyReview(ReviewBody):
    """§7 monthly review (``monthly_review``): with threshold tuning."""

    tenants: tuple[MonthlyTenant, ...]
    threshold_tuning: tuple[PolicyAdoption, ...]
    #: Precision per rule in each stretch between the adoptions that took effect.
    precision_by_policy: tuple[Mapping[str, Any], ...]
    #: Candidates replayed over the month and the recommendation (``reports.tuning``).
    tuning: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RuleComparison(Result):
    """How often a rule fired, would fire under the candidate policy, and both."""

    rule: str
    fired: int
    would_fire: int
    same: int


@dataclass(frozen=True, slots=True)
class Detection(Result):
    """A recorded alert and when the candidate policy would have raised it."""

    tenant_id: str = field(metadata=_key("tenant"))
    rule: str
    triggered_at: datetime
    would_trigger_at: datetime | None
    earlier_by_s: float | None


@dataclass(frozen=True, slots=True)
class WhatIfReport(Result):
    """Recorded alerts against a candidate policy's (``what_if``); an alert is named by
    ``(tenant, rule, triggered_at)``."""

    period_start: datetime
    period_end: datetime
    rules: tuple[RuleComparison, ...] = field(metadata=_keyed("rule"))
    identical: bool
    detections: tuple[Detection, ...]
    only_recorded: tuple[tuple[str, str, datetime], ...]
    only_candidate: tuple[tuple[str, str, datetime], ...]
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ExportRow(Result):
    """One row of a tenant's audit export (``export_rows``, ``iter_export``), privacy
    applied: ``tenant_id``/``repository_id`` may read ``[redacted]``."""

    at: datetime
    kind: str
    tenant_id: str | None = field(metadata=_key("tenant"))
    repository_id: str | None = field(metadata=_key("repository"))
    actor: str | None
    subject: str
    outcome: str | None
    details: Mapping[str, Any]

    def to_dict(self, times: Callable[[datetime], Any] = iso_utc) -> dict[str, Any]:
        """:meth:`Result.to_dict`, spelled out: an export writes one per row."""
        return {"at": times(self.at), "kind": self.kind, "tenant": self.tenant_id,
                "repository": self.repository_id, "actor": self.actor,
                "subject": self.subject, "outcome": self.outcome,
                "details": _to(self.details, times)}


# ---- API tokens (Operations.create_token, rotate_token, revoke_token, tokens, authenticate)
@dataclass(frozen=True, slots=True)
class TokenInfo(Result):
    """An API token as it stands at the time asked for (never its secret or its hash).
    ``state``: ``active``, ``overlap`` (rotated, valid until ``expires_at``), ``expired``
    or ``revoked``."""

    token_id: str
    tenant_id: str | None
    scope: str
    owner: str
    state: str
    issued_at: datetime
    issued_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    predecessor: str | None
    successor: str | None


@dataclass(frozen=True, slots=True)
class IssuedToken(Result):
    """A new token: ``token`` is the secret, shown this once (only its hash is stored)."""

    token: str
    info: TokenInfo


@dataclass(frozen=True, slots=True)
class Principal(Result):
    """Who an authenticated call acts as: the token, its tenant (``None``: an operator token,
    every tenant) and its scope."""

    token_id: str
    tenant_id: str | None
    scope: str
    owner: str


# ---- The notification outbox (Operations.notifications, notification, deliver_notifications,
# retry_notifications, test_notification_route, outbox_status) ------------------------------
@dataclass(frozen=True, slots=True)
class Notification(Result):
    """One notification of the outbox, as derived from the log. ``notification_id`` is its
    dedup key (subject + transition, stable across rebuilds); ``position`` orders the
    notifications of one ``subject``; ``audience`` is ``primary`` or ``secondary`` (a missed
    acknowledgement: policy §7)."""

    notification_id: str = field(metadata=_key("id"))
    position: int
    subject: str
    kind: str
    tenant_id: str | None = field(metadata=_key("tenant"))
    level: str
    audience: str
    rule: str | None
    occurred_at: datetime
    summary: str
    details: Mapping[str, Any] = field(metadata=JSON_TEXT)


@dataclass(frozen=True, slots=True)
class NotificationDelivery(Result):
    """One notification on one route: its delivery state (``pending``, ``failed``,
    ``delivered``, ``dead``, ``suppressed``), attempts so far, the last answer and error,
    why it was suppressed or given up (``reason``) and when the next attempt is due."""

    delivery_id: str = field(metadata=_key("id"))
    notification_id: str
    route: str
    channel: str
    subject: str
    position: int
    tenant_id: str | None = field(metadata=_key("tenant"))
    kind: str
    level: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    reason: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt(Result):
    """One attempt to deliver (or an operator's retry): when, the outcome (``delivered``,
    ``failed``, ``dead``, ``retried``), the HTTP status if one answered, the error, how
    long it took and when the next attempt was scheduled."""

    delivery_id: str
    attempt: int
    at: datetime
    outcome: str
    status: int | None
    error: str | None
    duration_ms: float | None
    next_attempt_at: datetime | None
    by: str | None


@dataclass(frozen=True, slots=True)
class NotificationDetail(Result):
    """``notify show``: the delivery, its notification and every attempt."""

    delivery: NotificationDelivery
    notification: Notification | None
    attempts: tuple[DeliveryAttempt, ...]


@dataclass(frozen=True, slots=True)
class DeliveryReport(Result):
    """What one delivery step did: notifications routed into deliveries (and of those,
    suppressed), attempts made, delivered, failed (to be retried) and given up (dead); and
    for each delivery made, the seconds from its routing to its delivery."""

    routed: int
    suppressed: int
    attempted: int
    delivered: int
    failed: int
    dead: int
    delivery_seconds: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxStatus(Result):
    """The outbox at a glance (``/metrics``, ``notify list`` footers): deliveries by state,
    failed attempts ever, notifications not yet routed, the oldest pending delivery's
    creation time."""

    by_state: Mapping[str, int]
    failed_attempts: int
    unrouted: int
    oldest_pending_at: datetime | None
