"""``opsledger serve`` as a real process: graceful SIGTERM (a request in flight completes,
leadership is released, exit 0), logs without secrets, and two processes on one PostgreSQL
schema where the sweeping leader is killed with SIGKILL and the other takes over, recording
every missed deadline exactly once at its due time."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from opsledger import Operations
from opsledger.api.leader import FileLeadership
from opsledger.api.server import PathOnly, is_loopback


class Serve:
    """One ``opsledger serve`` process on 127.0.0.1 (a port of its choosing)."""

    def __init__(self, db: str, folder: Path, *options: str) -> None:
        self.out = folder / f"out-{time.monotonic_ns()}.txt"
        self.err = self.out.with_suffix(".err")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "opsledger.cli", "serve", "--db", db, "--host",
                 "127.0.0.1", "--port", "0", *options], stdout=out, stderr=err, env=env)
        self.base = self._wait_for_address()
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.out.read_text().splitlines():
                if "listening on " in line:
                    return line.split("listening on ")[1].split()[0]
                if line.startswith("{"):  # --json
                    announced: dict[str, Any] = json.loads(line)
                    return str(announced["url"])
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.err.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("serve did not start")

    def status(self, token: str) -> dict[str, Any] | None:
        """The process's /v1/status (None while it does not answer)."""
        try:
            answer = self.http.get("/v1/status", headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            self.last_problem = repr(exc)
            return None
        if answer.status_code != 200:
            self.last_problem = f"{answer.status_code} {answer.text[:300]}"
            return None
        body: dict[str, Any] = answer.json()
        return body

    def logs(self) -> str:
        """Everything it wrote."""
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> None:
        """Kill it if still running (tests end their processes themselves)."""
        self.http.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Any]:
    """``serving(db, *options)``: a started ``opsledger serve``, killed at the end if alive."""
    started: list[Serve] = []

    def start(db: str, *options: str) -> Serve:
        started.append(Serve(db, tmp_path, *options))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def wait_for(what: str, check: Any, seconds: float = 30) -> Any:
    """``check()``'s first true answer, polled for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")  # (Serve.last_problem says why)


def operator_token(db: str) -> str:
    with Operations.open(db) as ops:
        return str(ops.create_token(scope="operator", owner="ops", by="test").token)


def test_sigterm_lets_a_request_in_flight_finish_releases_leadership_and_exits_0(
        tmp_path: Path, serving: Any) -> None:
    path = tmp_path / "store.db"
    db = f"sqlite:///{path}"
    token = operator_token(db)
    server = serving(db, "--tick", "60")  # one sweep at start, then none during the test
    wait_for("leadership", lambda: (s := server.status(token)) and s["scheduler"]["sweeps"])
    with Operations.open(db) as ops:
        ops.create_token(scope="operator", owner="ops", by="test")  # the views lag behind it
        assert any(v.lag for v in ops.view_status())
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the scrape's catch-up waits for this write lock
    answers: list[httpx.Response] = []
    scrape = threading.Thread(target=lambda: answers.append(
        httpx.get(f"{server.base}/metrics", timeout=60)))
    scrape.start()
    time.sleep(1.0)  # the request reaches the server and waits on the lock
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.proc.poll() is None and scrape.is_alive()  # waiting for the request
    lock.execute("ROLLBACK")
    lock.close()
    scrape.join(timeout=60)
    assert answers and answers[0].status_code == 200
    assert "opsledger_store_up 1.0" in answers[0].text
    assert server.proc.wait(timeout=60) == 0
    logs = server.logs()
    assert "leadership released" in logs and "Traceback" not in logs
    other = FileLeadership(str(path))
    assert other.hold()
    other.release()


def test_logs_show_paths_but_never_tokens_or_query_strings(tmp_path: Path, serving: Any
                                                           ) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    token = operator_token(db)
    server = serving(db, "--no-scheduler")
    assert server.http.get("/v1/status?cursor=c2VjcmV0LWN1cnNvcg&access_token=in-the-query",
                           headers={"Authorization": f"Bearer {token}"}).status_code == 200
    wrong = token[:-4] + "AAAA"
    assert server.http.get("/v1/status", headers={"Authorization": f"Bearer {wrong}"}
                           ).status_code == 401
    assert server.status(token)["scheduler"] == {  # type: ignore[index]
        "enabled": False, "leader": False, "last_sweep_at": None, "sweeps": 0,
        "last_error": None}
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=60) == 0
    logs = server.logs()
    assert '"GET /v1/status HTTP/1.1" 200' in logs and '"GET /v1/status HTTP/1.1" 401' in logs
    for secret in (token, wrong, token.split("_")[-1], "c2VjcmV0LWN1cnNvcg", "in-the-query"):
        assert secret not in logs
    assert "leadership" not in logs  # API only: never led


def test_json_announces_the_address_as_one_line_a_script_can_read(
    tmp_path: Path, serving: Any
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    server = serving(db, "--json", "--no-scheduler")
    announced = json.loads(server.out.read_text().splitlines()[0])
    assert announced == {"url": server.base, "pid": server.proc.pid, "store": db,
                         "scheduler": False, "notifications": False}
    assert server.http.get("/openapi.json").status_code == 200
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0


def test_the_access_log_filter_keeps_the_path_only() -> None:
    import logging

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", "/v1/audit?cursor=abc", "1.1", 200), None)
    PathOnly().filter(record)
    assert record.getMessage() == '127.0.0.1:1 - "GET /v1/audit HTTP/1.1" 200'


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False),
    ("::", False), ("10.1.2.3", False), ("example.org", False)])
def test_only_loopback_hosts_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_metrics_token_file_that_is_empty_is_a_usage_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from opsledger.cli.main import main

    empty = tmp_path / "token"
    empty.write_text("\n")
    result = CliRunner().invoke(main, ["serve", "--db", f"sqlite:///{tmp_path / 's.db'}",
                                       "--metrics-token-file", str(empty)])
    assert result.exit_code == 2 and "is empty" in result.output


def _missed_events(ops: Operations, incident_id: str) -> list[dict[str, Any]]:
    return [e.to_dict() for e in ops.incident_timeline(incident_id)
            if e.to_dict()["kind"] == "Incident.DeadlineMissed"]


def two_servers(db: str, serving: Any, token: str) -> tuple[Serve, Serve]:
    """Two ``serve`` processes on one store, once one of them leads: (leader, follower)."""
    servers = [serving(db, "--tick", "0.2") for _ in range(2)]

    def leaders() -> list[Serve]:
        found = [s for s in servers if (st := s.status(token)) and st["scheduler"]["leader"]]
        return found if len(found) == 1 else []

    (leader,) = wait_for("one leader", leaders)
    (follower,) = [s for s in servers if s is not leader]
    state = wait_for("the follower's status", lambda: follower.status(token))
    assert not state["scheduler"]["leader"] and state["scheduler"]["sweeps"] == 0, state
    return leader, follower


def kill_9(leader: Serve, follower: Serve, token: str) -> None:
    """SIGKILL the leader (no shutdown, no unlock); wait for the follower to take over."""
    leader.proc.kill()
    leader.proc.wait(timeout=30)
    wait_for("takeover", lambda: (st := follower.status(token)) and st["scheduler"]["leader"]
             and st["scheduler"]["sweeps"])


def test_two_servers_on_a_sqlite_file_the_leader_lock_dies_with_the_leader(
        tmp_path: Path, serving: Any) -> None:
    path = tmp_path / "store.db"
    token = operator_token(f"sqlite:///{path}")
    leader, follower = two_servers(f"sqlite:///{path}", serving, token)
    assert (path.parent / "store.db.leader").read_text().strip() == str(leader.proc.pid)
    kill_9(leader, follower, token)
    assert (path.parent / "store.db.leader").read_text().strip() == str(follower.proc.pid)
    follower.proc.send_signal(signal.SIGTERM)
    assert follower.proc.wait(timeout=60) == 0
    assert "Traceback" not in follower.logs() and "unexpected error" not in follower.logs()


@pytest.mark.policy("3.SEV1.ack")
def test_two_servers_on_postgres_after_kill_9_of_the_leader_the_other_sweeps(
        pg_url: str, serving: Any) -> None:
    token = operator_token(pg_url)
    leader, follower = two_servers(pg_url, serving, token)
    kill_9(leader, follower, token)
    with Operations.open(pg_url) as ops:
        opened_at = datetime.now(UTC) - timedelta(minutes=20)
        incident = ops.open_incident(severity="SEV1", title="down", cause="ingestion_outage",
                                     by="oncall", at=opened_at)
        (missed,) = wait_for("the sweep", lambda: _missed_events(ops, incident.incident_id))
        assert missed["at"] == missed["due_at"]
        assert datetime.fromisoformat(missed["at"]) == opened_at + timedelta(minutes=15)
        time.sleep(0.5)  # more sweeps: still once
        assert len(_missed_events(ops, incident.incident_id)) == 1
    follower.proc.send_signal(signal.SIGTERM)
    assert follower.proc.wait(timeout=60) == 0
    assert "Traceback" not in follower.logs() and "unexpected error" not in follower.logs()


@pytest.mark.slow
@pytest.mark.policy("3.SEV1.ack")
def test_two_servers_on_postgres_kill_9_the_leader_and_the_other_records_each_deadline_once(
        pg_url: str, serving: Any) -> None:
    token = operator_token(pg_url)
    leader, follower = two_servers(pg_url, serving, token)
    with Operations.open(pg_url) as ops:
        now = datetime.now(UTC)
        ack = timedelta(minutes=15)  # SEV1 acknowledgement window
        opened = {
            "due before the start": now - ack - timedelta(minutes=5),
            "due after the kill": now - ack + timedelta(seconds=6),
            "due later still": now - ack + timedelta(seconds=10),
        }
        ids = {name: ops.open_incident(severity="SEV1", title=name, cause="ingestion_outage",
                                       by="oncall", at=at).incident_id
               for name, at in opened.items()}
        wait_for("the leader's sweep", lambda: _missed_events(ops, ids["due before the start"]))
        kill_9(leader, follower, token)
        assert datetime.now(UTC) < opened["due later still"] + ack  # the premise of the test
        wait_for("the later deadlines", lambda: all(
            _missed_events(ops, ids[name]) for name in ("due after the kill", "due later still")),
            seconds=40)
        for name, at in opened.items():
            (missed,) = _missed_events(ops, ids[name])  # exactly once
            assert missed["deadline"] == "acknowledge"
            assert missed["at"] == missed["due_at"]
            assert datetime.fromisoformat(missed["due_at"]) == at + ack
    follower.proc.send_signal(signal.SIGTERM)
    assert follower.proc.wait(timeout=60) == 0
    assert "Traceback" not in follower.logs() and "unexpected error" not in follower.logs()


def test_an_address_in_use_or_not_this_machines_is_a_usage_error(tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from opsledger.cli.main import main

    db = f"sqlite:///{tmp_path / 's.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = CliRunner().invoke(main, ["serve", "--db", db, "--port", str(port)])
    assert busy.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.output
    assert "warning" not in busy.output
    # TEST-NET-1 is no address of this machine: nothing listens, the warning is given first
    remote = CliRunner().invoke(main, ["serve", "--db", db, "--host", "192.0.2.1",
                                       "--port", "0"])
    assert remote.exit_code == 2 and "cannot listen on 192.0.2.1:0" in remote.output
    assert "warning: listening on 192.0.2.1, not loopback" in remote.output
