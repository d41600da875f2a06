"""Incident timers (policy §3) at their exact boundaries, and the lifecycle's typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opsledger.domain.incident import Incident, Severity

from opsledger import IllegalTransition, InvalidInput, OperationsPolicy

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # a Tuesday
P = OperationsPolicy()
SECONDARY = P.ownership.secondary_owner


def opened(severity: Severity, at: datetime = T0, policy: OperationsPolicy = P) -> Incident:
    return Incident.open(key=f"k-{severity}-{at.isoformat()}", severity=severity,
                         tenant_id="acme", title="t", cause="ingestion_outage", by="alice",
                         at=at, policy=policy)


def due(incident: Incident, kind: str) -> datetime:
    value: datetime = incident.deadlines[kind]["due_at"]
    return value


def status(incident: Incident) -> dict[str, Any]:
    return {k: d["status"] for k, d in incident.deadlines.items()}


@pytest.mark.policy("3.SEV1.ack")
def test_sev1_ack_deadline_is_15_minutes_after_opening() -> None:
    on_time = opened(Severity.SEV1)
    on_time.acknowledge("bob", T0 + timedelta(minutes=15), SECONDARY, P)
    assert on_time.deadlines["acknowledge"]["status"] == "met"
    late = opened(Severity.SEV1)
    late.acknowledge("bob", T0 + timedelta(minutes=15, microseconds=1), SECONDARY, P)
    ack = late.deadlines["acknowledge"]
    assert (ack["status"], ack["missed_at"]) == ("missed", T0 + timedelta(minutes=15))
    assert late.escalated_to == "release operator on duty"  # policy §7 secondary owner


@pytest.mark.policy("3.SEV1.mitigation")
def test_sev1_mitigation_deadline_is_60_minutes_after_opening() -> None:
    incident = opened(Severity.SEV1)
    assert due(incident, "mitigation") == T0 + timedelta(minutes=60)
    incident.acknowledge("bob", T0 + timedelta(minutes=5), SECONDARY, P)
    incident.post_status_update("investigating", True, "bob", T0 + timedelta(minutes=29), P,
                                SECONDARY)
    incident.start_mitigation("bob", T0 + timedelta(minutes=60), SECONDARY, P)
    assert incident.deadlines["mitigation"]["status"] == "met"


@pytest.mark.policy("3.SEV1.status_updates")
def test_sev1_customer_updates_every_30_minutes_and_each_update_rearms() -> None:
    incident = opened(Severity.SEV1)
    assert due(incident, "status_update") == T0 + timedelta(minutes=30)
    incident.post_status_update("internal note", False, "bob", T0 + timedelta(minutes=10), P,
                                SECONDARY)
    assert due(incident, "status_update") == T0 + timedelta(minutes=30)  # internal: no re-arm
    incident.post_status_update("we are on it", True, "bob", T0 + timedelta(minutes=30), P,
                                SECONDARY)
    assert due(incident, "status_update") == T0 + timedelta(minutes=60)
    assert incident.deadlines["acknowledge"]["status"] == "missed"  # seen by the 09:30 update
    assert incident.record_overdue(T0 + timedelta(minutes=125), SECONDARY, P) == 4
    # 10:00 mitigation, then the slots due 10:00, 10:30 and 11:00; the next is due 11:30.
    assert due(incident, "status_update") == T0 + timedelta(minutes=150)


@pytest.mark.policy("3.SEV1.status_updates")
def test_a_silent_sev1_records_a_day_of_missed_updates_then_its_cadence_lapses() -> None:
    """An incident left without updates for years (old history imported, a backdated
    violation) records its first 48 missed slots, then the cadence lapses until the next
    customer-facing update re-arms it: bounded events, the same whenever it is swept."""
    incident = opened(Severity.SEV1)
    incident.acknowledge("bob", T0 + timedelta(minutes=1), SECONDARY, P)
    incident.start_mitigation("bob", T0 + timedelta(minutes=2), SECONDARY, P)
    years = T0 + timedelta(days=3 * 365)
    assert incident.record_overdue(years, SECONDARY, P) == 48
    lapsed = incident.deadlines["status_update"]
    assert (lapsed["status"], lapsed["lapsed"]) == ("missed", True)
    assert lapsed["due_at"] == T0 + timedelta(minutes=30 * 48)
    assert incident.record_overdue(years + timedelta(days=1), SECONDARY, P) == 0
    stepwise = opened(Severity.SEV1)  # swept every 30 minutes instead: the same misses
    stepwise.acknowledge("bob", T0 + timedelta(minutes=1), SECONDARY, P)
    stepwise.start_mitigation("bob", T0 + timedelta(minutes=2), SECONDARY, P)
    recorded = sum(stepwise.record_overdue(T0 + timedelta(minutes=30 * n + 1), SECONDARY, P)
                   for n in range(1, 200))
    assert recorded == 48 and stepwise.deadlines == incident.deadlines
    incident.post_status_update("back on it", True, "bob", years, P, SECONDARY)
    assert due(incident, "status_update") == years + timedelta(minutes=30)
    assert incident.record_overdue(years + timedelta(minutes=61), SECONDARY, P) == 2


@pytest.mark.policy("3.SEV1.rca")
def test_sev1_rca_is_due_5_business_days_after_resolution() -> None:
    incident = opened(Severity.SEV1)
    incident.acknowledge("bob", T0 + timedelta(minutes=1), SECONDARY, P)
    friday = datetime(2026, 11, 6, 16, 0, tzinfo=UTC)
    incident.resolve("fixed", "bob", friday, P, SECONDARY)
    assert due(incident, "rca") == datetime(2026, 11, 13, 16, 0, tzinfo=UTC)
    assert "status_update" not in incident.deadlines  # the cadence stops at resolution


@pytest.mark.policy("3.SEV2.ack")
@pytest.mark.policy("3.SEV2.mitigation")
def test_sev2_ack_in_1_hour_and_mitigation_in_4_hours() -> None:
    incident = opened(Severity.SEV2)
    assert due(incident, "acknowledge") == T0 + timedelta(hours=1)
    assert due(incident, "mitigation") == T0 + timedelta(hours=4)
    assert "status_update" not in incident.deadlines
    incident.acknowledge("bob", T0 + timedelta(hours=1), SECONDARY, P)
    incident.start_mitigation("bob", T0 + timedelta(hours=4, seconds=1), SECONDARY, P)
    assert status(incident) == {"acknowledge": "met", "mitigation": "missed"}


@pytest.mark.policy("3.SEV2.rca")
def test_sev2_rca_due_across_a_weekend_and_a_holiday() -> None:
    policy = OperationsPolicy.from_toml('[calendar]\ntimezone = "America/New_York"\n'
                                        'holiday_country = "US"\n')
    incident = opened(Severity.SEV2, policy=policy)
    incident.acknowledge("bob", T0 + timedelta(minutes=5), SECONDARY, policy)
    resolved = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Fri 10:00 New York
    incident.resolve("fixed", "bob", resolved, policy, SECONDARY)
    # 10 business days: Nov 23, 24, 25, (26 Thanksgiving), 27, 30, Dec 1, 2, 3, 4, 7.
    assert due(incident, "rca") == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.mark.policy("3.SEV3.ack")
def test_sev3_ack_one_business_day_from_friday_evening_across_dst() -> None:
    policy = OperationsPolicy.from_toml('[calendar]\ntimezone = "Europe/Madrid"\n')
    friday_evening = datetime(2026, 10, 23, 17, 30, tzinfo=UTC)  # 19:30 CEST
    incident = opened(Severity.SEV3, at=friday_evening, policy=policy)
    # Monday 19:30 local is CET after the change on Sunday: 18:30 UTC.
    assert due(incident, "acknowledge") == datetime(2026, 10, 26, 18, 30, tzinfo=UTC)


@pytest.mark.policy("3.SEV3.fix_scheduled")
def test_sev3_fix_is_scheduled_in_the_sprint_flow_and_closes_the_incident() -> None:
    incident = opened(Severity.SEV3)
    assert incident.deadlines["fix_scheduled"]["due_at"] is None
    incident.acknowledge("bob", T0 + timedelta(hours=2), SECONDARY, P)
    incident.schedule_fix("2026-S23", "bob", T0 + timedelta(days=3))
    incident.resolve("will ship in sprint", "bob", T0 + timedelta(days=3), P, SECONDARY)
    incident.close("bob", T0 + timedelta(days=4))
    assert status(incident) == {"acknowledge": "met", "fix_scheduled": "met"}


def test_a_severity_change_recomputes_open_deadlines_from_the_opening() -> None:
    incident = opened(Severity.SEV2)
    incident.acknowledge("bob", T0 + timedelta(minutes=50), SECONDARY, P)
    incident.change_severity(Severity.SEV1, "tenant data exposed", "bob",
                             T0 + timedelta(minutes=55), P, SECONDARY)
    assert incident.deadlines["acknowledge"]["status"] == "met"  # met deadlines stay met
    assert due(incident, "mitigation") == T0 + timedelta(minutes=60)  # SEV1's, from opening
    # SEV1's first status slot (09:30) was already past at the change: recorded missed.
    assert incident.deadlines["status_update"]["due_at"] == T0 + timedelta(minutes=30)
    incident.record_overdue(T0 + timedelta(minutes=56), SECONDARY, P)
    assert incident.deadlines["status_update"]["due_at"] == T0 + timedelta(minutes=60)


def test_missed_is_recorded_once_at_its_due_time() -> None:
    incident = opened(Severity.SEV1)
    assert incident.record_missed("acknowledge", T0 + timedelta(minutes=15), SECONDARY, P)
    assert not incident.record_missed("acknowledge", T0 + timedelta(minutes=15), SECONDARY, P)
    event = incident.collect_events()[-1]
    assert event.occurred_at == event.due_at == T0 + timedelta(minutes=15)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("steps", "command"),
    [
        (["ack", "resolve"], lambda i, t: i.acknowledge("x", t, SECONDARY, P)),
        (["ack"], lambda i, t: i.publish_rca("https://rca", "x", t, SECONDARY, P)),
        (["ack"], lambda i, t: i.schedule_fix("S1", "x", t)),
        ([], lambda i, t: i.start_mitigation("x", t, SECONDARY, P)),
        (["ack"], lambda i, t: i.close("x", t)),
        (["ack", "resolve"], lambda i, t: i.close("x", t)),
        (["ack", "resolve"], lambda i, t: i.change_severity(Severity.SEV2, "r", "x", t, P,
                                                            SECONDARY)),
    ],
)
def test_illegal_transitions_name_the_current_state_and_change_nothing(
    steps: list[str], command: Any
) -> None:
    incident = opened(Severity.SEV1)
    t = T0 + timedelta(minutes=1)
    if "ack" in steps:
        incident.acknowledge("x", t, SECONDARY, P)
    if "resolve" in steps:
        incident.resolve("done", "x", t, P, SECONDARY)
    before = (incident.version, incident.state, dict(incident.deadlines))
    with pytest.raises(IllegalTransition) as caught:
        command(incident, t)
    assert caught.value.state in str(caught.value)
    assert (incident.version, incident.state, dict(incident.deadlines)) == before


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInput, match="cause"):
        Incident.open(key="k", severity=Severity.SEV1, tenant_id=None, title="t",
                      cause="gremlins", by="a", at=T0, policy=P)
    with pytest.raises(InvalidInput, match="title"):
        Incident.open(key="k", severity=Severity.SEV1, tenant_id=None, title=" ",
                      cause="other", by="a", at=T0, policy=P)
