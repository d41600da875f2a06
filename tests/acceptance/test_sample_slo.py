"""The bundled Pumuki sample through the CLI: opsledger's SLOs equal Pumuki's own metrics,
whatever the import order; freshness finds exactly the late snapshots."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsledger import Operations, import_pumuki_audit, import_snapshots


def cli(*args: str) -> Any:
    result = subprocess.run([sys.executable, "-m", "opsledger.cli", *args], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.policy("2.availability")
@pytest.mark.policy("2.latency")
def test_slo_for_the_sample_day_equals_pumukis_metrics(tmp_path: Path, sample_dir: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sample.db'}"
    cli("import", "pumuki-audit", str(sample_dir / "saas-ingestion-audit.ndjson"),
        "--register-unknown", "--db", db)
    rows = cli("slo", "--tenant", "tenant-solo", "--day", "2026-11-03", "--json", "--db", db)
    pumuki = json.loads((sample_dir / "pumuki-metrics-by-tenant.json").read_text())
    expected = pumuki["tenants"]["tenant-solo"]["by_utc_day"]["2026-11-03"]
    total = rows[0]
    assert total["repository"] is None
    assert total["operations"] == expected["totals"]["events"]
    assert total["successful"] == expected["totals"]["success"]
    assert total["errors"] == expected["totals"]["error"]
    assert abs(total["availability"] - expected["totals"]["success_rate"]) <= 1e-6
    assert total["latency_p95_ms"] == expected["latency_ms"]["p95"]
    assert {k: v for k, v in total["errors_by_code"].items() if v} == expected["errors_by_code"]
    required = {"tenant", "repository", "period_start", "period_end", "operations",
                "successful", "availability", "availability_target", "availability_met",
                "latency_p95_ms", "latency_p95_target_ms", "latency_met", "accepted", "fresh",
                "freshness", "freshness_met", "unresolved_critical_isolation_incidents",
                "integrity_met", "error_budget_remaining"}
    assert required <= set(total)


@pytest.mark.policy("2.freshness")
def test_stale_publishes_are_exactly_the_late_or_missing_snapshots(sample_dir: Path) -> None:
    audit = [json.loads(x) for x in (sample_dir / "saas-ingestion-audit.ndjson").open()]
    snapshot_lines = (sample_dir / "downstream-snapshots.ndjson").read_bytes().splitlines()
    dropped = snapshot_lines[::97]  # some payloads never become visible
    kept = [x for x in snapshot_lines if x not in dropped]
    accepted: dict[tuple[str, str, str], datetime] = {}
    for d in audit:
        if d["outcome"] == "success":
            key = (d["repository_id"], d["idempotency_key"], d["payload_hash"])
            accepted[key] = min(accepted.get(key, _t(d["event_at"])), _t(d["event_at"]))
    visible = {(s["repository_id"], s["idempotency_key"], s["payload_hash"]): _t(s["visible_at"])
               for s in map(json.loads, kept)}
    expected_stale = {k for k, at in accepted.items()
                      if k not in visible or visible[k] - at > timedelta(minutes=15)}
    assert 16 < len(expected_stale) < len(accepted)
    with Operations.open("memory://") as ops:
        import_pumuki_audit(ops, [(sample_dir / "saas-ingestion-audit.ndjson").open("rb")],
                            register_unknown=True)
        import_snapshots(ops, [kept])
        ops.advance(datetime.fromisoformat("2026-11-04T00:00:00+00:00"))
        with ops.sql.transaction(commit=False) as cursor:
            ops.sql.execute(cursor, "SELECT repository_id, idempotency_key, payload_hash FROM "
                                    "slo_freshness WHERE missed_at IS NOT NULL")
            stale = {(r[0], r[1], r[2]) for r in cursor.fetchall()}
    assert stale == expected_stale


@pytest.mark.policy("2.availability")
@pytest.mark.policy("2.freshness")
def test_the_views_do_not_depend_on_arrival_order(sample_dir: Path, snapshot: Any) -> None:
    audit = (sample_dir / "saas-ingestion-audit.ndjson").read_bytes().splitlines(keepends=True)
    snaps = (sample_dir / "downstream-snapshots.ndjson").read_bytes().splitlines(keepends=True)
    by_time = sorted(audit, key=lambda x: json.loads(x)["event_at"])
    shuffled = audit[:]
    random.Random(3).shuffle(shuffled)
    results = []
    for lines, snapshots_first in ((audit, False), (by_time, False), (shuffled, True)):
        with Operations.open("memory://") as ops:
            if snapshots_first:
                import_pumuki_audit(ops, [lines[:1]], register_unknown=True)
                ops.add_repository("tenant-solo", "repo-solo-web", by="test")
                import_snapshots(ops, [snaps])
            import_pumuki_audit(ops, [lines], register_unknown=True)
            if not snapshots_first:
                import_snapshots(ops, [snaps])
            ops.advance_by_event_time()
            ops.advance(datetime.fromisoformat("2026-11-04T00:00:00+00:00"))
            view = snapshot(ops)["views"]
            results.append({k: v for k, v in view.items() if k.startswith("slo_")})
    assert results[0] == results[1] == results[2]
