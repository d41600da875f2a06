"""An operation's identity is (tenant, operation id) — issue 13, finding 1, through the CLI.

The bundled sample imported under its tenant and again with ``tenant_id`` rewritten is two
complete, equal histories; the same lines under the same tenant with other idempotency
keys are refused one by one (``operation_id_reused``), audited, and change nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from opsledger import Operations
from opsledger.cli.main import main

SOLO, TWO = "tenant-solo", "tenant-two"
#: Columns that name the tenant, its streams or log positions: equal modulo tenant means
#: equal in every other column.
_TENANTED = ("tenant_id", "batch_id", "notification_id", "tenant")


# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


def run(db: str, *args: str, code: int = 0) -> str:
    """One ``opsledger`` command on ``db``; its stdout."""
    result = CliRunner().invoke(main, [*args, "--db", db], catch_exceptions=False)
    assert result.exit_code == code, (args, result.output)
    return result.output


def as_json(db: str, *args: str, code: int = 0) -> Any:
    return json.loads(run(db, *args, "--json", code=code))


def rewritten(sample: Path, out: Path, **changes: str) -> Path:
    """The sample with fields changed on every line (``idempotency_key`` is prefixed)."""
    lines = []
    for raw in sample.read_text().splitlines():
        line = json.loads(raw)
        for field, value in changes.items():
            line[field] = value + line[field] if field == "idempotency_key" else value
        lines.append(json.dumps(line))
    out.write_text("\n".join(lines) + "\n")
    return out


def untenanted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in _TENANTED} for row in rows]


def tenant_views(db: str, tenant: str) -> dict[str, Any]:
    """What the audit and SLO commands show of one tenant, without its name."""
    slo = as_json(db, "slo", "--tenant", tenant, "--month", "2026-11")
    return {
        "audit": untenanted(as_json(db, "audit", "list", "--tenant", tenant)),
        "summary": untenanted(as_json(db, "audit", "summary", "--tenant", tenant)),
        "refusals": untenanted(as_json(db, "audit", "refusals", "--tenant", tenant)),
        "slo": json.loads(json.dumps(slo).replace(tenant, "<tenant>")),
    }


def identity_rows(db: str, tenant: str) -> int:
    with Operations.open(db) as ops:
        return len(ops.sql.fetch(f"SELECT * FROM {ops.sql.table('publish_identity')} "
                                 "WHERE tenant_id = ?", (tenant,)))


@pytest.mark.policy("5.scoping")
@pytest.mark.policy("5.audit_trail")
@pytest.mark.parametrize("db", ["sqlite", POSTGRES_SLOW], indirect=True)
def test_the_same_lines_under_two_tenants_are_two_complete_histories(
        db: str, sample_audit: Path, tmp_path: Path) -> None:
    """Finding 1: before, the second import wedged every view of every tenant."""
    second = rewritten(sample_audit, tmp_path / "two.ndjson", tenant_id=TWO)
    for path in (sample_audit, second):
        summary = as_json(db, "import", "pumuki-audit", "--register-unknown", str(path))
        assert (summary["imported"], summary["rejected"]) == (571, []), summary
    solo, two = tenant_views(db, SOLO), tenant_views(db, TWO)
    assert len(solo["audit"]) == 571 and solo["refusals"] == []
    assert sum(r["operations"] for r in solo["summary"]) == 571
    assert two == solo
    assert as_json(db, "projections", "verify")["ok"] is True
    assert as_json(db, "verify")["ok"] is True
    run(db, "projections", "rebuild")
    assert tenant_views(db, SOLO) == solo and tenant_views(db, TWO) == solo

    run(db, "tenant", "forget", TWO, "--yes")
    assert tenant_views(db, SOLO) == solo
    run(db, "audit", "list", "--tenant", TWO, code=1)  # a typed "forgotten": refused
    assert {r["tenant_id"] for r in as_json(db, "audit", "list", "--all-tenants")} == {SOLO}
    assert identity_rows(db, TWO) == 0 and identity_rows(db, SOLO) == 571
    assert as_json(db, "projections", "verify")["ok"] is True
    assert as_json(db, "verify")["ok"] is True
    run(db, "projections", "rebuild")
    assert tenant_views(db, SOLO) == solo


@pytest.mark.policy("5.idempotency_key")
@pytest.mark.policy("5.audit_trail")
@pytest.mark.parametrize("db", ["sqlite", POSTGRES_SLOW], indirect=True)
def test_a_reused_operation_id_under_one_tenant_is_refused_line_by_line_and_audited(
        db: str, sample_audit: Path, tmp_path: Path, snapshot: Any) -> None:
    as_json(db, "import", "pumuki-audit", "--register-unknown", str(sample_audit))
    with Operations.open(db) as ops:
        before = snapshot(ops)
    rekeyed = rewritten(sample_audit, tmp_path / "rekeyed.ndjson", idempotency_key="other-")
    summary = as_json(db, "import", "pumuki-audit", str(rekeyed), code=1)  # all rejected
    assert (summary["imported"], summary["duplicates"]) == (0, 0)
    assert [r["line"] for r in summary["rejected"]] == list(range(1, 572))
    assert all(r["error"].startswith("operation_id_reused: operation id 'saas-ingestion-")
               and "another batch" in r["error"] for r in summary["rejected"])
    refusals = as_json(db, "audit", "refusals", "--tenant", SOLO)
    ids = [json.loads(line)["event_id"] for line in sample_audit.read_text().splitlines()]
    assert sorted(r["subject_id"] for r in refusals) == sorted(ids)
    assert {r["reason"] for r in refusals} == {"operation_id_reused"}
    counts = {(r["outcome"], r["error_code"]): r["operations"]
              for r in as_json(db, "audit", "summary", "--tenant", SOLO)}
    assert counts.pop(("refused", "operation_id_reused")) == 571
    assert sum(counts.values()) == 571
    with Operations.open(db) as ops:
        after = snapshot(ops)
    new_events = [e for e in after["events"] if e not in before["events"]]
    assert len(new_events) == 571 and {e[2] for e in new_events} == {
        "opsledger.RefusedCommand.Refused"}
    assert [e for e in before["events"] if e not in after["events"]] == []
    assert {t: rows for t, rows in after["views"].items() if t != "audit_refusal"} == {
        t: rows for t, rows in before["views"].items() if t != "audit_refusal"}

    for path, code in ((rekeyed, 1), (sample_audit, 0)):  # again: nothing changes
        as_json(db, "import", "pumuki-audit", str(path), code=code)
        with Operations.open(db) as ops:
            assert snapshot(ops) == after
    assert as_json(db, "projections", "verify")["ok"] is True
    run(db, "projections", "rebuild")
    with Operations.open(db) as ops:
        assert snapshot(ops) == after


@pytest.mark.policy("5.idempotency_key")
@pytest.mark.parametrize("db", ["sqlite", POSTGRES_SLOW], indirect=True)
def test_the_same_operation_id_in_its_batch_with_other_facts_is_refused(
        db: str, sample_audit: Path, tmp_path: Path) -> None:
    as_json(db, "import", "pumuki-audit", "--register-unknown", str(sample_audit))
    first = json.loads(sample_audit.read_text().splitlines()[0])
    changed = tmp_path / "changed.ndjson"
    changed.write_text(json.dumps({**first, "latency_ms": first["latency_ms"] + 1}) + "\n"
                       + json.dumps(first) + "\n")
    summary = as_json(db, "import", "pumuki-audit", str(changed))
    assert (summary["imported"], summary["duplicates"]) == (0, 1)
    (rejected,) = summary["rejected"]
    assert rejected["line"] == 1 and "with other facts" in rejected["error"]
    (row,) = [r for r in as_json(db, "audit", "list", "--tenant", SOLO)
              if r["operation_id"] == first["event_id"]]
    assert row["latency_ms"] == first["latency_ms"]
