"""``opsledger alerts ack|judge|link`` (issue 17 point 1) through the CLI on a real store:
the judgement is shown by ``alerts --json`` and the alert table's verdict column."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from opsledger_test_support import saas_tenant

from opsledger import Operations

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _cli(db: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "opsledger.cli", *args, "--db", db],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "250"})
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


def _alert(db: str) -> str:
    """acme's burst of failed publishes fires publish_error_rate (and opens a SEV2)."""
    with Operations.open(db) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        for i in range(10):
            ops.record_publish(
                tenant_id="acme", repository_id="web", idempotency_key=f"acme-{i}",
                payload_hash=f"{i:064x}", outcome="error" if i < 3 else "success",
                error_code="HTTP_STATUS" if i < 3 else None, attempts=1, latency_ms=50,
                occurred_at=T0 + timedelta(seconds=20 * i))
        ops.advance(T0 + timedelta(hours=1))
        (alert,) = ops.alerts(tenant_id="acme")
        return alert.alert_id


@pytest.mark.policy("7.monthly_review")
def test_an_operator_judges_an_alert_through_the_cli(db: str) -> None:
    alert_id = _alert(db)
    acked = json.loads(_cli(db, "alerts", "ack", alert_id, "--by", "ann",
                            "--at", "2026-11-03T09:04:00Z", "--json").stdout)
    assert (acked["acknowledged_by"], acked["actionable"]) == ("ann", True)  # its SEV2
    refused = _cli(db, "alerts", "judge", alert_id, "--noise", "--by", "bob",
                   "--at", "2026-11-03T09:05:00Z", check=False)
    assert refused.returncode != 0 and "reason" in refused.stderr
    judged = json.loads(_cli(db, "alerts", "judge", alert_id, "--noise", "--reason",
                             "one failure in four", "--by", "bob",
                             "--at", "2026-11-03T09:05:00Z", "--json").stdout)
    assert (judged["verdict"], judged["verdict_reason"], judged["judged_by"],
            judged["actionable"]) == ("noise", "one failure in four", "bob", False)
    (listed,) = json.loads(_cli(db, "alerts", "--tenant", "acme", "--json").stdout)
    assert listed == judged
    table = _cli(db, "alerts", "--tenant", "acme").stdout
    assert "verdict" in table and "noise" in table


def test_an_alert_is_linked_to_an_incident_through_the_cli(db: str) -> None:
    alert_id = _alert(db)
    opened = json.loads(_cli(db, "incident", "open", "--severity", "SEV3", "--title", "web",
                             "--cause", "degraded_ingestion", "--tenant", "acme", "--by", "ann",
                             "--at", "2026-11-03T09:02:00Z", "--json").stdout)
    linked = json.loads(_cli(db, "alerts", "link", alert_id, opened["id"], "--by", "ann",
                             "--at", "2026-11-03T09:03:00Z", "--json").stdout)
    assert (linked["incident_id"], linked["actionable"]) == (opened["id"], True)
    text = _cli(db, "alerts", "link", alert_id, "no-such-incident", "--by", "ann",
                check=False)
    assert text.returncode != 0 and "no incident" in text.stderr
