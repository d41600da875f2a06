"""The incidents view folds one incident's events of a batch into one write: the rows it
leaves must be those of applying each event on its own, whatever the batch boundaries —
through misses, a severity change that moves and brings back a deadline, an update, a
resolution that drops the status cadence, and the RCA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsledger import Governance, Operations, OperationsPolicy

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TABLES = {"incidents": "id", "incident_deadlines": "incident_id, kind, due"}


def _rows(ops: Operations) -> dict[str, list[dict[str, Any]]]:
    return {table: [dict(r) for r in ops.sql.fetch(
        f"SELECT * FROM {ops.sql.table(table)} ORDER BY {order}")]
        for table, order in TABLES.items()}


def _history(ops: Operations, step: Any) -> None:
    """Commands and sweeps over two incidents; ``step(at)`` after each."""
    ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="t",
                        at=T0 - timedelta(days=1))
    sev1 = ops.open_incident(severity="SEV1", title="down", cause="ingestion_outage",
                             by="t", tenant_id="acme", at=T0)["id"]
    ops.open_incident(severity="SEV2", title="slow", cause="latency", by="t",
                      tenant_id="acme", at=T0 + timedelta(minutes=1))
    step(T0)
    for at, act in [
        (T0 + timedelta(hours=2), lambda at: ops.record_due_incident_deadlines(at)),
        # SEV1 -> SEV2 drops the pending status slot; back to SEV1 re-arms the first slot,
        # whose (kind, due) is that of the slot missed first: the row goes pending again.
        (T0 + timedelta(hours=2, minutes=1), lambda at: ops.change_severity(
            sev1, severity="SEV2", reason="r", by="t", at=at)),
        (T0 + timedelta(hours=2, minutes=2), lambda at: ops.change_severity(
            sev1, severity="SEV1", reason="r", by="t", at=at)),
        # ... and moved away again (a batch may hold all three; the change first records
        # the re-armed slot missed again, as every command catches up first).
        (T0 + timedelta(hours=2, minutes=3), lambda at: ops.change_severity(
            sev1, severity="SEV2", reason="r", by="t", at=at)),
        (T0 + timedelta(hours=5), lambda at: ops.record_due_incident_deadlines(at)),
        (T0 + timedelta(hours=5, minutes=1), lambda at: ops.acknowledge(sev1, by="t", at=at)),
        (T0 + timedelta(hours=5, minutes=2), lambda at: ops.post_status_update(
            sev1, message="m", by="t", at=at)),
        (T0 + timedelta(hours=7), lambda at: ops.record_due_incident_deadlines(at)),
        (T0 + timedelta(hours=7, minutes=1), lambda at: ops.resolve_incident(
            sev1, summary="s", by="t", at=at)),
        (T0 + timedelta(days=20), lambda at: ops.record_due_incident_deadlines(at)),
        (T0 + timedelta(days=20, minutes=1), lambda at: ops.publish_rca(
            sev1, link="l", by="t", at=at)),
    ]:
        act(at)
        step(at)


def test_the_rows_do_not_depend_on_how_the_events_are_batched(tmp_path: Path) -> None:
    policy = OperationsPolicy.from_toml("[response]\nsev1_status_update_max_missed = 3\n")
    with Operations.open(f"sqlite:///{tmp_path / 'store.db'}", policy=policy) as ops:
        _history(ops, lambda _: ops.views.catch_up(batch_size=1))  # one event at a time
        one_by_one = _rows(ops)
        ops.rebuild_views()  # every event in one batch
        assert _rows(ops) == one_by_one
    kinds = {(r["kind"], r["status"]) for r in one_by_one["incident_deadlines"]}
    assert {("status_update", "missed"), ("acknowledge", "missed"), ("rca", "missed")} <= kinds
    assert sorted(r["last_at"] for r in one_by_one["incidents"]) == [
        "2026-11-02T13:01:00.000000Z",  # the SEV2's missed mitigation
        "2026-11-22T09:01:00.000000Z"]  # the SEV1's RCA


def test_the_rows_of_a_batch_per_command_are_those_of_one_batch(tmp_path: Path) -> None:
    with Operations.open(f"sqlite:///{tmp_path / 'store.db'}") as ops:
        _history(ops, lambda _: ops.views.catch_up())
        per_command = _rows(ops)
        ops.rebuild_views()
        assert _rows(ops) == per_command


def test_a_deadline_brought_back_and_moved_again_in_one_batch_folds_the_same(
        tmp_path: Path) -> None:
    sweeps = {T0, T0 + timedelta(hours=2), T0 + timedelta(hours=5)}
    with Operations.open(f"sqlite:///{tmp_path / 'store.db'}") as ops:
        _history(ops, lambda at: ops.views.catch_up() if at in sweeps else None)
        ops.views.catch_up()
        batched = _rows(ops)
        ops.rebuild_views()
        assert _rows(ops) == batched
