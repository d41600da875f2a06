"""Incidents through the public API: auto-incidents from alerts, the integrity SLO, the
store left unchanged by refusals, and living through a day = importing it afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger_test_support import saas_tenant

from opsledger import (
    FrozenClock,
    IllegalTransition,
    InvalidInput,
    NotFound,
    Operations,
    OperationsPolicy,
    import_pumuki_audit,
)
from opsledger.services.slo import Period

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def tenant(ops: Operations) -> None:
    saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))


@pytest.mark.policy("4.critical.no_successful_ingestion")
@pytest.mark.policy("3.SEV1.ack")
def test_the_outage_alert_opens_a_linked_sev1_whose_deadlines_run_on_event_time(
    sample_audit: Path,
) -> None:
    with Operations.open("memory://") as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()],
                            register_unknown=True)
        ops.advance_by_event_time()
        (alert,) = ops.alerts(tenant_id="tenant-solo", rule="no_successful_ingestion")
        sev1 = [i for i in ops.incidents(tenant_id="tenant-solo") if i["severity"] == "SEV1"]
        assert len(sev1) == 1 and sev1[0]["cause"] == "ingestion_outage"
        assert sev1[0]["alert_ids"] == (alert["id"],)
        assert sev1[0]["opened_at"] == alert["triggered_at"] == datetime(
            2026, 11, 3, 7, 59, 52, 711000, tzinfo=UTC)
        ack = next(d for d in sev1[0]["deadlines"] if d["kind"] == "acknowledge")
        assert (ack["status"], ack["missed_at"]) == (
            "missed", datetime(2026, 11, 3, 8, 14, 52, 711000, tzinfo=UTC))
        assert sev1[0]["escalated_to"] == "release operator on duty"
        high = [i for i in ops.incidents(tenant_id="tenant-solo") if i["severity"] == "SEV2"]
        assert len(high) == 8  # one per high alert (error rate, auth, collisions)


def test_high_alerts_open_no_sev2_when_the_switch_is_off(sample_audit: Path) -> None:
    quiet = OperationsPolicy.from_toml("[alerts]\nhigh_alerts_open_sev2 = false\n")
    with Operations.open("memory://", policy=quiet) as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()],
                            register_unknown=True)
        ops.advance_by_event_time()
        assert {i["severity"] for i in ops.incidents(tenant_id="tenant-solo")} == {"SEV1"}


@pytest.mark.policy("2.integrity")
@pytest.mark.policy("4.critical.tenant_boundary_violation")
def test_a_boundary_violation_is_a_critical_isolation_incident_until_resolved() -> None:
    clock = FrozenClock(T0)
    with Operations.open("memory://", clock=clock) as ops:
        tenant(ops)
        ops.confirm_boundary_violation("acme", evidence="globex rows", by="sec", at=T0)
        ops.advance(T0 + timedelta(minutes=6))
        (incident,) = ops.incidents(tenant_id="acme")
        assert (incident["severity"], incident["cause"]) == ("SEV1", "tenant_isolation_breach")
        day = Period.day("2026-11-03")
        row = ops.slo(day, tenant_id="acme", now=T0 + timedelta(minutes=7))[0]
        assert row["unresolved_critical_isolation_incidents"] == 1
        assert row["integrity_met"] is False
        ops.acknowledge(incident["id"], by="bob", at=T0 + timedelta(minutes=7))
        ops.resolve_incident(incident["id"], summary="revoked", by="bob",
                             at=T0 + timedelta(minutes=20))
        ops.advance(T0 + timedelta(minutes=30))
        (alert,) = ops.alerts(tenant_id="acme", rule="tenant_boundary_violation")
        assert alert["resolved_at"] == datetime(2026, 11, 3, 9, 20, tzinfo=UTC)
        assert alert["resolution"] == "its incident was resolved"
        row = ops.slo(day, tenant_id="acme", now=T0 + timedelta(hours=1))[0]
        assert (row["unresolved_critical_isolation_incidents"], row["integrity_met"]) == (
            0, True)


def test_refused_incident_commands_leave_the_store_unchanged(snapshot: Any) -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        tenant(ops)
        incident = ops.open_incident(severity="SEV1", title="x", cause="other", by="a",
                                     tenant_id="acme")
        before = snapshot(ops)
        with pytest.raises(IllegalTransition, match="open"):
            ops.resolve_incident(incident["id"], summary="s", by="a")
        with pytest.raises(IllegalTransition, match="SEV1"):
            ops.schedule_fix(incident["id"], sprint="S1", by="a")
        with pytest.raises(NotFound):
            ops.acknowledge("00000000-0000-0000-0000-000000000000", by="a")
        assert snapshot(ops) == before


def test_an_action_dated_before_the_incidents_history_is_refused_and_changes_nothing(
    snapshot: Any, tmp_path: Path
) -> None:
    """History is appended to: a resolve dated before the acknowledgement (or before the
    opening) would put the incident's events out of time order and break every as-of read
    of it; it is a typed refusal of the input (the CLI: a bad --at, exit 2) that leaves the
    store as it was."""
    db = f"sqlite:///{tmp_path / 'back.db'}"
    with Operations.open(db, clock=FrozenClock(T0 + timedelta(hours=1))) as ops:
        tenant(ops)
        incident = ops.open_incident(severity="SEV1", title="x", cause="other", by="a",
                                     tenant_id="acme", at=T0)
        ops.acknowledge(incident.incident_id, by="a", at=T0 + timedelta(minutes=10))
        before = snapshot(ops)
        with pytest.raises(InvalidInput, match="before incident"):
            ops.resolve_incident(incident.incident_id, summary="s", by="a",
                                 at=T0 + timedelta(minutes=5))
        with pytest.raises(InvalidInput, match="before incident"):
            ops.post_status_update(incident.incident_id, message="m", by="a",
                                   at=T0 - timedelta(days=1))
        assert snapshot(ops) == before
        assert ops.incident(incident.incident_id, as_of=T0 + timedelta(minutes=5)).state == \
            "open"
    refused = subprocess.run(
        [sys.executable, "-m", "opsledger.cli", "incident", "resolve", str(incident.incident_id),
         "--summary", "s", "--by", "a", "--at", "2026-11-03T08:00:00Z", "--db", db],
        capture_output=True, text=True)
    assert refused.returncode == 2 and "before incident" in refused.stderr
    assert "Traceback" not in refused.stderr


def _day(ops: Operations, clock: FrozenClock | None) -> str:
    """A SEV1 worked through the morning; with a clock, swept every minute as it happens."""
    def at(minutes: int) -> datetime:
        moment = T0 + timedelta(minutes=minutes)
        if clock is not None:
            while clock.now() < moment:
                clock.advance(timedelta(minutes=1))
                ops.advance()
        return moment

    incident = ops.open_incident(severity="SEV1", title="outage", cause="ingestion_outage",
                                 by="alice", tenant_id="acme", at=at(0))
    iid = incident["id"]
    ops.acknowledge(iid, by="bob", at=at(20))
    ops.post_status_update(iid, message="on it", by="bob", at=at(25))
    ops.start_mitigation(iid, by="bob", at=at(70))
    ops.change_severity(iid, severity="SEV2", reason="contained", by="bob", at=at(100))
    ops.resolve_incident(iid, summary="fixed", by="bob", at=at(180))
    return str(iid)


@pytest.mark.policy("3.SEV1.status_updates")
def test_living_through_a_day_and_importing_it_afterwards_give_the_same_deadlines() -> None:
    clock = FrozenClock(T0)
    with Operations.open("memory://", clock=clock) as live:
        tenant(live)
        live_id = _day(live, clock)
        live.advance(T0 + timedelta(hours=6))
        lived = live.incident(live_id)["deadlines"]
    with Operations.open("memory://", clock=FrozenClock(T0 + timedelta(hours=6))) as later:
        tenant(later)
        later_id = _day(later, None)  # recorded afterwards with their business times
        later.advance()
        imported = later.incident(later_id)["deadlines"]
    assert lived == imported
    assert [d["status"] for d in lived] == ["missed", "missed", "pending"]  # ack, mitigation, rca


def test_incident_show_json_contract_through_the_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'i.db'}"
    run = [sys.executable, "-m", "opsledger.cli"]
    opened = json.loads(subprocess.run(
        [*run, "incident", "open", "--severity", "SEV3", "--title", "typo in report",
         "--cause", "defect", "--by", "alice", "--at", "2026-11-06T17:00:00Z", "--json",
         "--db", db], check=True, capture_output=True, text=True).stdout)
    assert {"id", "severity", "state", "deadlines"} <= set(opened)
    kinds = {d["kind"]: d for d in opened["deadlines"]}
    assert kinds["acknowledge"]["due_at"] == "2026-11-09T17:00:00.000Z"  # Fri -> Mon
    assert kinds["fix_scheduled"]["due_at"] is None
    assert {d["status"] for d in opened["deadlines"]} == {"pending"}
    wrong = subprocess.run([*run, "incident", "mitigate", opened["id"], "--by", "bob",
                            "--db", db], capture_output=True, text=True)
    assert wrong.returncode == 1 and "illegal_transition" in wrong.stderr  # refused


def test_the_incident_timeline_orders_transitions_misses_and_alerts(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    with Operations.open(db, clock=FrozenClock(T0)) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        ops.confirm_boundary_violation("acme", evidence="globex rows", by="sec", at=T0)
        ops.advance(T0 + timedelta(minutes=20))
        (incident,) = ops.incidents(tenant_id="acme")
        ops.acknowledge(incident["id"], by="bob", at=T0 + timedelta(minutes=21))
    run = [sys.executable, "-m", "opsledger.cli", "incident", "timeline", incident["id"],
           "--json", "--db", db]
    first = subprocess.run(run, check=True, capture_output=True, text=True).stdout
    entries = json.loads(first)
    assert any(e["kind"] == "publish_minute" for e in entries) is False  # no publishes here
    assert [e["kind"] for e in entries] == [
        "Incident.Opened", "Alert.Triggered", "Incident.DeadlineMissed",
        "Incident.Acknowledged"]
    assert entries[2]["kind"] == "Incident.DeadlineMissed" and entries[2]["at"] == (
        "2026-11-03T09:15:00.000Z")
    assert subprocess.run(run, check=True, capture_output=True, text=True).stdout == first


def test_the_outage_timeline_shows_the_publishes_around_it(sample_audit: Path) -> None:
    with Operations.open("memory://") as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()],
                            register_unknown=True)
        ops.advance_by_event_time()
        (sev1,) = [i for i in ops.incidents(tenant_id="tenant-solo") if i["severity"] == "SEV1"]
        entries = ops.incident_timeline(sev1["id"])
    minutes = [e for e in entries if e["kind"] == "publish_minute"]
    assert minutes[0]["at"] >= datetime(2026, 11, 3, 7, 29, tzinfo=UTC)
    assert minutes[-1]["at"] < datetime(2026, 11, 3, 23, 59, tzinfo=UTC)  # text "<= ...T23:59"
    assert sum(m["err_http_status"] for m in minutes) >= 21  # the outage's 503s
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


def test_an_opening_with_a_request_id_is_idempotent_and_its_id_derives_from_it(
        snapshot: Any) -> None:
    """A retried opening (same request id) returns the incident it opened, records
    nothing more, and another store gives it the same id (the demo's hand-opened incidents
    replay the same way)."""
    ids = []
    for _ in range(2):
        with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
            tenant(ops)
            first = ops.open_incident(severity="SEV2", title="customer report", cause="other",
                                      by="a", tenant_id="acme", request_id="ticket-4711")
            before = snapshot(ops)
            again = ops.open_incident(severity="SEV2", title="customer report",
                                      cause="other", by="a", tenant_id="acme",
                                      request_id="ticket-4711")
            assert again == first and snapshot(ops) == before
            ids.append(first.incident_id)
            other = ops.open_incident(severity="SEV2", title="y", cause="other", by="a",
                                      tenant_id="acme")
            assert other.incident_id != first.incident_id
    assert ids[0] == ids[1]
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops, \
            pytest.raises(InvalidInput, match="request_id"):
        ops.open_incident(severity="SEV2", title="x", cause="other", by="a",
                          request_id="x" * 5000)


def test_operators_judgements_of_a_linked_alert_are_on_the_incidents_timeline(
        sample_audit: Path) -> None:
    with Operations.open("memory://") as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()],
                            register_unknown=True)
        ops.advance_by_event_time()
        incident = next(i for i in ops.incidents(all_tenants=True) if i.alert_ids)
        alert = incident.alert_ids[0]
        at = incident.opened_at + timedelta(minutes=5)
        ops.acknowledge_alert(alert, by="ana", at=at)
        ops.judge_alert(alert, "noise", reason="quiet window", by="ana", at=at)
        entries = [e.to_dict() for e in ops.incident_timeline(incident.incident_id)
                   if e.kind.startswith("Alert.") and e.kind not in ("Alert.Triggered",
                                                                    "Alert.Resolved")]
        # the tenant's RCA replay shows them as the operator actions they are
        replayed = [(e.kind, e["actor"]) for e in ops.replay(
            incident.tenant_id, at - timedelta(minutes=1), at + timedelta(minutes=1))
                    if e.kind in ("Alert.Acknowledged", "Alert.Judged")]
        assert sorted(replayed) == [("Alert.Acknowledged", "ana"), ("Alert.Judged", "ana")]
    assert [(e["kind"], e["by"], e["verdict"], e["reason"]) for e in entries] == [
        ("Alert.Acknowledged", "ana", None, None), ("Alert.Judged", "ana", "noise",
                                                   "quiet window")]


def test_a_replay_holds_a_deadline_without_a_due_time() -> None:
    """A SEV3's fix is scheduled "by the sprint": its deadline has no due time, and a
    replay over it shows it decided with ``due_at`` None (it raised ValueError)."""
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        tenant(ops)
        incident = ops.open_incident(severity="SEV3", title="x", cause="other", by="a",
                                     tenant_id="acme")
        ops.acknowledge(incident["id"], by="a")
        ops.schedule_fix(incident["id"], sprint="S1", by="a")
        entries = ops.replay("acme", T0 - timedelta(days=1), T0 + timedelta(days=1))
        decided = [e for e in entries if e.kind.startswith("deadline_")
                   and e["deadline"] == "fix_scheduled"]
        assert decided and decided[0]["due_at"] is None
        assert decided[0].to_dict()["due_at"] is None
