"""The outbox view (``notifications``) on every backend: each source event gives its row
with a stable dedup key; a rebuild writes the same rows and, because delivery state is not
the view's, never routes or sends anything again; forgetting a tenant takes its
notifications and their delivery record with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opsledger.domain.gate import ActivationRefused
from opsledger_test_notify import Receiver
from opsledger_test_support import EVIDENCE, saas_tenant

from opsledger import FrozenClock, NotifyConfig, Operations, load_notify_config

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def _at(ops: Operations, moment: datetime) -> datetime:
    clock = ops.clock
    assert isinstance(clock, FrozenClock)
    clock.set(moment)
    return moment


def _burst(ops: Operations, tenant: str, start: datetime, errors: int = 3) -> None:
    for i in range(10):
        ops.record_publish(
            tenant_id=tenant, repository_id="web", idempotency_key=f"{tenant}-{start}-{i}",
            payload_hash=f"{i:064x}", outcome="error" if i < errors else "success",
            error_code="HTTP_STATUS" if i < errors else None, attempts=1, latency_ms=50,
            occurred_at=start + timedelta(seconds=20 * i))


def scenario(ops: Operations) -> dict[str, str]:
    """Every source of notifications, in business-time order; returns the ids of interest."""
    day0 = _at(ops, T0 - timedelta(days=1))
    ops.declare_constraint("remote_ci_unavailable", reason="runners down", by="release", at=day0)
    for check, details in EVIDENCE.items():
        local = {"source": "local"} if "source" in details else {}
        ops.record_gate_evidence(check, result="pass", by="release", at=day0,
                                 details={**details, **local})
    ops.activate_saas("1.0.0", by="release", at=day0)
    with pytest.raises(ActivationRefused):
        ops.activate_saas("2.0.0", by="release", at=day0 + M)  # refused: recorded
    ops.assign_owners(primary="backend", secondary="dana", by="lead", at=day0 + M)
    for tenant in ("acme", "globex"):
        saas_tenant(ops, tenant, ["web"], at=day0 + 2 * M)
    _at(ops, T0 + 3 * M)
    _burst(ops, "acme", T0)
    ops.advance(_at(ops, T0 + H))  # the alert triggers, then resolves
    sev1 = str(ops.open_incident(severity="SEV1", title="web down", cause="other", by="a",
                                 tenant_id="globex", at=_at(ops, T0 + 2 * H))["id"])
    ops.advance(_at(ops, T0 + 2 * H + 16 * M))  # acknowledgement missed: escalated
    ops.acknowledge(sev1, by="a", at=_at(ops, T0 + 2 * H + 17 * M))
    ops.advance(_at(ops, T0 + 2 * H + 31 * M))  # status update missed
    ops.change_severity(sev1, severity="SEV2", reason="contained", by="a",
                        at=_at(ops, T0 + 2 * H + 40 * M))
    ops.resolve_incident(sev1, summary="fixed", by="a", at=_at(ops, T0 + 2 * H + 50 * M))
    lifted = _at(ops, T0 + 3 * H)
    ops.lift_constraint("remote_ci_unavailable", reason="runners back", by="release", at=lifted)
    ops.advance(_at(ops, lifted + 72 * H))  # no remote evidence: a compliance breach
    ops.catch_up()
    return {"sev1": sev1}


@pytest.fixture
def ops(store_url: str) -> Iterator[Operations]:
    with Operations.open(store_url, clock=FrozenClock(T0)) as opened:
        yield opened


def _config(url: str) -> NotifyConfig:
    """Everything to one webhook; old notifications too (the scenario spans four days)."""
    return load_notify_config(f"""
