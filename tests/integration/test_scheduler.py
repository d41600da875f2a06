"""The scheduler: APScheduler wiring, and every due deadline recorded exactly once at its
due time even when sweepers are killed with SIGKILL and several race on PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from opsledger.domain.incident import Incident, Severity
from opsledger.scheduler.driver import Driver
from opsledger_test_support import saas_tenant

from opsledger import Operations, OperationsPolicy, SystemClock

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_the_driver_sweeps_at_start_and_records_what_fell_due_while_down() -> None:
    clock = SystemClock()
    with Operations.open("memory://", clock=clock) as ops:
        opened = clock.now() - timedelta(hours=1)  # its ack fell due 45 minutes ago
        incident = ops.open_incident(severity="SEV1", title="outage", cause="ingestion_outage",
                                     by="alice", at=opened)
        sweeps: list[dict[str, int]] = []
        driver = Driver(ops, clock.now, blocking=False,
                        on_sweep=lambda now, recorded: sweeps.append(recorded))
        driver.start()
        try:
            deadline = time.monotonic() + 20
            while not sweeps and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)  # let the first sweep hand over to the next wake-up
            next_jobs = [job.id for job in driver.scheduler.get_jobs()]
        finally:
            driver.stop()
        assert sweeps and sweeps[0]["incident_deadlines_missed"] >= 1
        shown = ops.incident(incident["id"])
        ack = next(d for d in shown["deadlines"] if d["kind"] == "acknowledge")
        assert ack["status"] == "missed"
        assert ack["missed_at"] == ack["due_at"]  # recorded at its original due time
        assert driver.job_defaults == {"misfire_grace_time": None, "coalesce": True,
                                       "max_instances": 1}
        assert next_jobs == ["opsledger-sweep-1"]  # it sleeps until the next due time


def _open_many(url: str, count: int) -> None:
    rng = random.Random(1000)
    with Operations.open(url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0)
        for n in range(count):
            severity = rng.choice(["SEV1", "SEV2", "SEV3"])
            at = T0 + timedelta(minutes=rng.randint(0, 600))
            ops.open_incident(severity=severity, title=f"incident {n}", cause="other",
                              by="t", tenant_id="acme", at=at)


def _expected(url: str, now: datetime) -> Counter[tuple[str, str, str]]:
    """What a perfect sweeper records: replay each incident's opening in memory."""
    expected: Counter[tuple[str, str, str]] = Counter()
    policy = OperationsPolicy()
    with Operations.open(url) as ops:
        rows = ops.incidents(tenant_id="acme")
    for row in rows:
        at = row.opened_at
        twin = Incident.open(key="twin", severity=Severity(row["severity"]), tenant_id="acme",
                             title="t", cause="other", by="t", at=at, policy=policy)
        twin.record_overdue(now, "x", policy)
        for e in twin.collect_events()[1:]:
            expected[(row["id"], e.kind, e.due_at.isoformat())] += 1  # type: ignore[attr-defined]
    return expected


def _recorded(url: str) -> Counter[tuple[str, str, str]]:
    with Operations.open(url) as ops, ops.sql.transaction(commit=False) as cursor:
        ops.sql.execute(cursor, f"SELECT originator_id, state FROM "
                                f"{ops.sql.table(ops.sql.events_table)} WHERE topic = ?",
                        ("opsledger.Incident.DeadlineMissed",))
        found: Counter[tuple[str, str, str]] = Counter()
        for row in cursor.fetchall():
            state = ops.events.decode_state(bytes(row["state"]))
            assert state is not None
            due = datetime.fromisoformat(state["due_at"]["_data_"])
            occurred = datetime.fromisoformat(state["occurred_at"]["_data_"])
            assert occurred == due  # missed_at = due_at
            found[(str(UUID(str(row["originator_id"]))), state["kind"], due.isoformat())] += 1
    return found


def _crash_sweeps(url: str, now: datetime, kills: int, max_parallel: int) -> None:
    rng = random.Random(7)
    command = [sys.executable, "-m", "opsledger.cli", "scheduler", "run", "--once", "--now",
               now.isoformat(), "--db", url]
    for _ in range(kills):
        sweepers = [subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                    for _ in range(rng.randint(1, max_parallel))]
        time.sleep(rng.uniform(1.0, 4.0))
        for sweeper in sweepers:
            if sweeper.poll() is None:
                os.kill(sweeper.pid, signal.SIGKILL)
            sweeper.wait()
    finisher = subprocess.run(command, capture_output=True, text=True)
    assert finisher.returncode == 0, finisher.stderr


@pytest.mark.policy("3.SEV1.ack")
@pytest.mark.slow  # the SQLite-file variant below stays in the default tier
def test_1000_incidents_killed_sweepers_racing_on_postgresql_record_each_miss_once(
    pg_url: str,
) -> None:
    now = T0 + timedelta(hours=12)
    _open_many(pg_url, 1000)
    _crash_sweeps(pg_url, now, kills=6, max_parallel=3)
    recorded = _recorded(pg_url)
    assert max(recorded.values()) == 1  # never twice
    assert recorded == _expected(pg_url, now)


def test_killed_sweepers_on_a_sqlite_file_record_each_miss_once(sqlite_url: str) -> None:
    now = T0 + timedelta(hours=12)
    _open_many(sqlite_url, 200)
    _crash_sweeps(sqlite_url, now, kills=3, max_parallel=2)
    recorded = _recorded(sqlite_url)
    assert max(recorded.values()) == 1
    assert recorded == _expected(sqlite_url, now)
