"""The hash chain on every backend: it holds after normal use (both write paths), a
PostgreSQL rollback's gap in the ids is not a break, a tampering there is found, and a
store created before the chain existed gets linked when its schema is upgraded."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opsledger_test_support import saas_tenant

from opsledger import Operations, TenantAlreadyRegistered, import_pumuki_audit
from opsledger.store.chain import (
    CHAIN_TABLE,
    Checkpoint,
    CheckpointKeyMissing,
    CheckpointSignatureInvalid,
    InvalidCheckpoint,
)

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
KEY = b"k3y"


# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


def _event_ids(ops: Operations) -> list[int]:
    key = "notification_id" if ops.sql.is_postgres else "rowid"
    rows = ops.sql.fetch(f"SELECT {key} AS n FROM {ops.sql.table(ops.sql.events_table)} "
                         "ORDER BY 1")
    return [int(r["n"]) for r in rows]


def _use(ops: Operations, sample_audit: Path) -> None:
    """Both write paths: app.save (tenants, incidents) and the recording transaction."""
    saas_tenant(ops, "acme", ["web"], at=T0)
    for k in range(3):
        ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key=f"k{k}",
                           payload_hash="a" * 64, outcome="success", attempts=1,
                           latency_ms=10, occurred_at=T0 + timedelta(minutes=k))
    import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()], register_unknown=True)
    incident = ops.open_incident(severity="SEV2", title="slow", cause="latency", by="bob",
                                 tenant_id="acme", at=T0)
    ops.acknowledge(incident["id"], by="bob", at=T0 + timedelta(minutes=5))
    ops.resolve_incident(incident["id"], summary="ok", by="bob", at=T0 + timedelta(hours=1))
    ops.advance_by_event_time()


@pytest.mark.policy("5.audit_trail")
@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_the_chain_holds_after_normal_use_on_every_backend(
    store_url: str, sample_audit: Path
) -> None:
    with Operations.open(store_url) as ops:
        _use(ops, sample_audit)
        ids = _event_ids(ops)
        report = ops.verify_chain()
        assert (report.ok, report.events_checked, report.first_bad_position) == (
            True, len(ids), None)
        point = Checkpoint.load(ops.checkpoint(KEY).to_json(), KEY)
        assert point.n == ids[-1]
        middle = ids[len(ids) // 2]
        assert ops.verify_chain(middle).events_checked == len([i for i in ids if i >= middle])
        ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key="later",
                           payload_hash="b" * 64, outcome="success", attempts=1,
                           latency_ms=10, occurred_at=T0)
        later = ops.verify_chain(checkpoint=point)
        assert (later.ok, later.events_checked) == (True, len(ids) + 1)


@pytest.mark.policy("5.audit_trail")
def test_a_rolled_back_write_leaves_a_gap_in_the_ids_not_a_break_on_postgresql(
    pg_url: str,
) -> None:
    with Operations.open(pg_url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0)
        with pytest.raises(TenantAlreadyRegistered):
            ops.register_tenant("acme", repositories=["web"], governance=None, by="t", at=T0)
        ops.register_tenant("globex", repositories=["api"], governance=None, by="t", at=T0)
        ids = _event_ids(ops)
        assert ids[-1] > len(ids)  # the rolled-back insert consumed a sequence value
        assert ops.verify_chain().ok
        victim = ids[len(ids) // 2]
        with ops.sql.transaction(commit=True) as cursor:
            ops.sql.execute(cursor, f"DELETE FROM {ops.sql.table(ops.sql.events_table)} "
                                    "WHERE notification_id = ?", (victim,))
        report = ops.verify_chain()
        assert (report.ok, report.first_bad_position) == (False, victim)


@pytest.mark.policy("5.audit_trail")
def test_from_trusts_the_link_before_it(sqlite_url: str, sample_audit: Path) -> None:
    with Operations.open(sqlite_url) as ops:
        _use(ops, sample_audit)
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE stored_events SET topic = topic || 'x' WHERE rowid IN (3, 9)")
    with Operations.open(sqlite_url) as ops:
        assert ops.verify_chain().first_bad_position == 3
        assert ops.verify_chain(5).first_bad_position == 9
        assert ops.verify_chain(10).ok


def test_a_checkpoint_must_carry_the_signature_of_the_key(tmp_path: Path) -> None:
    with Operations.open("memory://") as ops:
        saas_tenant(ops, "acme", ["web"], at=T0)
        text = ops.checkpoint(KEY).to_json()
    assert Checkpoint.load(text, KEY).n > 0
    with pytest.raises(CheckpointSignatureInvalid):
        Checkpoint.load(text, b"other key")
    with pytest.raises(CheckpointSignatureInvalid):
        Checkpoint.load(text.replace(b'"n": ', b'"n": 1'), KEY)
    with pytest.raises(InvalidCheckpoint):
        Checkpoint.load(b"{}", KEY)
    with pytest.raises(CheckpointKeyMissing):
        Checkpoint.load(text, b"")


def test_a_store_from_before_the_chain_is_linked_when_its_schema_is_upgraded(
    sqlite_url: str,
) -> None:
    with Operations.open(sqlite_url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0)
        count = len(_event_ids(ops))
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:  # as version 1 left it
        conn.execute(f"DROP TABLE {CHAIN_TABLE}")
        conn.execute("UPDATE opsledger_schema SET version = 1")
    with Operations.open(sqlite_url) as ops:
        report = ops.verify_chain()
    assert (report.ok, report.events_checked) == (True, count)
