"""Detection quality per rule and tenant through the CLI (issue 17 point 2): precision from
operators' judgements (an auto-incident's alert reads actionable), a hand-opened incident
no alert saw counted as a missed detection of the rule its cause points to, and the time
to detect of the actionable alerts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Operations

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _publish(ops: Operations, key: str, at: datetime, error: str | None = None) -> None:
    ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key=key,
                       payload_hash=key.encode().hex().ljust(64, "0")[:64],
                       outcome="error" if error else "success", error_code=error,
                       attempts=1, latency_ms=50, occurred_at=at)


@pytest.mark.policy("7.monthly_review")
@pytest.mark.policy("4.high.publish_error_rate")
def test_precision_misses_and_time_to_detect_per_rule(sqlite_url: str) -> None:
    clock = FrozenClock(T0 + timedelta(days=1))
    with Operations.open(sqlite_url, clock=clock) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        for i in range(10):  # an error burst: 3 of 10 failed, the first at 09:00:30
            _publish(ops, f"burst-{i}", T0 + timedelta(seconds=10 * i),
                     "HTTP_STATUS" if i in (3, 4, 5) else None)
        for i in range(8):  # auth failures at 10:00 (6 > 5 in 10 minutes), then a success
            _publish(ops, f"auth-{i}", T0 + timedelta(hours=1, seconds=10 * i),
                     "AUTH_POLICY_VIOLATION" if i < 6 else None)
        ops.advance(T0 + timedelta(hours=3))
        auth = ops.alerts(tenant_id="acme", rule="auth_scope_failures")[0]
        ops.judge_alert(auth.alert_id, "noise", reason="a test client's stale token",
                        by="sre", at=T0 + timedelta(hours=3))
        ops.open_incident(severity="SEV3", title="slow publishes reported by a customer",
                          cause="latency", by="support", tenant_id="acme",
                          at=T0 + timedelta(hours=4))
    out = subprocess.run([sys.executable, "-m", "opsledger.cli", "alerts", "quality",
                          "--month", "2026-11", "--tenant", "acme", "--json",
                          "--db", sqlite_url], check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    rules = {r["rule"]: r for r in report["rules"]}
    errors, scope = rules["publish_error_rate"], rules["auth_scope_failures"]
    # the burst, and the auth failures' own error rate: both opened SEV2 incidents
    assert (errors["alerts"], errors["actionable"], errors["precision"]) == (2, 2, 1.0)
    assert errors["time_to_detect_median_s"] == 300  # the 5-minute window's start to trigger
    assert (scope["alerts"], scope["noise"], scope["precision"]) == (1, 1, 0.0)
    by_hand = [m for m in report["missed"] if m["kind"] == "incident opened by hand"]
    assert [(m["rule"], m["cause"]) for m in by_hand] == [("publish_latency_p95", "latency")]
    assert rules["publish_latency_p95"]["missed"] == 1
    assert rules["publish_latency_p95"]["alerts"] == 0
