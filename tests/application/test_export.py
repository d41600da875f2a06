"""Compliance export: a tenant's scope only, privacy switches honoured field by field."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Governance, Operations, PrivacySettings
from opsledger.reports.export import export_rows, render

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
TENANTS = ("acme", "globex")


def _publish(ops: Operations, tenant: str, n: int, ok: bool = True) -> None:
    ops.record_publish(tenant_id=tenant, repository_id=f"{tenant}-web",
                       idempotency_key=f"{tenant}-{n}", payload_hash=f"{n:064x}",
                       outcome="success" if ok else "error",
                       error_code=None if ok else "HTTP_STATUS", attempts=1, latency_ms=10,
                       occurred_at=T0 + timedelta(seconds=30 * n))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.tuples(st.sampled_from(TENANTS), st.booleans()), min_size=1,
                     max_size=20))
@pytest.mark.policy("5.audit_trail")
def test_an_export_in_one_tenants_scope_holds_no_row_of_another(
    plan: list[tuple[str, bool]],
) -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        for tenant in TENANTS:
            saas_tenant(ops, tenant, [f"{tenant}-web"], at=T0 - timedelta(days=1))
        for n, (tenant, ok) in enumerate(plan):
            _publish(ops, tenant, n, ok)
        ops.advance(T0 + timedelta(hours=2))
        for tenant in TENANTS:
            other = next(t for t in TENANTS if t != tenant)
            rows = export_rows(ops, tenant, None, None)
            assert sum(r["kind"] == "publish" for r in rows) == sum(
                1 for t, _ in plan if t == tenant)
            assert other not in json.dumps(rows)


@pytest.mark.policy("5.retention_privacy")
def test_privacy_switches_are_honoured_field_by_field() -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        saas_tenant(ops, "acme", ["acme-web"], at=T0 - timedelta(days=1))
        private = Governance(privacy=PrivacySettings(
            redact_tenant_id=True, redact_repository_id=True, hash_payload_hashes=True))
        ops.set_governance("acme", private, by="dpo", at=T0 - timedelta(hours=1))
        for n in range(8):
            _publish(ops, "acme", n, ok=n > 3)
        ops.advance(T0 + timedelta(hours=2))
        rows = export_rows(ops, "acme", None, None)
        text = render(rows, "ndjson").decode()
        assert "acme" not in text  # tenant and repository ids, titles, details: all redacted
        publish = [r for r in rows if r["kind"] == "publish"]
        assert {r["tenant"] for r in publish} == {"[redacted]"}
        assert {r["repository"] for r in publish} == {"[redacted]"}
        assert all(r["details"]["payload_hash"].startswith("sha256:") for r in publish)
        assert f"{5:064x}" not in text
        assert {r["kind"] for r in rows} >= {"publish", "alert_triggered", "Incident.Opened"}


def test_the_cli_writes_csv_and_prints_the_row_count(tmp_path: Any, sample_audit: Any) -> None:
    import subprocess
    import sys

    db, out = f"sqlite:///{tmp_path / 'e.db'}", tmp_path / "export.csv"
    run = [sys.executable, "-m", "opsledger.cli"]
    subprocess.run([*run, "import", "pumuki-audit", str(sample_audit), "--register-unknown",
                    "--db", db], check=True, capture_output=True)
    printed = subprocess.run([*run, "audit", "export", "--tenant", "tenant-solo", "--from",
                              "2026-11-03T00:00:00Z", "--to", "2026-11-04T00:00:00Z",
                              "--format", "csv", "--out", str(out), "--db", db],
                             check=True, capture_output=True, text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert f"{len(rows)} rows written" in printed
    assert sum(r["kind"] == "publish" for r in rows) == 571
