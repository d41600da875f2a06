"""Typed results (``opsledger.results``): each public read returns its type on the imported
sample; the result gives today's dict back and is built again from it, is frozen and reads
by today's keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.domain.time import iso_utc
from opsledger.projections import incidents as incident_view
from opsledger_test_support import go_live

from opsledger import (
    AuditQuery,
    FrozenClock,
    NaiveDatetime,
    Operations,
    RepositoryOutOfScope,
    import_pumuki_audit,
    import_snapshots,
)
from opsledger.results import (
    AdvanceReport,
    Alert,
    AlertEvent,
    AlertProcessStatus,
    AlertResolved,
    AlertTriggered,
    AuditAction,
    AuditRow,
    AuditSummary,
    BoundaryViolation,
    DeadlineDecided,
    ExportRow,
    FreshnessMissed,
    GateStatus,
    Incident,
    IncidentEvent,
    IncidentTransition,
    LateAlertFacts,
    MonthlyReview,
    OperatorAction,
    PolicyAdoption,
    PublishMinute,
    RefusalRow,
    Rejection,
    Result,
    SlaFigures,
    SloReport,
    TimelineEntry,
    WeeklyReview,
    WhatIfReport,
)
from opsledger.serialize import fmt_time
from opsledger.services.slo import Period

T = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
TENANT = "tenant-solo"
NOVEMBER = Period.month("2026-11")


class Scenario:
    """The sample imported, then a go-live, a constraint lifted, one incident taken through
    its life, a refusal, a late fact and a boundary violation: every shape has values."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.incident_id = ""
        #: what the commands returned, by name
        self.results: dict[str, Any] = {}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    samples = Path(__file__).resolve().parents[2] / "opsledger" / "samples"
    db = tmp_path_factory.mktemp("results") / "store.db"
    ops = Operations.open(f"sqlite:///{db}", clock=FrozenClock(datetime(2026, 11, 4, tzinfo=UTC)))
    summary = import_pumuki_audit(
        ops, [(samples / "saas-ingestion-audit.ndjson").read_bytes().splitlines(),
              [b'{"not": "a pumuki line"}']], register_unknown=True)
    import_snapshots(ops, [(samples / "downstream-snapshots.ndjson").read_bytes().splitlines()])
    s = Scenario(ops)
    s.results["import_rejected"] = summary.rejected
    s.results["advance_by_event_time"] = ops.advance_by_event_time()
    go_live(ops, at=T)
    ops.declare_constraint("remote_ci_unavailable", reason="ci down", by="op", at=T)
    s.results["gate_with_constraint"] = ops.gate_status(at=T)
    ops.lift_constraint("remote_ci_unavailable", reason="ci back", by="op",
                        at=T + timedelta(minutes=1))
    s.incident_id = ops.incidents(tenant_id=TENANT)[0]["id"]
    s.results["listed_before_ack"] = ops.incidents(tenant_id=TENANT)
    s.results["rows_before_ack"] = incident_view.incident_rows(ops.events.sql, TENANT, None)
    s.results["acknowledge"] = ops.acknowledge(s.incident_id, by="alice", at=T)
    ops.start_mitigation(s.incident_id, by="alice", at=T)
    ops.post_status_update(s.incident_id, message="working", by="alice", at=T)
    ops.change_severity(s.incident_id, severity="SEV1", reason="worse", by="alice", at=T)
    ops.resolve_incident(s.incident_id, summary="fixed", by="alice", at=T)
    s.results["publish_rca"] = ops.publish_rca(s.incident_id, link="https://rca", by="alice",
                                               at=T + timedelta(minutes=2))
    with pytest.raises(RepositoryOutOfScope):
        ops.record_publish(tenant_id=TENANT, repository_id="repo-other", idempotency_key="k1",
                           payload_hash="a" * 64, occurred_at=T, outcome="success", attempts=1,
                           latency_ms=10, status=202)
    ops.record_publish(tenant_id=TENANT, repository_id="repo-solo-api", idempotency_key="late",
                       payload_hash="b" * 64, occurred_at=datetime(2026, 11, 3, 9, tzinfo=UTC),
                       outcome="error", error_code="TIMEOUT", attempts=1, latency_ms=10)
    ops.evaluate_alerts()
    ops.confirm_boundary_violation(TENANT, evidence="seen in a log", by="op", at=T)
    s.results["advance"] = ops.advance()
    yield s
    ops.close()


RENAMED = {"id": ("alert_id", "incident_id"), "tenant": ("tenant_id",),
           "repository": ("repository_id",)}


