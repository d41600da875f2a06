"""A failed chain verification is recorded once per break and becomes a critical
notification in the outbox (issue 16: chain-verification failures are paged)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from opsledger.domain import topics
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Operations

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.mark.policy("5.audit_trail")
def test_a_tampered_event_raises_one_critical_chain_notification(sqlite_url: str) -> None:
    clock = FrozenClock(T0)
    with Operations.open(sqlite_url, clock=clock) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0)
        assert ops.verify_chain().ok
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE stored_events SET topic = topic || 'x' WHERE rowid = 2")
    with Operations.open(sqlite_url, clock=clock) as ops:
        first = ops.verify_chain()
        clock.advance(timedelta(minutes=5))
        again = ops.verify_chain()  # the same break, found again: recorded once
        assert not first.ok and again.first_bad_position == first.first_bad_position == 2
        alarms = ops.sql.fetch(f"SELECT topic FROM {ops.sql.table(ops.sql.events_table)} "
                               "WHERE topic = ?", (topics.INTEGRITY_ALARM_CHAIN_FAILED,))
        assert len(alarms) == 1
        ops.catch_up()
        rows = ops.sql.fetch(f"SELECT * FROM {ops.sql.table('notifications')} "
                             "WHERE kind = 'integrity.chain_failed'")
    assert len(rows) == 1
    row = rows[0]
    assert row["level"] == "critical" and row["subject"] == "chain" and row["tenant"] is None
    assert row["occurred_at"].startswith("2026-11-03T09:00:00")  # found at the clock's now
    assert "position 2" in row["summary"]