[delivery]
max_age = "30d"
[channels.hook]
type = "webhook"
url = "{url}"
secret_env = "HOOK_SECRET"
[routes.all]
channel = "hook"
""", {"HOOK_SECRET": "test-secret"})


def _rows(ops: Operations, table: str = "notifications") -> list[dict[str, Any]]:
    sql = ops.sql
    return [dict(r) for r in sql.fetch(f"SELECT * FROM {sql.table(table)} ORDER BY 1, 2")]


def test_each_source_event_gives_its_notification_with_a_stable_key(ops: Operations) -> None:
    ids = scenario(ops)
    notes = ops.outbox()
    assert [n.position for n in notes] == sorted(n.position for n in notes)
    keys = {n.notification_id: n for n in notes}
    sev1 = f"incident/{ids['sev1']}"
    assert {n.kind for n in notes} >= {
        "alert.triggered", "alert.resolved", "incident.opened", "incident.acknowledged",
        "incident.severity_changed", "incident.escalated", "incident.deadline_missed",
        "incident.resolved", "gate.activation_refused", "gate.compliance_breached"}
    escalated = keys[f"{sev1}/escalated/2026-11-03T11:15:00.000000Z"]
    assert (escalated.audience, escalated.level, escalated.tenant_id) == (
        "secondary", "critical", "globex")
    assert escalated.details["escalated_to"] == "dana"
    missed = keys[f"{sev1}/missed/status_update/2026-11-03T11:30:00.000000Z"]
    assert (missed.audience, missed.occurred_at) == ("primary", T0 + 2 * H + 30 * M)
    assert keys[f"{sev1}/resolved"].level == "high"  # SEV2 by then
    (alert,) = [n for n in notes if n.kind == "alert.triggered"]
    assert (alert.tenant_id, alert.rule, alert.level) == ("acme", "publish_error_rate", "high")
    assert keys[alert.subject + "/resolved"].position > alert.position
    (refused,) = [n for n in notes if n.kind == "gate.activation_refused"]
    assert (refused.subject, refused.tenant_id, refused.details["version"]) == (
        "gate/production", None, "2.0.0")
    (breach,) = [n for n in notes if n.kind == "gate.compliance_breached"]
    assert breach.subject == refused.subject
    assert ops.outbox(after=alert.position, limit=1)[0].position > alert.position
    assert {n.tenant_id for n in ops.outbox(tenant_id="globex")} == {"globex"}


def test_a_withdrawn_alert_gives_its_notification_when_found(ops: Operations) -> None:
    saas_tenant(ops, "acme", ["web"], at=_at(ops, T0 - timedelta(days=1)))
    _at(ops, T0 + 3 * M)
    _burst(ops, "acme", T0)
    ops.advance(T0 + 10 * M)
    for i in range(400):  # late successes: the alert's condition never held
        ops.record_publish(
            tenant_id="acme", repository_id="web", idempotency_key=f"late-{i}",
            payload_hash=f"{1000 + i:064x}", outcome="success", attempts=1, latency_ms=50,
            occurred_at=T0 - timedelta(seconds=1) + timedelta(milliseconds=i))
    ops.advance(_at(ops, T0 + 20 * M))
    (withdrawn,) = [n for n in ops.outbox() if n.kind == "alert.withdrawn"]
    (alert,) = ops.alerts(tenant_id="acme", include_withdrawn=True)
    assert withdrawn.notification_id == f"alert/{alert.alert_id}/withdrawn"
    assert withdrawn.occurred_at == alert.found_at


def test_a_rebuild_writes_the_same_rows_and_never_routes_or_sends_again(
        db: str) -> None:
    with Operations.open(db, clock=FrozenClock(T0)) as ops, Receiver() as hook:
        scenario(ops)
        config = _config(hook.url)
        first = ops.deliver_notifications(config)
        assert first.delivered == first.routed == len(hook.received) > 10
        rows, deliveries = _rows(ops), _rows(ops, "notification_deliveries")
        ops.rebuild_views(views=["outbox"])
        assert _rows(ops) == rows  # byte-identical
        again = ops.deliver_notifications(config)
        assert (again.routed, again.attempted) == (0, 0)
        assert len(hook.received) == first.delivered
        assert _rows(ops, "notification_deliveries") == deliveries


def test_forgetting_a_tenant_removes_its_notifications_and_deliveries(db: str) -> None:
    with Operations.open(db, clock=FrozenClock(T0)) as ops, Receiver() as hook:
        scenario(ops)
        config = _config(hook.url)
        ops.deliver_notifications(config)
        assert {d.tenant_id for d in ops.notifications(tenant_id="acme")} == {"acme"}
        ops.forget_tenant("acme", by="dpo", reason="contract ended")
        ops.catch_up()
        assert [n for n in ops.outbox() if n.tenant_id == "acme"] == []
        assert ops.notifications(tenant_id="acme") == ()
        assert ops.notifications(tenant_id="globex") != ()
        attempts = {r["delivery_id"] for r in _rows(ops, "notification_attempts")}
        assert attempts == {d.delivery_id for d in ops.notifications(limit=10_000)}
