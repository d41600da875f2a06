"""Crypto-shredding (policy §5 privacy): ``tenant forget`` deletes the tenant's key, so a
canary planted in its fields is found nowhere on disk afterwards — not in the database
file, its WAL, the key file, the views or an export — while its events read back as a
typed "forgotten" payload, the hash chain still verifies, and every other tenant replays
exactly as before."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.domain.errors import TenantForgotten
from opsledger.domain.tenant import tenant_uuid
from opsledger.projections import AuditQuery
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Operations
from opsledger.reports.export import export_rows, render
from opsledger.reports.verify import verify_views
from opsledger.services.slo import Period
from opsledger.store.cipher import Forgotten
from opsledger.store.keys import KeyStoreMissing

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
CANARY = "zqcanary7f3a"


def _publish(ops: Operations, tenant: str, repo: str, n: int, *, tag: str = "") -> None:
    ops.record_publish(tenant_id=tenant, repository_id=repo, idempotency_key=f"{tag}key-{n}",
                       payload_hash=f"{n:064x}", outcome="success" if n % 5 else "error",
                       error_code=None if n % 5 else "HTTP_STATUS", attempts=1,
                       latency_ms=100 + n, request_id=f"{tag}req-{n}",
                       endpoint=f"https://{tag}ingest.example/v1",
                       occurred_at=T0 + timedelta(minutes=n))


def _populate(ops: Operations) -> None:
    """acme carries the canary in its repository id, request ids, endpoints, idempotency
    keys, free text (incident, violation, refusal); globex is an ordinary tenant."""
    repo = f"{CANARY}-repo"
    saas_tenant(ops, "acme", [repo], at=T0 - timedelta(days=1))
    saas_tenant(ops, "globex", ["globex-web"], at=T0 - timedelta(days=1))
    for n in range(1, 40):
        _publish(ops, "acme", repo, n, tag=CANARY)
        _publish(ops, "globex", "globex-web", n)
        ops.record_visibility(tenant_id="acme", repository_id=repo,
                              idempotency_key=f"{CANARY}key-{n}", payload_hash=f"{n:064x}",
                              visible_at=T0 + timedelta(minutes=n + 3))
    with pytest.raises(Exception, match="scope"):
        _publish(ops, "acme", f"{CANARY}-other", 99, tag=CANARY)  # refused, audited
    incident = ops.open_incident(severity="SEV2", title=f"{CANARY} outage",
                                 cause="ingestion_outage", by="oncall", tenant_id="acme",
                                 at=T0 + timedelta(minutes=50))
    ops.post_status_update(incident["id"], message=f"{CANARY} still down", by="oncall",
                           at=T0 + timedelta(minutes=55))
    ops.confirm_boundary_violation("acme", evidence=f"{CANARY} leaked", by="sec",
                                   at=T0 + timedelta(minutes=56))
    ops.advance(T0 + timedelta(hours=3))


def _globex_views(ops: Operations) -> dict[str, Any]:
    day = Period.day("2026-11-03")
    query = AuditQuery(tenant_id="globex")
    return {"slo": ops.slo(day, tenant_id="globex", now=T0 + timedelta(days=2)),
            "audit": ops.audit(query), "actions": ops.audit_actions(query),
            "alerts": ops.alerts(tenant_id="globex"),
            "export": export_rows(ops, "globex", None, None)}


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.parent.iterdir()
            if p.name.startswith(path.name)}


@pytest.mark.policy("5.retention_privacy")
def test_after_forget_the_canary_is_nowhere_on_disk_and_other_tenants_are_untouched(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    with Operations.open(f"sqlite:///{db}", clock=FrozenClock(T0 + timedelta(days=2))) as ops:
        _populate(ops)
        before = _globex_views(ops)
        ops.catch_up()
        on_disk = _files(db)
        assert any(CANARY.encode() in data for data in on_disk.values())  # views hold it
        assert set(on_disk) >= {"store.db", "store.db-wal", "store.db.keys"}

        report = ops.forget_tenant("acme", by="dpo", reason="contract ended")

        assert report.key_deleted and report.purged["audit_publish"] == 39
        leaks = {name for name, data in _files(db).items() if CANARY.encode() in data}
        assert leaks == set()
        with pytest.raises(TenantForgotten):
            ops.tenant("acme")
        with pytest.raises(TenantForgotten):
            export_rows(ops, "acme", None, None)
        with pytest.raises(TenantForgotten):
            _publish(ops, "acme", f"{CANARY}-repo", 500, tag=CANARY)
        batch = ops.app.repository.event_store.get(tenant_uuid("acme"))
        assert all(isinstance(e, Forgotten) for e in batch)
        assert ops.verify_chain().ok
        assert _globex_views(ops) == before
        ops.rebuild_views()
        assert _globex_views(ops) == before
        assert verify_views(ops).ok
        operator = ops.audit_actions(AuditQuery(all_tenants=True))
        assert [a["action"] for a in operator if a["tenant_id"] == "acme"] == [
            "Erasure.TenantForgotten"]
        exported = render(export_rows(ops, "globex", None, None), "ndjson")
        assert CANARY.encode() not in exported
        assert ops.forget_tenant("acme", by="dpo", reason="again").key_deleted is False


@pytest.mark.policy("5.retention_privacy")
def test_forgetting_works_on_every_store(store_url: str) -> None:
    with Operations.open(store_url, clock=FrozenClock(T0 + timedelta(days=2))) as ops:
        _populate(ops)
        before = _globex_views(ops)
        ops.forget_tenant("acme", by="dpo", reason="erasure request")
        assert _globex_views(ops) == before
        assert ops.verify_chain().ok
        assert [t.tenant_id for t in ops.tenants()] == ["globex"]
        for table in ("audit_publish", "slo_minute", "slo_freshness", "incidents", "alerts"):
            column = "tenant" if table in ("incidents", "alerts") else "tenant_id"
            assert ops.sql.fetch(f"SELECT * FROM {ops.sql.table(table)} WHERE {column} = ?",
                                 ["acme"]) == []
        with pytest.raises(TenantForgotten):
            ops.register_tenant("acme", repositories=["x"], governance=None, by="t")


@pytest.mark.policy("5.retention_privacy")
def test_forgetting_an_unknown_tenant_is_refused_and_changes_nothing() -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        saas_tenant(ops, "globex", ["globex-web"], at=T0 - timedelta(days=1))
        head = ops.views.head()
        with pytest.raises(Exception, match="unknown tenant"):
            ops.forget_tenant("nobody", by="dpo", reason="typo")
        assert ops.views.head() == head


def test_the_cli_needs_yes_and_reports_as_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Operations.open(url, clock=FrozenClock(T0 + timedelta(days=2))) as ops:
        _populate(ops)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "opsledger.cli", "tenant", "forget",
                               "acme", "--db", url, "--by", "dpo", *args],
                              capture_output=True, text=True)

    refused = run("--json")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = run("--yes", "--json", "--reason", "erasure request")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tenant"] == "acme" and report["key_deleted"] is True
    assert report["purged"]["audit_publish"] == 39


def test_a_missing_key_file_is_a_loud_typed_error_not_a_silently_empty_history(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    with Operations.open(f"sqlite:///{db}", clock=FrozenClock(T0)) as ops:
        saas_tenant(ops, "globex", ["globex-web"], at=T0 - timedelta(days=1))
        _publish(ops, "globex", "globex-web", 1)
    Path(f"{db}.keys").rename(tmp_path / "elsewhere.keys")
    with Operations.open(f"sqlite:///{db}", clock=FrozenClock(T0)) as ops:
        with pytest.raises(KeyStoreMissing):
            ops.rebuild_views()
        with pytest.raises(KeyStoreMissing):
            _publish(ops, "globex", "globex-web", 2)
