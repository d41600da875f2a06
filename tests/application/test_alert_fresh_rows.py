"""The freshness rule's bookkeeping lives in tables, not in the alert process's JSON state
(issue 13 point 8: the state was parsed and rewritten whole for every batch and held one
entry per accepted publish until the snapshots came). Its alerts are unchanged: the
expected ones below are what the process gave before the move, audit first (as the demo
imports) or snapshots first; a store of the earlier shape moves its state on the next
run; forgetting a tenant deletes its rows."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.services.alert_fresh import TABLES, FreshRows
from opsledger.services.alert_pack import unpack


def _at(text: str) -> datetime:
    """A time written as the alerts printed it before the move (``...Z``), tz-aware."""
    at = datetime.fromisoformat(text)
    assert at.tzinfo is not None
    return at


#: Every alert of the sample, either order, as the process recorded them before the move:
#: (rule, triggered_at, resolved_at, observed, window_start, window_end).
RECORDED = [
    ("publish_error_rate", "2026-11-03T07:30:02.599000Z", "2026-11-03T08:26:10.330000Z",
     0.25, "2026-11-03T07:25:02.599000Z", "2026-11-03T07:30:02.599000Z"),
    ("no_successful_ingestion", "2026-11-03T07:59:52.711000Z",
     "2026-11-03T08:15:06.143000Z", 30.0, "2026-11-03T07:29:52.711000Z",
     "2026-11-03T07:59:52.711000Z"),
    ("publish_latency_p95", "2026-11-03T09:00:26.812000Z", "2026-11-03T10:02:49.975000Z",
     8027.0, "2026-11-03T08:45:26.812000Z", "2026-11-03T09:00:26.812000Z"),
    ("publish_error_rate", "2026-11-03T10:00:12.698000Z", "2026-11-03T10:20:22.256000Z",
     1 / 12, "2026-11-03T09:55:12.698000Z", "2026-11-03T10:00:12.698000Z"),
    ("publish_error_rate", "2026-11-03T11:00:30.000000Z", "2026-11-03T11:19:43.025000Z",
     0.5, "2026-11-03T10:55:30.000000Z", "2026-11-03T11:00:30.000000Z"),
    ("auth_scope_failures", "2026-11-03T11:06:20.000000Z", "2026-11-03T11:29:43.025000Z",
     6.0, "2026-11-03T10:56:20.000000Z", "2026-11-03T11:06:20.000000Z"),
    ("publish_error_rate", "2026-11-03T12:10:00.000000Z", "2026-11-03T12:24:34.322000Z",
     1 / 3, "2026-11-03T12:05:00.000000Z", "2026-11-03T12:10:00.000000Z"),
    ("publish_error_rate", "2026-11-03T12:35:00.000000Z", "2026-11-03T12:45:00.000000Z",
     1 / 3, "2026-11-03T12:30:00.000000Z", "2026-11-03T12:35:00.000000Z"),
    ("idempotency_collision_rate", "2026-11-03T13:03:00.000000Z",
     "2026-11-03T13:42:58.160000Z", 1 / 63, "2026-11-03T12:48:00.000000Z",
     "2026-11-03T13:03:00.000000Z"),
    ("publish_error_rate", "2026-11-03T16:30:31.852000Z", "2026-11-03T16:47:40.068000Z",
     0.1, "2026-11-03T16:25:31.852000Z", "2026-11-03T16:30:31.852000Z"),
    ("freshness_under_target", "2026-11-03T17:45:00.000000Z", "2026-11-03T18:30:00.000000Z",
     0.0, "2026-11-03T17:15:00.000000Z", "2026-11-03T17:30:00.000000Z"),
]
#: ``RECORDED`` with its times as the alerts now give them (tz-aware ``datetime``).
EXPECTED = [(rule, _at(triggered), _at(resolved), observed, _at(start), _at(end))
            for rule, triggered, resolved, observed, start, end in RECORDED]


# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


def _alerts(ops: Operations) -> list[tuple[Any, ...]]:
    return [(a["rule"], a["triggered_at"], a["resolved_at"], pytest.approx(a["observed"]),
             a["window_start"], a["window_end"])
            for a in ops.alerts(tenant_id="tenant-solo")
            if not a["backfilled"] and not a["withdrawn"]]


def _lines(sample_dir: Path) -> tuple[list[bytes], list[bytes]]:
    return ((sample_dir / "saas-ingestion-audit.ndjson").read_bytes().splitlines(),
            (sample_dir / "downstream-snapshots.ndjson").read_bytes().splitlines())


def _state(ops: Operations) -> str:
    with ops.sql.transaction(commit=False) as cursor:
        ops.sql.execute(cursor, f"SELECT state FROM {ops.sql.table('alert_process')} "
                                "WHERE name = 'rules'")
        return str(cursor.fetchone()["state"])


def _rows(ops: Operations, tenant: str = "tenant-solo") -> list[int]:
    with ops.sql.transaction(commit=False) as cursor:
        counts = []
        for table in TABLES:
            ops.sql.execute(cursor, f"SELECT COUNT(*) AS n FROM {ops.sql.table(table)} "
                                    "WHERE tenant_id = ?", (tenant,))
            counts.append(int(cursor.fetchone()["n"]))
        return counts


@pytest.mark.policy("4.medium.freshness_under_target")
@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_audit_then_snapshots_gives_the_same_alerts_and_a_small_state(
        store_url: str, sample_dir: Path) -> None:
    audit, snaps = _lines(sample_dir)
    with Operations.open(store_url) as ops:
        import_pumuki_audit(ops, [audit], register_unknown=True)
        ops.advance_by_event_time()
        pending, visible, windows = _rows(ops)
        # no visibility yet: every acceptance waits, in rows; the state names none of it
        assert pending > 400 and visible == 0 and windows > 30
        state = _state(ops)
        assert '"external":true' in state and '"pending"' not in state
        import_snapshots(ops, [snaps])
        ops.advance_by_event_time()
        assert _alerts(ops) == EXPECTED
        assert _rows(ops)[0] < pending  # final windows released their acceptances


@pytest.mark.policy("4.medium.freshness_under_target")
@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_snapshots_then_audit_gives_the_same_alerts(store_url: str, sample_dir: Path) -> None:
    audit, snaps = _lines(sample_dir)
    firsts: dict[str, int] = {}
    for i, line in enumerate(audit):  # one line per repository registers the tenant's
        firsts.setdefault(json.loads(line)["repository_id"], i)
    first = [audit[i] for i in sorted(firsts.values())]
    rest = [line for i, line in enumerate(audit) if i not in set(firsts.values())]
    with Operations.open(store_url) as ops:
        import_pumuki_audit(ops, [first], register_unknown=True)
        ops.advance_by_event_time()
        assert import_snapshots(ops, [snaps])["recorded"] == len(snaps)
        ops.advance_by_event_time()
        assert _rows(ops)[1] > 400  # visibilities wait for their publishes, in rows
        import_pumuki_audit(ops, [rest], register_unknown=True)
        ops.advance_by_event_time()
        assert _alerts(ops) == EXPECTED


@pytest.mark.policy("4.medium.freshness_under_target")
def test_a_store_of_the_previous_shape_moves_its_freshness_state_on_the_next_run(
        store_url: str, sample_dir: Path) -> None:
    if store_url == "memory://":
        pytest.skip("a reopened memory store is a new store")
    audit, snaps = _lines(sample_dir)
    with Operations.open(store_url) as ops:
        import_pumuki_audit(ops, [audit], register_unknown=True)
        ops.advance_by_event_time()
        # What schema 5 left: the bookkeeping inside the state, no freshness tables.
        with ops.sql.transaction(commit=True) as cursor:
            state = orjson.loads(_state(ops))
            fresh = state["tenants"]["tenant-solo"]["fresh"]
            held = FreshRows(ops.sql, cursor, "tenant-solo").snapshot(10**9)
            assert held is not None
            state["tenants"]["tenant-solo"]["fresh"] = {**held,
                                                        "last_under": fresh["last_under"]}
            ops.sql.execute(cursor, f"UPDATE {ops.sql.table('alert_process')} SET state = ? "
                                    "WHERE name = 'rules'", (orjson.dumps(state).decode(),))
            for table in TABLES:
                ops.sql.execute(cursor, f"DROP TABLE {ops.sql.table(table)}")
            ops.sql.execute(cursor, f"UPDATE {ops.sql.table('opsledger_schema')} "
                                    "SET version = 5")
        pending = len(held["pending"])
    with Operations.open(store_url) as ops:
        assert '"pending"' in _state(ops)
        import_snapshots(ops, [snaps])
        ops.advance_by_event_time()
        assert '"pending"' not in _state(ops)
        assert _alerts(ops) == EXPECTED
        assert _rows(ops)[0] < pending


@pytest.mark.policy("5.retention_privacy")
@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_forgetting_a_tenant_deletes_its_freshness_rows(store_url: str,
                                                        sample_dir: Path) -> None:
    audit, _ = _lines(sample_dir)
    with Operations.open(store_url) as ops:
        import_pumuki_audit(ops, [audit], register_unknown=True)
        ops.advance_by_event_time()
        assert _rows(ops)[0] > 0
        ops.forget_tenant("tenant-solo", by="dpo", reason="contract ended")
        assert _rows(ops) == [0, 0, 0]


def _late_run(store_url: str, sample_dir: Path) -> tuple[set[tuple[Any, ...]], bool]:
    """The sample with its 16:00 hour imported last (after the snapshots), in batches so
    the process keeps hourly checkpoints: the alerts, and whether the re-run started from
    a checkpoint (from zero it drops them all). Checks that each checkpoint carries the
    freshness rows it must restore."""
    audit, snaps = _lines(sample_dir)
    late = [line for line in audit
            if json.loads(line)["event_at"].startswith("2026-11-03T16:")]
    on_time = [line for line in audit if line not in late]
    assert late
    with Operations.open(store_url) as ops:
        for start in range(0, len(on_time), 50):
            import_pumuki_audit(ops, [on_time[start:start + 50]], register_unknown=True)
            ops.advance_by_event_time()
        import_snapshots(ops, [snaps])
        ops.advance_by_event_time()
        query = (f"SELECT position, state FROM {ops.sql.table('alert_checkpoints')} "
                 "WHERE tenant_id = 'tenant-solo'")
        with ops.sql.transaction(commit=False) as cursor:
            ops.sql.execute(cursor, query)
            rows = cursor.fetchall()
        assert rows and all("pending" in unpack(r["state"])["fresh"] for r in rows)
        import_pumuki_audit(ops, [late], register_unknown=True)
        ops.advance_by_event_time()
        assert ops.late_alert_facts()["tenant-solo"]["late"] == len(late)
        with ops.sql.transaction(commit=False) as cursor:
            ops.sql.execute(cursor, query)
            kept = {int(r["position"]) for r in rows} & {
                int(r["position"]) for r in cursor.fetchall()}
        return {(a["rule"], a["triggered_at"], a["resolved_at"], a["backfilled"])
                for a in ops.alerts(tenant_id="tenant-solo") if not a["withdrawn"]}, bool(kept)


#: The freshness alert a re-run from a checkpoint taken before the snapshots found when the
#: checkpoint keyed its acceptances by the payload's key in clear and the re-read facts by
#: its digest (no visibility of the re-run matched them); an in-order import has none.
SPURIOUS = ("freshness_under_target", _at("2026-11-03T07:45:00.000000Z"),
            _at("2026-11-03T13:45:00.000000Z"), True)
BACKFILLED = {_at("2026-11-03T16:30:31.852000Z")}


@pytest.mark.policy("4.medium.freshness_under_target")
@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_late_facts_rerun_from_a_checkpoint_that_carries_the_freshness_rows(
        store_url: str, sample_dir: Path) -> None:
    found, from_checkpoint = _late_run(store_url, sample_dir)
    assert from_checkpoint
    assert found == {(e[0], e[1], e[2], e[1] in BACKFILLED) for e in EXPECTED}
    assert SPURIOUS not in found
