"""Which alerts open incidents, and of what severity, is the policy's to say per rule
(issue 17 point 3): by default as the policy reads (critical SEV1, high SEV2); a team may
set a rule to ``none`` or to another severity, and the adoption judges later alerts only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opsledger_test_support import saas_tenant

from opsledger import InvalidPolicy, Operations, OperationsPolicy

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _burst(ops: Operations, start: datetime, key: str) -> None:
    """Ten publishes 10 s apart, three of them failed (a real error burst)."""
    for i in range(10):
        failed = i in (3, 4, 5)
        ops.record_publish(
            tenant_id="acme", repository_id="web", idempotency_key=f"{key}-{i}",
            payload_hash=f"{key}-{i}".encode().hex().ljust(64, "0")[:64],
            outcome="error" if failed else "success",
            error_code="HTTP_STATUS" if failed else None, attempts=1, latency_ms=50,
            occurred_at=start + timedelta(seconds=10 * i))


@pytest.mark.policy("4.high.publish_error_rate")
def test_a_rule_set_to_none_raises_its_alert_and_opens_no_incident(store_url: str) -> None:
    quiet = OperationsPolicy.from_toml('[alerts.auto_incidents]\npublish_error_rate = "none"\n')
    with Operations.open(store_url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        _burst(ops, T0, "before")
        ops.advance(T0 + timedelta(hours=1))
        ops.adopt_policy(quiet, by="sre lead", reason="error-rate noise: alerts only",
                         effective_at=T0 + timedelta(hours=2),
                         at=T0 + timedelta(hours=2))
        _burst(ops, T0 + timedelta(hours=3), "after")
        ops.advance(T0 + timedelta(hours=5))
        alerts = ops.alerts(tenant_id="acme", rule="publish_error_rate")
        incidents = ops.incidents(tenant_id="acme")
    assert len(alerts) == 2
    assert [(i.severity, i.opened_at) for i in incidents] == [("SEV2", alerts[0].triggered_at)]


def test_auto_incidents_name_known_rules_and_severities() -> None:
    with pytest.raises(InvalidPolicy, match="unknown rule 'publish_errors'"):
        OperationsPolicy.from_toml('[alerts.auto_incidents]\npublish_errors = "none"\n')
    with pytest.raises(InvalidPolicy, match="SEV4"):
        OperationsPolicy.from_toml('[alerts.auto_incidents]\npublish_error_rate = "SEV4"\n')
    tuned = OperationsPolicy.from_toml('[alerts.auto_incidents]\npublish_latency_p95 = "SEV3"\n')
    assert tuned.alerts.auto_incident("publish_latency_p95") == "SEV3"
    assert tuned.alerts.auto_incident("no_successful_ingestion") == "SEV1"
    assert OperationsPolicy.from_toml(tuned.to_toml()) == tuned
