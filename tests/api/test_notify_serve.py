"""``opsledger serve --notify-config``: the process delivers the outbox to a real receiver
on 127.0.0.1 under the notify leadership (a ``notify run`` beside it delivers nothing),
``/metrics`` shows the notification series and the delivery latency, ``/v1/status`` says
notifications are configured; without a config there is no delivery job; with
``--no-scheduler`` the delivery job catches the views up itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import opsledger_test_notify as receiving
import pytest

from opsledger import Operations
from opsledger.api.engine import ServeSettings
from opsledger.api.server import build_service
from opsledger.cli.notify import load_config

from .conftest import running
from .test_metrics import scrape
from .test_serve import Serve, operator_token, wait_for


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A receiver on 127.0.0.1 answering 200."""
    server = receiving.Receiver()
    yield server
    server.close()


def expected_notifications(db: str) -> set[str]:
    with Operations.open(db) as ops:
        ops.catch_up()
        return {n.notification_id for n in ops.outbox()}


def test_serve_with_a_notify_config_delivers_and_shows_the_series(
        tmp_path: Path, receiver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    receiving.incidents(db, 3)  # all resolved: the sweep of serve records nothing more
    expected = expected_notifications(db)
    token = operator_token(db)
    config = receiving.write_config(tmp_path, receiver.url)
    monkeypatch.setenv(receiving.SECRET_ENV, receiving.SECRET)
    server = Serve(db, tmp_path, "--tick", "0.2", "--notify-config", str(config))
    try:
        assert receiver.wait_for(len(expected), 60), server.logs()[-2000:]
        got = receiver.snapshot()
        assert {r.json()["dedup_key"] for r in got} == expected
        assert all(receiving.verify(receiving.SECRET, r) for r in got)

        status = wait_for("a delivery step", lambda: (s := server.status(token)) and
                          s["notifications"]["steps"] and s)
        assert status["notifications"]["configured"] is True
        assert status["notifications"]["leader"] is True

        def delivered_on_metrics() -> Any:
            found = scrape(server)
            states = {dict(k)["state"]: v for k, v in found["opsledger_notifications"].items()}
            return found if states["delivered"] == len(expected) else None

        found = wait_for("the metrics cache to expire", delivered_on_metrics, seconds=20)
        assert found["opsledger_notification_dead"][()] == 0
        assert found["opsledger_notifications_unrouted"][()] == 0
        assert found["opsledger_notification_failed_attempts_total"][()] == 0
        assert found["opsledger_notification_delivery_leader"][()] == 1
        assert found["opsledger_notification_delivery_seconds_count"][()] == len(expected)
        assert found["opsledger_notification_delivery_seconds_bucket"][(("le", "+Inf"),)] \
            == len(expected)
        totals = server.status(token)["notifications"]  # since the process started
        assert (totals["delivered"], totals["dead"]) == (len(expected), 0)

        # a second deliverer beside serve: it never holds the notify leadership
        env = {**os.environ, "OPSLEDGER_DB": db}
        beside = subprocess.run([sys.executable, "-m", "opsledger.cli", "notify", "run",
                                 "--once", "--config", str(config)], env=env,
                                capture_output=True, timeout=120)
        assert beside.returncode == 1 and b"notify leadership" in beside.stderr
        assert receiving.SECRET.encode() not in beside.stderr + beside.stdout
    finally:
        server.stop()
    logs = server.logs()
    assert receiving.SECRET not in logs and "/hook" not in logs
    assert "delivery step" in logs


def test_without_a_config_there_is_no_delivery_job(live_api: Any) -> None:
    operator = live_api.token("operator")
    body = live_api.http.get("/v1/status", headers=live_api.auth(operator)).json()
    assert body["notifications"]["configured"] is False
    assert body["notifications"]["steps"] == 0
    found = scrape(live_api)
    assert "opsledger_notification_delivery_seconds_count" not in found
    assert "opsledger_notification_delivery_leader" not in found
    states = {dict(k)["state"]: v for k, v in found["opsledger_notifications"].items()}
    assert states == {"pending": 0, "failed": 0, "delivered": 0, "dead": 0, "suppressed": 0}


def test_with_no_scheduler_the_delivery_job_catches_the_views_up_itself(
        tmp_path: Path, receiver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    config_file = receiving.write_config(tmp_path, receiver.url)
    monkeypatch.setenv(receiving.SECRET_ENV, receiving.SECRET)
    config = load_config(config_file)
    service = build_service(Operations.open(db), ServeSettings(scheduler=False,
                                                               tick_seconds=0.1), config)
    assert service.job is None and service.delivery is not None
    try:
        with running(service.app):
            receiving.incidents(db, 1)  # written by another process's facade meanwhile
            expected = expected_notifications(db)
            assert receiver.wait_for(len(expected), 30)
            assert {r.json()["dedup_key"] for r in receiver.snapshot()} == expected
            assert service.delivery.state.leader
    finally:
        service.engine.close()
    assert not service.delivery.state.leader  # released when the app stopped
    assert service.delivery.every == timedelta(seconds=0.1)


def test_on_postgresql_the_notify_leadership_is_an_advisory_lock_of_its_own(
        pg_url: str) -> None:
    from opsledger.api.leader import leadership_for, lock_key

    with Operations.open(pg_url) as ops:
        sweeper, deliverer, rival = (leadership_for(ops.store), leadership_for(ops.store, "notify"),
                                     leadership_for(ops.store, "notify"))
        assert lock_key(ops.store.schema) != lock_key(ops.store.schema + ":notify")
        try:
            assert sweeper.hold() and deliverer.hold()  # one process may lead both
            assert not rival.hold()  # but one deliverer at a time
            deliverer.release()
            assert rival.hold()
        finally:
            for leadership in (sweeper, deliverer, rival):
                leadership.release()
