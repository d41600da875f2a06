"""Importing Pumuki's audit log as it is: idempotent, never silent about bad lines."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from opsledger import AuditQuery, ImportRefused, Operations, import_pumuki_audit


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_importing_the_sample_twice_imports_nothing_the_second_time(
    store_url: str, sample_audit: Path, snapshot: Any
) -> None:
    with Operations.open(store_url) as ops:
        first = import_pumuki_audit(ops, [lines_of(sample_audit)], register_unknown=True)
        assert (first.lines, first.imported, first.duplicates) == (571, 571, 0)
        assert (first.retries, first.collisions, first.rejected) == (28, 2, [])
        before = snapshot(ops)
        second = import_pumuki_audit(ops, [lines_of(sample_audit)], register_unknown=True)
        assert (second.imported, second.duplicates, second.rejected) == (0, 571, [])
        assert snapshot(ops) == before


@pytest.mark.policy("5.audit_trail")
def test_audit_counts_per_outcome_and_error_code_equal_the_file(
    sqlite_url: str, sample_audit: Path
) -> None:
    expected = Counter(
        (d["outcome"], d.get("error_code"))
        for d in (json.loads(line) for line in lines_of(sample_audit))
    )
    with Operations.open(sqlite_url) as ops:
        import_pumuki_audit(ops, [lines_of(sample_audit)], register_unknown=True)
        rows = ops.audit_summary(AuditQuery(tenant_id="tenant-solo"))
        assert {(r["outcome"], r["error_code"]): r["operations"] for r in rows} == expected
        audited = ops.audit(AuditQuery(tenant_id="tenant-solo"))
    file_ids = {json.loads(line)["event_id"] for line in lines_of(sample_audit)}
    assert {r["operation_id"] for r in audited} == file_ids


@pytest.mark.policy("4.high.idempotency_collision_rate")
def test_collisions_are_the_same_whatever_the_file_order(sample_audit: Path) -> None:
    lines = lines_of(sample_audit)
    by_time = sorted(lines, key=lambda raw: json.loads(raw)["event_at"])
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    results = []
    for order in (lines, by_time, shuffled):
        with Operations.open("memory://") as ops:
            import_pumuki_audit(ops, [order], register_unknown=True)
            rows = ops.audit(AuditQuery(tenant_id="tenant-solo"))
            results.append(sorted(r["operation_id"] for r in rows if r["collision"]))
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 2


def test_malformed_lines_are_reported_by_number_and_the_rest_imported(
    sample_audit: Path,
) -> None:
    lines = lines_of(sample_audit)[:10]
    broken = json.loads(lines[4])
    del broken["tenant_id"]
    naive = json.loads(lines[6])
    naive["event_at"] = "2026-11-03T07:40:00"
    lines[2] = b"{not json\n"
    lines[4] = json.dumps(broken).encode() + b"\n"
    lines[6] = json.dumps(naive).encode() + b"\n"
    lines.insert(8, b"[1, 2]\n")
    with Operations.open("memory://") as ops:
        summary = import_pumuki_audit(ops, [lines], register_unknown=True)
    assert summary.lines == 11 and summary.imported == 7
    assert [r["line"] for r in summary.rejected] == [3, 5, 7, 9]
    errors = [r["error"] for r in summary.rejected]
    assert errors[0].startswith("invalid_input: not valid JSON")
    assert "tenant_id" in errors[1]
    assert errors[2].startswith("naive_datetime")
    assert "not a JSON object" in errors[3]


def test_strict_refuses_the_whole_file_on_the_first_bad_line_and_writes_nothing(
    sample_audit: Path, snapshot: Any
) -> None:
    lines = lines_of(sample_audit)
    lines[300] = b'{"event_id": "x"}\n'
    with Operations.open("memory://") as ops:
        before = snapshot(ops)
        with pytest.raises(ImportRefused, match="line 301"):
            import_pumuki_audit(ops, [lines], strict=True, register_unknown=True)
        assert snapshot(ops) == before


@pytest.mark.policy("5.scoping")
def test_without_register_unknown_unseen_tenants_are_refused_and_audited(
    sample_audit: Path,
) -> None:
    lines = lines_of(sample_audit)[:5]
    with Operations.open("memory://") as ops:
        summary = import_pumuki_audit(ops, [lines])
        assert summary.imported == 0
        assert {r["error"].split(":")[0] for r in summary.rejected} == {"unknown_tenant"}
        refusals = ops.audit_refusals(AuditQuery(all_tenants=True))
        assert len(refusals) == 5
        # Re-importing refuses again but records no second refusal.
        import_pumuki_audit(ops, [lines])
        assert len(ops.audit_refusals(AuditQuery(all_tenants=True))) == 5


def test_register_unknown_marks_tenants_as_observed_in_imported_history(
    sample_audit: Path,
) -> None:
    with Operations.open("memory://") as ops:
        import_pumuki_audit(ops, [lines_of(sample_audit)], register_unknown=True, by="ops-team")
        state = ops.tenant("tenant-solo")
        assert state.mode == "saas" and state.observed_in_import
        assert state.repositories == ("repo-solo-api", "repo-solo-web")
        assert state.governance is not None and state.governance.retention.audit_days == 90
        actions = ops.audit_actions(AuditQuery(tenant_id="tenant-solo"))
        assert actions[0]["action"] == "Tenant.Registered"
        assert actions[0]["actor"] == "ops-team"
        assert actions[0]["details"]["observed_in_import"] is True


def test_several_files_import_as_one_history(sample_audit: Path) -> None:
    lines = lines_of(sample_audit)
    with Operations.open("memory://") as ops:
        summary = import_pumuki_audit(ops, [lines[:200], lines[200:]], register_unknown=True)
        assert (summary.lines, summary.imported) == (571, 571)
