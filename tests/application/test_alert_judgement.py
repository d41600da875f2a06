"""Operators' judgement of alerts (issue 17 point 1), on a real store (SQLite file and
PostgreSQL): acknowledged, judged actionable or noise, linked to an incident — each an
event with its actor, shown by the alert history, its typed result and ``alerts --json``,
and rebuilt identically from the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opsledger.domain.alert import Alert as AlertAggregate
from opsledger_test_support import saas_tenant

from opsledger import IllegalTransition, InvalidInput, NotFound, Operations
from opsledger.results import Alert

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _error_burst(ops: Operations, tenant: str = "acme") -> Alert:
    """A tenant whose burst of failed publishes fires ``publish_error_rate`` (which opens
    a SEV2 incident by default); returns the alert."""
    saas_tenant(ops, tenant, ["web"], at=T0 - timedelta(days=1))
    for i in range(10):
        ops.record_publish(
            tenant_id=tenant, repository_id="web", idempotency_key=f"{tenant}-{i}",
            payload_hash=f"{i:064x}", outcome="error" if i < 3 else "success",
            error_code="HTTP_STATUS" if i < 3 else None, attempts=1, latency_ms=50,
            occurred_at=T0 + timedelta(seconds=20 * i))
    ops.advance(T0 + timedelta(hours=1))
    (alert,) = ops.alerts(tenant_id=tenant)
    return alert


def _alert_rows(ops: Operations) -> list[dict[str, Any]]:
    ops.catch_up()
    with ops.sql.transaction(commit=False) as cursor:
        ops.sql.execute(cursor, f"SELECT * FROM {ops.sql.table('alerts')} ORDER BY id")
        return [dict(r) for r in cursor.fetchall()]


@pytest.mark.policy("7.monthly_review")
def test_an_operator_acknowledges_and_judges_an_alert_and_the_history_shows_who(
        db: str) -> None:
    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        assert (alert.verdict, alert.acknowledged_at) == (None, None)

        acked = ops.acknowledge_alert(alert.alert_id, by="ann", at=T0 + timedelta(minutes=4))
        noise = ops.judge_alert(alert.alert_id, "noise", reason="3 failures in a quiet window",
                                by="bob", at=T0 + timedelta(minutes=9))

        assert isinstance(acked, Alert) and isinstance(noise, Alert)
        assert (acked.acknowledged_at, acked.acknowledged_by) == (
            T0 + timedelta(minutes=4), "ann")
        assert (noise.verdict, noise.verdict_reason, noise.judged_by, noise.actionable) == (
            "noise", "3 failures in a quiet window", "bob", False)
        (listed,) = ops.alerts(tenant_id="acme")
        assert listed == noise
        row = listed.to_dict()
        assert (row["verdict"], row["acknowledged_by"], row["actionable"]) == (
            "noise", "ann", False)
        assert Alert.of(row) == listed


@pytest.mark.policy("7.monthly_review")
def test_a_later_judgement_replaces_an_earlier_one_and_a_rebuild_gives_the_same_rows(
        db: str) -> None:
    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        ops.judge_alert(alert.alert_id, "noise", reason="quiet window", by="bob",
                        at=T0 + timedelta(minutes=9))
        again = ops.judge_alert(alert.alert_id, "actionable", by="cho",
                                at=T0 + timedelta(minutes=30))
        assert (again.verdict, again.verdict_reason, again.judged_by, again.actionable) == (
            "actionable", None, "cho", True)
        before = _alert_rows(ops)
        ops.rebuild_views()
        assert _alert_rows(ops) == before


@pytest.mark.policy("7.monthly_review")
def test_an_alert_that_opened_an_incident_reads_actionable_unless_marked_noise(
        db: str) -> None:
    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        (incident,) = ops.incidents(tenant_id="acme")
        assert alert.incident_id == str(incident["id"])
        assert alert.verdict is None and alert.actionable is True
        noise = ops.judge_alert(alert.alert_id, "noise", reason="one failure in four",
                                by="bob", at=T0 + timedelta(minutes=9))
        assert (noise.incident_id, noise.actionable) == (str(incident["id"]), False)


def test_an_alert_linked_to_an_incident_by_hand_reads_actionable(db: str) -> None:
    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        opened = ops.open_incident(severity="SEV3", title="web publishes failing",
                                   cause="degraded_ingestion", by="ann", tenant_id="acme",
                                   at=T0 + timedelta(minutes=2))
        linked = ops.link_alert(alert.alert_id, opened["id"], by="ann",
                                at=T0 + timedelta(minutes=3))
        assert (linked.incident_id, linked.actionable) == (str(opened["id"]), True)
        assert ops.alerts(tenant_id="acme") == [linked]
        before = _alert_rows(ops)
        ops.rebuild_views()
        assert _alert_rows(ops) == before


def test_an_incident_opened_with_an_alert_links_it(db: str) -> None:
    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        opened = ops.open_incident(severity="SEV3", title="web publishes failing",
                                   cause="degraded_ingestion", by="ann", tenant_id="acme",
                                   alert_ids=[alert.alert_id], at=T0 + timedelta(minutes=2))
        (listed,) = ops.alerts(tenant_id="acme")
        assert (listed.incident_id, listed.actionable) == (str(opened["id"]), True)


def test_refused_judgements_raise_typed_errors_and_store_nothing(db: str,
                                                                 snapshot: Any) -> None:
    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        saas_tenant(ops, "globex", ["web"], at=T0 - timedelta(days=1))
        theirs = ops.open_incident(severity="SEV3", title="globex", cause="degraded_ingestion",
                                   by="ann", tenant_id="globex", at=T0)
        ops.acknowledge_alert(alert.alert_id, by="ann", at=T0 + timedelta(minutes=4))
        before = snapshot(ops)
        with pytest.raises(IllegalTransition):
            ops.acknowledge_alert(alert.alert_id, by="bob", at=T0 + timedelta(minutes=5))
        with pytest.raises(InvalidInput, match="reason"):
            ops.judge_alert(alert.alert_id, "noise", by="bob", at=T0 + timedelta(minutes=5))
        with pytest.raises(InvalidInput, match="verdict"):
            ops.judge_alert(alert.alert_id, "meh", reason="x", by="bob",
                            at=T0 + timedelta(minutes=5))
        with pytest.raises(InvalidInput, match="before alert"):
            ops.judge_alert(alert.alert_id, "actionable", by="bob", at=T0 - timedelta(minutes=1))
        with pytest.raises(InvalidInput, match="another tenant"):
            ops.link_alert(alert.alert_id, theirs["id"], by="bob", at=T0 + timedelta(minutes=5))
        with pytest.raises(IllegalTransition):  # already linked to the incident it opened
            ops.link_alert(alert.alert_id, alert.incident_id or "", by="bob",
                           at=T0 + timedelta(minutes=5))
        with pytest.raises(NotFound):
            ops.acknowledge_alert("not-an-alert", by="bob", at=T0 + timedelta(minutes=5))
        with pytest.raises(NotFound):
            ops.link_alert(alert.alert_id, "00000000-0000-0000-0000-000000000000", by="bob",
                           at=T0 + timedelta(minutes=5))
        assert snapshot(ops) == before


def test_a_withdrawn_alert_cannot_be_acknowledged_or_judged() -> None:
    alert = AlertAggregate(tenant_id="acme", rule="publish_error_rate", level="high",
                           repository_id="web", occurred_at=T0, window_start=T0,
                           window_end=T0, observed=0.25, threshold=0.02, details={})
    alert.revise(resolved_at=None, withdrawn=True, reason="late facts", found_at=T0)
    with pytest.raises(IllegalTransition):
        alert.acknowledge("ann", T0 + timedelta(minutes=1))
    with pytest.raises(IllegalTransition):
        alert.judge("actionable", None, "ann", T0 + timedelta(minutes=1))
    with pytest.raises(IllegalTransition):
        alert.link_to_incident("some-incident", "ann", T0 + timedelta(minutes=1))
    assert alert.acknowledged_at is None and alert.verdict is None


@pytest.mark.policy("7.monthly_review")
def test_the_alert_history_as_of_a_time_shows_the_judgement_as_it_stood(db: str) -> None:
    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        ops.acknowledge_alert(alert.alert_id, by="ann", at=T0 + timedelta(minutes=4))
        ops.judge_alert(alert.alert_id, "noise", reason="quiet window", by="bob",
                        at=T0 + timedelta(minutes=9))
        (then,) = ops.alerts(tenant_id="acme", as_of=T0 + timedelta(hours=2, minutes=6))
        assert (then.acknowledged_by, then.verdict, then.judged_at) == (
            "ann", "noise", T0 + timedelta(minutes=9))
        (before,) = ops.alerts(tenant_id="acme", as_of=T0 + timedelta(minutes=6))
        assert (before.acknowledged_by, before.verdict, before.judged_by) == ("ann", None, None)
        assert before.actionable is True  # it opened its SEV2
        # judged again later: every earlier read keeps the verdict in force then
        ops.judge_alert(alert.alert_id, "actionable", by="cy", at=T0 + timedelta(hours=3))
        (then,) = ops.alerts(tenant_id="acme", as_of=T0 + timedelta(hours=2, minutes=6))
        assert (then.verdict, then.verdict_reason, then.judged_by, then.actionable) == (
            "noise", "quiet window", "bob", False)


@pytest.mark.policy("5.audit_trail")
def test_judgements_are_audited_operator_actions_of_the_alerts_tenant(db: str) -> None:
    from opsledger import AuditQuery

    with Operations.open(db) as ops:
        alert = _error_burst(ops)
        ops.acknowledge_alert(alert.alert_id, by="ann", at=T0 + timedelta(minutes=4))
        ops.judge_alert(alert.alert_id, "actionable", by="bob", at=T0 + timedelta(minutes=9))
        actions = [a for a in ops.audit_actions(AuditQuery(tenant_id="acme"))
                   if a.action.startswith("Alert.")]
    assert [(a.action, a.actor, a.tenant_id) for a in actions] == [
        ("Alert.Acknowledged", "ann", "acme"), ("Alert.Judged", "bob", "acme")]
    assert actions[1].details["verdict"] == "actionable"
