"""Alerts through the public API and CLI, on every store: history, hooks, scope, races."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger_test_support import saas_tenant

from opsledger import Governance, Mode, NotFound, Operations

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def setup(ops: Operations, mode: Mode = Mode.SAAS) -> None:
    for tenant in ("acme", "globex"):
        if mode is Mode.SAAS:
            saas_tenant(ops, tenant, ["web"], at=T0 - timedelta(days=1))
        else:
            ops.register_tenant(tenant, repositories=["web"], governance=Governance(), by="t",
                                at=T0 - timedelta(days=1))


def burst(ops: Operations, tenant: str = "acme", errors: int = 3, start: int = 0) -> None:
    for i in range(10):
        ops.record_publish(
            tenant_id=tenant, repository_id="web", idempotency_key=f"{tenant}-{start + i}",
            payload_hash=f"{start + i:064x}", outcome="error" if i < errors else "success",
            error_code="HTTP_STATUS" if i < errors else None, attempts=1, latency_ms=50,
            occurred_at=T0 + timedelta(seconds=20 * (start + i)))


@pytest.mark.policy("4.high.publish_error_rate")
def test_alert_history_is_scoped_and_has_the_contract_fields(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        setup(ops)
        burst(ops, "acme")
        ops.advance(T0 + timedelta(hours=1))
        (alert,) = ops.alerts(tenant_id="acme")
        assert {"id", "tenant", "rule", "level", "triggered_at", "resolved_at", "observed",
                "threshold", "window_start", "window_end"} <= set(alert.to_dict())
        assert (alert["rule"], alert["level"], alert["threshold"]) == (
            "publish_error_rate", "high", 0.02)
        assert alert["triggered_at"] == T0
        assert alert["window_start"] == datetime(2026, 11, 3, 8, 55, tzinfo=UTC)
        assert alert["resolved_at"] is not None
        assert ops.alerts(tenant_id="globex") == []
        assert len(ops.alerts(all_tenants=True)) == 1
        assert ops.alerts(tenant_id="acme", open_only=True) == []
        with pytest.raises(NotFound):
            ops.alerts()


def test_evaluating_twice_records_nothing_new(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        setup(ops)
        burst(ops)
        first = ops.advance(T0 + timedelta(hours=1))["alert_changes"]
        assert first == 2  # triggered, then resolved
        assert ops.advance(T0 + timedelta(hours=1))["alert_changes"] == 0
        assert ops.evaluate_alerts() == 0


@pytest.mark.policy("1.saas_only")
def test_local_only_records_raise_no_alerts() -> None:
    with Operations.open("memory://") as ops:
        setup(ops, mode=Mode.LOCAL_ONLY)
        burst(ops, errors=10)
        ops.advance(T0 + timedelta(hours=2))
        assert ops.alerts(all_tenants=True) == []


@pytest.mark.policy("4.critical.tenant_boundary_violation")
def test_a_confirmed_boundary_violation_raises_a_critical_alert() -> None:
    with Operations.open("memory://") as ops:
        setup(ops)
        ops.confirm_boundary_violation("acme", evidence="rows of globex in acme's snapshot",
                                       by="sec", repository_id="web", at=T0)
        ops.advance(T0 + timedelta(minutes=10))
        (alert,) = ops.alerts(tenant_id="acme")
        assert (alert["rule"], alert["level"], alert["repository"]) == (
            "tenant_boundary_violation", "critical", "web")
        assert alert["triggered_at"] == T0
        assert alert["resolved_at"] is None  # resolved by its incident, not by time


def test_subscribers_hear_each_alert_event_after_it_is_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[dict[str, Any]] = []
    calls = {"n": 0}

    def flaky(event: dict[str, Any]) -> None:
        calls["n"] += 1
        raise RuntimeError("pager down")

    with Operations.open("memory://") as ops:
        setup(ops)
        ops.subscribe(heard.append)
        ops.subscribe(flaky, kinds=("Alert.Triggered",))
        burst(ops)
        with caplog.at_level(logging.ERROR, logger="opsledger.alerts"):
            ops.advance(T0 + timedelta(hours=1))
        assert [e["kind"] for e in heard] == ["Alert.Triggered", "Alert.Resolved"]
        assert heard[0]["rule"] == "publish_error_rate"
        assert calls["n"] == 3  # retried, then logged
        assert "pager down" in caplog.text
        assert len(ops.alerts(tenant_id="acme")) == 1  # the failure lost nothing


@pytest.mark.policy("4.critical.no_successful_ingestion")
def test_a_fact_beyond_the_allowed_lateness_is_counted_and_evaluated_after_all() -> None:
    # Before per-tenant event time a fact behind the watermark was skipped (only listed
    # in alert_late_facts); now it is counted as late and its tenant evaluated again.
    with Operations.open("memory://") as ops:
        setup(ops)
        burst(ops, errors=0)
        ops.evaluate_alerts()  # watermark: last fact (09:03) minus 5 min
        for n in range(3):
            ops.record_publish(tenant_id="acme", repository_id="web",
                               idempotency_key=f"late{n}", payload_hash=f"{n:064x}",
                               outcome="error", error_code="NETWORK", attempts=1,
                               latency_ms=5, occurred_at=T0 - timedelta(minutes=45 - n))
        ops.evaluate_alerts()
        assert ops.late_alert_facts().to_dict() == {"acme": {"late": 3, "pending": 0}}
        found = {a["rule"]: a for a in ops.alerts(tenant_id="acme")}
        rate = found["publish_error_rate"]
        assert rate["triggered_at"] == datetime(2026, 11, 3, 8, 15, tzinfo=UTC)
        assert rate["backfilled"] is True
        # acme's own event time
        assert rate["found_at"] == datetime(2026, 11, 3, 8, 58, tzinfo=UTC)
        assert ops.alerts(tenant_id="globex") == []


def test_two_processes_evaluating_one_postgresql_store_record_each_alert_once(
    pg_url: str,
) -> None:
    with Operations.open(pg_url) as ops:
        setup(ops)
        for n in range(20):
            burst(ops, "acme" if n % 2 else "globex", errors=3, start=n * 10)
    script = ("import sys; from datetime import datetime, UTC; from opsledger import Operations;"
              "ops = Operations.open(sys.argv[1]); "
              "print(ops.advance(datetime(2026, 11, 4, tzinfo=UTC))['alert_changes'])")
    runners = [subprocess.Popen([sys.executable, "-c", script, pg_url], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [r.communicate(timeout=120) for r in runners]
    assert all(r.returncode == 0 for r in runners), results
    with Operations.open(pg_url) as ops:
        alerts = ops.alerts(all_tenants=True)
    recorded = sum(1 + (a["resolved_at"] is not None) for a in alerts)  # trigger (+ resolve)
    assert sum(int(out) for out, _ in results) == recorded
    assert len({a["id"] for a in alerts}) == len(alerts) > 0


def test_alerts_cli_lists_as_json(tmp_path: Path, sample_audit: Path) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    run = [sys.executable, "-m", "opsledger.cli"]
    subprocess.run([*run, "import", "pumuki-audit", str(sample_audit), "--register-unknown",
                    "--db", db], check=True, capture_output=True)
    out = subprocess.run([*run, "alerts", "--tenant", "tenant-solo", "--rule",
                          "auth_scope_failures", "--json", "--db", db], check=True,
                         capture_output=True, text=True).stdout
    (alert,) = json.loads(out)
    assert (alert["triggered_at"], alert["observed"]) == ("2026-11-03T11:06:20.000Z", 6.0)
    unscoped = subprocess.run([*run, "alerts", "--db", db], capture_output=True, text=True)
    assert unscoped.returncode != 0 and "--all-tenants" in unscoped.stderr


@pytest.mark.policy("5.retention_privacy")
def test_forgetting_a_tenant_purges_its_fact_log_index_and_checkpoints(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        setup(ops)
        burst(ops, "acme")
        burst(ops, "globex")
        ops.advance(T0 + timedelta(hours=2))
        tables = ("alert_facts", "alert_process_alerts", "alert_checkpoints")

        def rows(tenant: str) -> list[int]:
            with ops.sql.transaction(commit=False) as cursor:
                counts = []
                for table in tables:
                    ops.sql.execute(cursor, f"SELECT COUNT(*) AS n FROM "
                                            f"{ops.sql.table(table)} WHERE tenant_id = ?",
                                    (tenant,))
                    counts.append(int(cursor.fetchone()["n"]))
                return counts

        assert all(rows("acme")) and all(rows("globex"))
        ops.forget_tenant("acme", by="dpo", reason="contract ended")
        assert rows("acme") == [0, 0, 0]
        assert all(rows("globex"))
        assert len(ops.alerts(tenant_id="globex")) == 1