def _round_trip(cls: type[Result], obj: Result) -> Result:
    """What a typed read returned is a ``cls`` whose dict ``row = obj.to_dict()`` builds it
    again (``cls.of(row) == obj``, and that gives ``row`` back); see :func:`_from_row`."""
    assert isinstance(obj, cls)
    row = obj.to_dict()
    again = cls.of(row)
    assert type(again) is type(obj)
    if not isinstance(obj, IncidentEvent):  # its free-form details keep a dict's text times
        assert again == obj
    return _from_row(cls, row)


def _from_row(cls: type[Result], row: Mapping[str, Any],
              times: Callable[[datetime], str] = iso_utc) -> Result:
    """``cls.of(row).to_dict(times) == row`` (``times``: the form of the row's times),
    frozen, slotted, and ``obj[key]`` is the field today's ``key`` names (or, for an incident
    event, the event field in ``details``)."""
    obj = cls.of(row)
    assert obj.to_dict(times) == row
    names = [f.name for f in dataclasses.fields(obj)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, names[0], None)
    assert not hasattr(obj, "__dict__")
    for key in row:
        attribute = next((n for n in (key, *RENAMED.get(key, ())) if n in names), None)
        if attribute is None:
            assert isinstance(obj, IncidentEvent) and obj[key] is obj.details[key]
        else:
            assert obj[key] is getattr(obj, attribute)
    return obj


def _times_are_aware(obj: Result) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, datetime):
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
        if isinstance(value, Result):
            _times_are_aware(value)
        if isinstance(value, tuple):
            for v in value:
                if isinstance(v, Result):
                    _times_are_aware(v)


def test_slo_report_with_its_error_budget(scenario: Scenario) -> None:
    rows = scenario.ops.slo(NOVEMBER, tenant_id=TENANT)
    reports = [_round_trip(SloReport, r) for r in rows]
    total = reports[0]
    assert isinstance(total, SloReport)
    assert (total.tenant_id, total.repository_id, total["tenant"]) == (TENANT, None, TENANT)
    assert total.errors_by_code.isolation_violation == rows[0].to_dict()["errors_by_code"][
        "ISOLATION_VIOLATION"] > 0
    assert total.error_budget.failures == total.errors
    assert total.error_budget.projected_exhaustion_at == total.as_of == datetime(2026, 11, 4,
                                                                                 tzinfo=UTC)
    assert total.period_start == NOVEMBER.start and total.as_of.tzinfo is not None
    _times_are_aware(total)


def test_alerts_including_backfilled_ones(scenario: Scenario) -> None:
    rows = scenario.ops.alerts(all_tenants=True, include_withdrawn=True)
    alerts = [_round_trip(Alert, r) for r in rows]
    assert all(isinstance(a, Alert) and a.alert_id == r.to_dict()["id"]
               for a, r in zip(alerts, rows, strict=True))
    assert any(a["backfilled"] and a["found_at"] is not None for a in alerts)
    assert any(a["resolved_at"] is None for a in alerts)
    assert any(a["resolved_at"] is not None for a in alerts)


def test_incident_from_a_command_with_its_deadlines(scenario: Scenario) -> None:
    row = scenario.results["publish_rca"]
    incident = _round_trip(Incident, row)
    assert isinstance(incident, Incident)
    assert incident.rca_link == "https://rca" and incident.rca_published_at is not None
    assert incident.closed_at is None and "closed_at" not in incident.to_dict()
    assert [d.kind for d in incident.deadlines] == [d["kind"] for d in row.to_dict()[
        "deadlines"]]
    assert any(d.met_at is not None and d.early_by_s for d in incident.deadlines)
    _round_trip(Incident, scenario.results["acknowledge"])
    _round_trip(Incident, scenario.ops.incident(scenario.incident_id))
    _times_are_aware(incident)


def test_listed_incidents_read_as_the_same_type_as_shown_ones(scenario: Scenario) -> None:
    """The list rows (the incidents view's) have every stamp (``None`` when unset) and no
    ``rca_link``/``fix_sprint``: ``incidents`` converts them to the shown incident, not back
    to themselves."""
    ops = scenario.ops
    before = list(zip(scenario.results["listed_before_ack"], scenario.results[
        "rows_before_ack"], strict=True))
    now = list(zip(ops.incidents(tenant_id=TENANT), incident_view.incident_rows(
        ops.events.sql, TENANT, None), strict=True))
    for listed, row in before[:3] + now[1:4]:
        assert isinstance(listed, Incident) and listed == Incident.of(row)
        assert listed.to_dict() == {k: v for k, v in row.items() if v is not None or k not in (
            "acknowledged_at", "mitigation_started_at", "resolved_at", "closed_at")} | {
            "rca_link": None, "fix_sprint": None}
    for listed in ops.incidents(tenant_id=TENANT)[1:4]:
        assert listed == ops.incident(listed.incident_id)


