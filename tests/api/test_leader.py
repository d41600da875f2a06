"""Leadership and the background sweep of ``opsledger serve``: exactly one leader per store
(flock on SQLite, an advisory lock on PostgreSQL), takeover when the leader lets go or its
connection breaks, and the leader's sweep recording missed deadlines at their due times."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opsledger import FrozenClock, Operations, Periodic
from opsledger.api.engine import Engine, ServeSettings
from opsledger.api.leader import (
    FileLeadership,
    PostgresLeadership,
    SweepJob,
    leadership_for,
    lock_key,
)

from .conftest import START, running


@pytest.fixture
def engines(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[list[Engine]]:
    """Two engines (two 'processes') on one store: a SQLite file, or a PostgreSQL schema."""
    url = (f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    made = [Engine(Operations.open(url, clock=FrozenClock(START)), ServeSettings(tick_seconds=0.1))
            for _ in range(2)]
    yield made
    for engine in made:
        engine.close()


def _missed(ops: Operations, incident_id: str) -> list[Any]:
    return [d for d in ops.incident(incident_id).deadlines if d.status == "missed"]


@pytest.mark.policy("3.SEV1.ack")
@pytest.mark.parametrize("engines", ["sqlite", "postgres"], indirect=True)
def test_one_leader_sweeps_and_the_other_takes_over_when_it_lets_go(engines: list[Engine]) -> None:
    first, second = (SweepJob(e, leadership_for(e.ops.store)) for e in engines)
    first.tick()
    second.tick()
    assert (first.state.leader, second.state.leader) == (True, False)
    assert first.state.sweeps == 1 and second.state.sweeps == 0

    ops = first.engine.ops
    incident = ops.open_incident(severity="SEV1", title="down", cause="ingestion_outage",
                                 by="oncall", at=START)
    for engine in engines:
        engine.ops.clock.set(START + timedelta(minutes=20))  # type: ignore[attr-defined]
    second.tick()  # a follower does not sweep
    assert _missed(ops, incident.incident_id) == []
    first.tick()
    (ack,) = _missed(ops, incident.incident_id)
    assert ack.kind == "acknowledge" and ack.due_at == START + timedelta(minutes=15)
    assert first.state.last_sweep_at == START + timedelta(minutes=20)
    assert first.state.last_report is not None
    assert first.state.last_report.incident_deadlines_missed == 1

    first.stop()  # releases leadership
    assert first.state.leader is False
    second.tick()
    assert second.state.leader is True and second.state.sweeps == 1
    assert len(_missed(second.engine.ops, incident.incident_id)) == 1  # not twice
    first.tick()  # stopped: never leads again
    assert first.state.leader is False
    second.stop()


def test_the_leader_file_is_private_and_a_stopped_leader_unlocks_it(tmp_path: Any) -> None:
    path = str(tmp_path / "store.db")
    one, two = FileLeadership(path), FileLeadership(path)
    assert one.hold() and not two.hold()
    assert stat.S_IMODE(os.stat(path + ".leader").st_mode) == 0o600
    assert Path(path + ".leader").read_text().strip() == str(os.getpid())
    assert one.hold()  # still held
    one.release()
    assert two.hold() and not one.hold()
    two.release()


def test_lock_keys_differ_per_schema_and_fit_a_bigint() -> None:
    keys = {lock_key(s) for s in ("public", "a", "a_b", "tenant_x")}
    assert len(keys) == 4
    assert all(-(2**63) <= k < 2**63 for k in keys)


def test_leaders_of_two_schemas_on_one_server_do_not_contend(request: pytest.FixtureRequest
                                                             ) -> None:
    first_url = request.getfixturevalue("pg_url")
    other = f"{first_url.split('?')[0]}?schema=api_serve_other"
    with Operations.open(first_url) as a, Operations.open(other) as b:
        one, two = PostgresLeadership(a.store), PostgresLeadership(b.store)
        try:
            assert one.hold() and two.hold()
        finally:
            one.release()
            two.release()


def test_a_leader_whose_connection_breaks_steps_down_and_another_takes_over(
        pg_url: str) -> None:
    import psycopg

    with Operations.open(pg_url) as ops:
        one, two = PostgresLeadership(ops.store), PostgresLeadership(ops.store)
        try:
            assert one.hold() and not two.hold()
            pid = one._conn.info.backend_pid
            with psycopg.connect(pg_url.split("?")[0], autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert not one.hold()  # its session is gone: not the leader any more
            assert two.hold()
            assert not one.hold()  # a new connection, and the lock is taken
        finally:
            one.release()
            two.release()


def test_periodic_runs_at_once_and_again_and_stop_waits_for_a_run(tmp_path: Any) -> None:
    runs: list[float] = []

    def job() -> None:
        runs.append(time.monotonic())
        time.sleep(0.05)

    ticker = Periodic(job, timedelta(seconds=0.05))
    ticker.start()
    deadline = time.monotonic() + 10
    while len(runs) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    ticker.stop()
    count = len(runs)
    assert count >= 3
    time.sleep(0.2)
    assert len(runs) == count  # stopped
    with pytest.raises(ValueError):
        Periodic(job, timedelta(0))


def test_the_app_runs_the_job_and_status_shows_it_and_stopping_releases_leadership(
        tmp_path: Any) -> None:
    import httpx

    from opsledger.api.server import build_service

    path = str(tmp_path / "store.db")
    ops = Operations.open(f"sqlite:///{path}", clock=FrozenClock(START))
    service = build_service(ops, ServeSettings(tick_seconds=0.05))
    token = service.engine.run(ops.create_token, scope="operator", owner="ops", by="test").token
    try:
        with running(service.app) as base, httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                body = http.get("/v1/status", headers={"Authorization": f"Bearer {token}"}).json()
                if body["scheduler"]["sweeps"] >= 2:
                    break
                time.sleep(0.05)
            assert body["scheduler"]["enabled"] and body["scheduler"]["leader"]
            assert body["scheduler"]["last_sweep_at"] == "2026-11-03T12:00:00.000Z"
            assert body["version"] and body["auth_failures"] == {}
            assert not FileLeadership(path).hold()  # the app's job holds it
            exposed = {s.name: s.value for f in text_string_to_metric_families(
                http.get("/metrics").text) for s in f.samples}
            assert exposed["opsledger_scheduler_leader"] == 1
            assert exposed["opsledger_scheduler_enabled"] == 1
            assert exposed["opsledger_scheduler_sweeps_total"] >= 2
            assert exposed["opsledger_scheduler_last_sweep_timestamp_seconds"] == \
                START.timestamp()
        assert service.job is not None and service.job.state.leader is False
        other = FileLeadership(path)
        assert other.hold()  # the lifespan released it
        other.release()
    finally:
        service.engine.close()
