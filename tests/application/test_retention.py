"""Retention (policy §5): with a frozen clock, rows past a tenant's TTLs leave the views and
exports after one ``apply``; SLO numbers of retained periods do not move; the run is itself
audited; rebuilds and late imports keep the result; a dry run changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.projections import AuditQuery
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Governance, Operations, RetentionPolicy
from opsledger.reports.export import export_rows
from opsledger.reports.verify import verify_views
from opsledger.services.slo import Period

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=45)
SHORT = Governance(retention=RetentionPolicy(audit_days=7, metrics_days=30))


# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


def _publish(ops: Operations, tenant: str, at: datetime, n: int, ok: bool = True) -> None:
    ops.record_publish(tenant_id=tenant, repository_id=f"{tenant}-web",
                       idempotency_key=f"{tenant}-{n}", payload_hash=f"{n:064x}",
                       outcome="success" if ok else "error",
                       error_code=None if ok else "HTTP_STATUS", attempts=1,
                       latency_ms=100 + n % 50, occurred_at=at)


def _store(url: str) -> Operations:
    """Two tenants, 45 days of publishes (2 a day; one becomes visible downstream). All
    succeed: a failing one would raise alerts and, with nobody acknowledging the
    incidents, 45 days of missed status-update deadlines — not what this is about."""
    ops = Operations.open(url, clock=FrozenClock(NOW))
    saas_tenant(ops, "acme", ["acme-web"], at=START - timedelta(days=1), governance=SHORT)
    saas_tenant(ops, "globex", ["globex-web"], at=START - timedelta(days=1))
    n = 0
    for day in range(45):
        for hour in (7, 13):
            at = START + timedelta(days=day, hours=hour)
            for tenant in ("acme", "globex"):
                n += 1
                _publish(ops, tenant, at, n)
                if hour != 7:
                    ops.record_visibility(tenant_id=tenant, repository_id=f"{tenant}-web",
                                          idempotency_key=f"{tenant}-{n}",
                                          payload_hash=f"{n:064x}",
                                          visible_at=at + timedelta(minutes=5))
    ops.advance(NOW)
    return ops


def _slo(ops: Operations, tenant: str, day: datetime) -> dict[str, Any]:
    (total, *_) = ops.slo(Period.day(day.strftime("%Y-%m-%d")), tenant_id=tenant)
    return total


@pytest.mark.policy("5.retention_privacy")
@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_rows_past_the_ttl_are_gone_after_one_apply_and_retained_slos_do_not_move(
    store_url: str,
) -> None:
    with _store(store_url) as ops:
        # Days whose period and 3-day burn window both lie inside the metrics TTL (30 d).
        retained_days = [NOW - timedelta(days=d) for d in (1, 6, 8, 20, 27)]
        before = {(t, d): _slo(ops, t, d) for t in ("acme", "globex") for d in retained_days}
        old_day = NOW - timedelta(days=40)
        assert _slo(ops, "acme", old_day)["operations"] == 2

        (acme, globex) = ops.apply_retention(by="dpo")

        assert acme.tenant_id == "acme" and acme.recorded
        assert acme.removed["audit_publish"] == 2 * 38  # days 0..37 are 8+ days old
        assert acme.removed["slo_minute"] == 2 * 15  # days 0..14 are 31+ days old
        assert globex.removed == dict.fromkeys(globex.removed, 0)
        audit_before = acme.audit_before
        audit = ops.audit(AuditQuery(tenant_id="acme"))
        assert min(r["occurred_at"] for r in audit) >= audit_before
        assert len(ops.audit(AuditQuery(tenant_id="globex"))) == 2 * 45
        assert {(t, d): _slo(ops, t, d) for t, d in before} == before
        assert _slo(ops, "acme", old_day)["operations"] == 0
        assert _slo(ops, "globex", old_day)["operations"] == 2
        exported = export_rows(ops, "acme", None, None)
        assert min(datetime.fromisoformat(r["at"]) for r in exported
                   if r["kind"] == "publish") >= acme.audit_before
        (action,) = [a for a in ops.audit_actions(AuditQuery(tenant_id="acme"))
                     if a["action"] == "Tenant.RetentionApplied"]
        assert action["actor"] == "dpo"
        assert verify_views(ops).ok  # a catch-up from zero gives the same views
        kept = (ops.audit(AuditQuery(tenant_id="acme")), ops.audit_refusals(
            AuditQuery(tenant_id="acme")), [_slo(ops, "acme", d) for d in retained_days])
        ops.views.bulk_from = 1  # a load from zero (staged rows, swept at the head)
        ops.rebuild_views()
        assert (ops.audit(AuditQuery(tenant_id="acme")), ops.audit_refusals(
            AuditQuery(tenant_id="acme")), [_slo(ops, "acme", d) for d in retained_days]) == kept
        assert _slo(ops, "acme", old_day)["operations"] == 0


@pytest.mark.policy("5.retention_privacy")
def test_a_dry_run_reports_the_same_counts_and_changes_nothing() -> None:
    with _store("memory://") as ops:
        head = ops.views.head()
        dry = ops.apply_retention(by="dpo", dry_run=True)
        assert ops.views.head() == head and not any(r.recorded for r in dry)
        real = ops.apply_retention(by="dpo")
        assert [r.removed for r in dry] == [r.removed for r in real]
        again = ops.apply_retention(by="dpo")
        assert not any(r.recorded for r in again)
        assert all(sum(r.removed.values()) == 0 for r in again)


@pytest.mark.policy("5.retention_privacy")
def test_old_lines_imported_after_retention_stay_out_of_the_views() -> None:
    with _store("memory://") as ops:
        ops.apply_retention(by="dpo", tenant_id="acme")
        _publish(ops, "acme", NOW - timedelta(days=20), 10_001)
        _publish(ops, "acme", NOW - timedelta(days=2), 10_002)
        keys = {r["idempotency_key"] for r in ops.audit(AuditQuery(tenant_id="acme"))}
        assert "acme-10001" not in keys and "acme-10002" in keys
        assert _slo(ops, "acme", NOW - timedelta(days=20))["operations"] == 3
        assert verify_views(ops).ok


@pytest.mark.policy("5.retention_privacy")
def test_pending_freshness_deadlines_survive_retention() -> None:
    """An old acceptance whose deadline was never swept keeps its row until decided."""
    with Operations.open("memory://", clock=FrozenClock(NOW)) as ops:
        saas_tenant(ops, "acme", ["acme-web"], at=START, governance=SHORT)
        _publish(ops, "acme", NOW - timedelta(days=40), 1)
        ops.apply_retention(by="dpo")
        pending = ops.slo(Period.day((NOW - timedelta(days=40)).strftime("%Y-%m-%d")),
                          tenant_id="acme")[0]
        assert pending["accepted"] == 1
        swept = ops.advance(NOW)
        assert swept["freshness_missed"] == 1
        ops.apply_retention(by="dpo", at=NOW + timedelta(days=1))
        after = ops.slo(Period.day((NOW - timedelta(days=40)).strftime("%Y-%m-%d")),
                        tenant_id="acme")[0]
        assert after["accepted"] == 0


@pytest.mark.policy("5.retention_privacy")
def test_the_cli_reports_what_it_removed_per_tenant_as_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store(url).close()

    def run(*args: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "opsledger.cli", "retention", "apply", "--db", url,
             "--at", NOW.isoformat(), "--by", "dpo", "--json", *args],
            capture_output=True, text=True, check=True)
        return json.loads(result.stdout)

    dry = run("--dry-run")
    assert dry["dry_run"] and [t["recorded"] for t in dry["tenants"]] == [False, False]
    applied = run()
    assert [t["tenant"] for t in applied["tenants"]] == ["acme", "globex"]
    assert applied["tenants"][0]["removed"] == dry["tenants"][0]["removed"]
    assert applied["tenants"][0]["removed_total"] > 0 and applied["tenants"][0]["recorded"]
    assert run()["tenants"][0]["removed_total"] == 0