def test_incident_timeline_entries(scenario: Scenario) -> None:
    rows = scenario.ops.incident_timeline(scenario.incident_id)
    entries = [_round_trip(TimelineEntry, r) for r in rows]
    kinds = {type(e) for e in entries}
    assert kinds == {PublishMinute, IncidentEvent, AlertEvent}
    missed = next(e for e in entries if e.kind == "Incident.DeadlineMissed")
    assert isinstance(missed, IncidentEvent) and missed["deadline"] and missed.by is None
    acked = next(e for e in entries if e.kind == "Incident.Acknowledged")
    assert isinstance(acked, IncidentEvent) and (acked.by, acked.state) == ("alice",
                                                                            "acknowledged")


def test_replay_entries_are_typed_by_kind(scenario: Scenario) -> None:
    rows = scenario.ops.replay(TENANT, NOVEMBER.start, NOVEMBER.end)
    entries = [_round_trip(TimelineEntry, r) for r in rows]
    assert {type(e) for e in entries} == {
        PublishMinute, OperatorAction, AlertTriggered, AlertResolved, IncidentTransition,
        DeadlineDecided, FreshnessMissed}
    assert all(e.at.tzinfo is not None for e in entries)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    streamed = list(scenario.ops.replay_stream(TENANT, NOVEMBER.start, NOVEMBER.end))
    assert all(isinstance(e, TimelineEntry) for e in streamed)
    assert streamed == entries


def test_sla_figures_keep_deadlines_by_kind(scenario: Scenario) -> None:
    rows = scenario.ops.sla(NOVEMBER.start, NOVEMBER.end, all_tenants=True)
    figures = [_round_trip(SlaFigures, r) for r in rows]
    sev1 = next(f for f in figures if f["severity"] == "SEV1")
    assert isinstance(sev1, SlaFigures)
    assert {d.kind for d in sev1.deadlines} == set(rows[0].to_dict()["deadlines"])
    assert sev1.mtta_minutes is not None


def test_audit_rows_refusals_actions_and_summary(scenario: Scenario) -> None:
    ops = scenario.ops
    rows = ops.audit(AuditQuery(tenant_id=TENANT))
    audit = [_round_trip(AuditRow, r) for r in rows]
    assert any(r.collision for r in audit if isinstance(r, AuditRow))
    assert all(isinstance(r["key_missing"], bool) for r in audit)
    assert list(ops.audit_stream(AuditQuery(tenant_id=TENANT))) == audit
    refusals = [_round_trip(RefusalRow, r) for r in ops.audit_refusals(AuditQuery(
        all_tenants=True))]
    assert [r["reason"] for r in refusals] == ["repository_out_of_scope"]
    assert list(ops.audit_refusals_stream(AuditQuery(all_tenants=True))) == refusals
    actions = [_round_trip(AuditAction, r) for r in ops.audit_actions(AuditQuery(
        all_tenants=True))]
    registered = next(a for a in actions if a["action"] == "Tenant.Registered")
    assert isinstance(registered, AuditAction) and registered.details["tenant_id"] == TENANT
    summary = [_round_trip(AuditSummary, r) for r in ops.audit_summary(AuditQuery(
        all_tenants=True))]
    assert any(s["outcome"] == "refused" for s in summary)


def test_gate_status_with_evidence_constraints_and_grace(scenario: Scenario) -> None:
    declared = _round_trip(GateStatus, scenario.results["gate_with_constraint"])
    assert isinstance(declared, GateStatus) and declared.constraints[0].kind == \
        "remote_ci_unavailable"
    now = _round_trip(GateStatus, scenario.ops.gate_status(at=T + timedelta(hours=1)))
    assert isinstance(now, GateStatus)
    assert now.mode == "saas" and now.grace[0].due_at > T and not now.constraints
    evidence = now.checks[0].evidence
    assert evidence is not None and evidence.at == T and evidence.details["source"] == \
        "remote_ci"
    assert _round_trip(GateStatus, scenario.ops.gate_status(as_of=T - timedelta(days=1)))[
        "mode"] == "local_only"


def test_advance_reports_late_facts_and_alert_process(scenario: Scenario) -> None:
    assert _round_trip(AdvanceReport, scenario.results["advance"])["gate_deadlines_settled"] \
        == 0
    by_event_time = _round_trip(AdvanceReport, scenario.results["advance_by_event_time"])
    assert isinstance(by_event_time, AdvanceReport)
    assert by_event_time.gate_deadlines_settled is None
    assert "gate_deadlines_settled" not in by_event_time.to_dict()
    facts = scenario.ops.late_alert_facts()
    assert isinstance(facts, LateAlertFacts)
    late = facts.to_dict()
    assert LateAlertFacts.of(late) == facts and LateAlertFacts.of(late).to_dict() == late
    assert facts[TENANT].late == late[TENANT]["late"] == 1
    process = scenario.ops.alert_process_status()
    assert isinstance(process, AlertProcessStatus)
    status = process.to_dict()
    assert AlertProcessStatus.of(status) == process
    assert AlertProcessStatus.of(status).to_dict() == status
    assert process["position"] == process.position > 0
    assert process.late_facts == facts


def test_boundary_violations_and_rejections(scenario: Scenario) -> None:
    (violation,) = scenario.ops.tenant(TENANT).boundary_violations
    typed = BoundaryViolation.of(violation)
    assert typed.to_dict() == {**violation, "occurred_at": "2026-11-03T20:00:00.000000Z"}
    assert typed.occurred_at == violation["occurred_at"] == T
    (rejected,) = scenario.results["import_rejected"]
    _from_row(Rejection, rejected)


def test_an_unknown_key_and_a_naive_time_are_refused(scenario: Scenario) -> None:
    alert = scenario.ops.alerts(all_tenants=True)[0]
    assert isinstance(alert, Alert)
    with pytest.raises(KeyError):
        alert["no such key"]
    row = {**alert.to_dict(), "triggered_at": "2026-11-03T07:30:02"}
    with pytest.raises(NaiveDatetime):
        Alert.of(row)


def test_weekly_and_monthly_reviews(scenario: Scenario) -> None:
    from opsledger.reports.review import monthly_review, weekly_review

    # (the reviews print every time in the one output form: milliseconds)
    weekly = _from_row(WeeklyReview, weekly_review(scenario.ops, Period.week("2026-W45")),
                       fmt_time)
    assert isinstance(weekly, WeeklyReview)
    (tenant,) = weekly.tenants
    assert tenant.tenant_id == TENANT and tenant.this_week.operations > 0
    assert tenant.last_week.error_rate is None
    row = monthly_review(scenario.ops, NOVEMBER)
    monthly = _from_row(MonthlyReview, row, fmt_time)
    assert isinstance(monthly, MonthlyReview)
    assert monthly.tenants[0].slo == SloReport.of(row["tenants"][0]["slo"])
    assert monthly.tenants[0].daily[2].day == date(2026, 11, 3)
    assert monthly.alerts_per_rule["publish_error_rate"] == sum(
        1 for a in monthly.alerts if a.rule == "publish_error_rate")
    assert any(i.resolved_at is not None for i in monthly.incidents)
    assert monthly.threshold_tuning == ()  # no policy adopted in the month
    tuned = PolicyAdoption.of({"at": "2026-11-03T20:00:00.000000Z", "by": "op",
                               "effective_at": "2026-11-04T00:00:00.000000Z", "reason": "noise",
                               "changes": {"alerts.min_operations": [0, 5]}})
    assert tuned.changes["alerts.min_operations"] == [0, 5]
    assert tuned.to_dict()["effective_at"] == "2026-11-04T00:00:00.000000Z"


def test_what_if_report(scenario: Scenario) -> None:
    from opsledger.reports.whatif import what_if

    row = what_if(scenario.ops, scenario.ops.policy_at(), NOVEMBER.start, NOVEMBER.end)
    report = _from_row(WhatIfReport, row)
    assert isinstance(report, WhatIfReport)
    assert {r.rule for r in report.rules} == set(row["rules"])
    assert all(isinstance(key[2], datetime) for key in report.only_recorded)
    assert report.only_recorded  # the boundary violation is not a fact the copy re-reads
    assert report.detections[0].triggered_at.tzinfo is not None


def test_export_rows(scenario: Scenario) -> None:
    from opsledger.reports.export import export_rows

    rows = export_rows(scenario.ops, TENANT, None, None)
    exported = [_from_row(ExportRow, r, fmt_time) for r in rows]
    kinds = {e["kind"] for e in exported}
    assert {"publish", "refused", "alert_triggered", "Tenant.Registered",
            "Incident.Acknowledged"} <= kinds
    assert all(isinstance(e, ExportRow) and e.at.tzinfo is not None for e in exported)
