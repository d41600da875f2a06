"""``opsledger notify …`` end to end on a SQLite file store, delivering to a real webhook
receiver on 127.0.0.1: ``run --once`` delivers (signed, one dedup key per notification),
``list``/``show`` say what happened, a refusal (400) goes dead and ``retry --all-dead``
brings it back, ``test --route`` reaches the receiver marked as a test, and a config that
does not validate exits 2 naming the key without ever printing a secret."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opsledger_test_notify as receiving
import pytest
from click.testing import CliRunner, Result

from opsledger import Operations
from opsledger.api.leader import FileLeadership
from opsledger.cli.main import main
from opsledger.cli.notify import os_user

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = receiving.SECRET
ENV = {receiving.SECRET_ENV: SECRET}
incidents = receiving.incidents
write_config = receiving.write_config


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A receiver answering 200 (tests change ``receiver.status``)."""
    server = receiving.Receiver()
    yield server
    server.close()


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**ENV, **(env or {})},
                              catch_exceptions=False)


def deliveries(db: str, *options: str) -> list[dict[str, Any]]:
    answer = cli("notify", "list", "--db", db, "--json", *options)
    assert answer.exit_code == 0, answer.output
    rows: list[dict[str, Any]] = json.loads(answer.stdout)
    return rows


@pytest.mark.policy("7.owners")  # escalations reach the secondary owner's route
def test_run_once_delivers_signed_notifications_and_list_and_show_say_so(
        tmp_path: Path, sqlite_url: str, receiver: Any) -> None:
    ids = incidents(sqlite_url, 2, resolve=1)
    config = write_config(tmp_path, receiver.url)
    with Operations.open(sqlite_url) as ops:
        ops.catch_up()
        expected = {n.notification_id for n in ops.outbox()}
    assert {f"incident/{ids[0]}/resolved", f"incident/{ids[1]}/acknowledged"} <= expected

    ran = cli("notify", "run", "--once", "--json", "--config", str(config), "--db", sqlite_url)
    assert ran.exit_code == 0, ran.output
    step = json.loads(ran.stdout.splitlines()[-1])
    assert step["delivered"] == step["attempted"] == len(expected) and step["dead"] == 0

    got = receiver.snapshot()
    assert {r.json()["dedup_key"] for r in got} == expected
    for r in got:
        assert receiving.verify(SECRET, r)
        assert r.headers["x-opsledger-dedup-key"] == r.json()["dedup_key"]
    escalations = [r.json() for r in got if r.json()["kind"] == "incident.escalated"]
    assert {e["route"] for e in escalations} == {"escalations"} and len(escalations) == 2

    rows = deliveries(sqlite_url)
    assert {r["state"] for r in rows} == {"delivered"} and len(rows) == len(expected)
    assert SECRET not in ran.output
    table = cli("notify", "list", "--db", sqlite_url)
    assert table.exit_code == 0 and "delivered" in table.stdout
    assert all(r["id"] in table.stdout for r in rows)

    shown = cli("notify", "show", rows[0]["id"], "--db", sqlite_url)
    assert shown.exit_code == 0, shown.output
    assert rows[0]["notification_id"] in shown.stdout and "delivered" in shown.stdout
    detail = json.loads(cli("notify", "show", rows[0]["id"], "--db", sqlite_url,
                            "--json").stdout)
    assert [a["outcome"] for a in detail["attempts"]] == ["delivered"]
    assert detail["attempts"][0]["status"] == 200
    assert detail["notification"]["id"] == rows[0]["notification_id"]

    again = cli("notify", "run", "--once", "--json", "--config", str(config), "--db",
                sqlite_url)
    assert json.loads(again.stdout.splitlines()[-1])["attempted"] == 0
    assert receiver.count() == len(got)  # nothing is sent twice


def test_a_refusal_goes_dead_and_retry_all_dead_delivers_it(
        tmp_path: Path, sqlite_url: str, receiver: Any) -> None:
    incidents(sqlite_url, 1)
    config = write_config(tmp_path, receiver.url)
    receiver.status = 400
    ran = cli("notify", "run", "--once", "--json", "--config", str(config), "--db", sqlite_url)
    assert ran.exit_code == 0, ran.output
    dead = deliveries(sqlite_url, "--state", "dead")
    assert dead and len(dead) == json.loads(ran.stdout.splitlines()[-1])["dead"]
    assert all(r["last_status"] == 400 for r in dead)
    shown = cli("notify", "show", dead[0]["id"], "--db", sqlite_url)
    assert "400" in shown.stdout and "dead" in shown.stdout

    assert cli("notify", "retry", "--db", sqlite_url).exit_code == 2  # neither ids nor --all-dead
    receiver.status = 200
    retried = cli("notify", "retry", "--all-dead", "--by", "alice", "--db", sqlite_url,
                  "--json")
    assert retried.exit_code == 0, retried.output
    assert {r["id"] for r in json.loads(retried.stdout)} == {r["id"] for r in dead}
    assert deliveries(sqlite_url, "--state", "dead") == []
    detail = json.loads(cli("notify", "show", dead[0]["id"], "--db", sqlite_url,
                            "--json").stdout)
    assert [(a["outcome"], a["by"]) for a in detail["attempts"]][-1] == ("retried", "alice")

    before = receiver.count()
    ran = cli("notify", "run", "--once", "--json", "--config", str(config), "--db", sqlite_url)
    assert json.loads(ran.stdout.splitlines()[-1])["delivered"] == len(dead)
    assert receiver.count() == before + len(dead)
    assert {r["state"] for r in deliveries(sqlite_url)} == {"delivered"}


def test_retry_by_defaults_to_the_os_user(sqlite_url: str, tmp_path: Path,
                                         receiver: Any) -> None:
    incidents(sqlite_url, 1)
    receiver.status = 400
    cli("notify", "run", "--once", "--config", str(write_config(tmp_path, receiver.url)),
        "--db", sqlite_url)
    (one, *_) = deliveries(sqlite_url, "--state", "dead")
    assert cli("notify", "retry", one["id"], "--db", sqlite_url).exit_code == 0
    detail = json.loads(cli("notify", "show", one["id"], "--db", sqlite_url, "--json").stdout)
    assert detail["attempts"][-1]["by"] == os_user()


def test_notify_test_reaches_the_receiver_marked_as_a_test(
        tmp_path: Path, sqlite_url: str, receiver: Any) -> None:
    config = write_config(tmp_path, receiver.url)
    sent = cli("notify", "test", "--route", "everything", "--config", str(config), "--db",
               sqlite_url, "--by", "bob")
    assert sent.exit_code == 0, sent.output
    assert "accepted" in sent.stdout and "200" in sent.stdout
    (got,) = receiver.snapshot()
    body = got.json()
    assert body["test"] is True and body["route"] == "everything" and body["kind"] == "test"
    assert receiving.verify(SECRET, got)
    assert deliveries(sqlite_url) == []  # nothing entered the outbox

    receiver.status = 500
    refused = cli("notify", "test", "--route", "everything", "--config", str(config), "--db",
                  sqlite_url)
    assert refused.exit_code == 1
    assert "delivery_failed" in refused.stderr and "500" in refused.stderr
    assert SECRET not in refused.output and receiver.url not in refused.output


def test_an_invalid_config_exits_2_naming_the_key_and_never_the_secret(
        tmp_path: Path, sqlite_url: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[channels.hook]\ntype = "webhook"\nurl = "ftp://example.com/x"\n'
                      'secret_env = "NOTIFY_TEST_SECRET"\n'
                      '[routes.everything]\nchannel = "nowhere"\n')
    for command in (["notify", "run", "--once"], ["notify", "test", "--route", "everything"]):
        answer = cli(*command, "--config", str(config), "--db", sqlite_url)
        assert answer.exit_code == 2, answer.output
        assert "invalid_notify_config" in answer.stderr
        assert "channels.hook.url" in answer.stderr and "routes.everything.channel" in answer.stderr
        assert SECRET not in answer.output
    slack_url = "http://hooks.example.com/services/T000/B000/not-for-logs"
    config.write_text('[channels.team]\ntype = "slack"\nurl_env = "NOTIFY_SLACK_URL"\n'
                      '[routes.all]\nchannel = "team"\n')
    answer = cli("notify", "run", "--once", "--config", str(config), "--db", sqlite_url,
                 env={"NOTIFY_SLACK_URL": slack_url})
    assert answer.exit_code == 2 and "channels.team.url_env" in answer.stderr
    assert "not-for-logs" not in answer.output and "NOTIFY_SLACK_URL" in answer.stderr
    missing = cli("notify", "run", "--once", "--db", sqlite_url)
    assert missing.exit_code == 2 and "OPSLEDGER_NOTIFY_CONFIG" in missing.output
    from_env = cli("notify", "run", "--once", "--db", sqlite_url,
                   env={"OPSLEDGER_NOTIFY_CONFIG": str(config)})
    assert from_env.exit_code == 2 and "channels.team.url_env" in from_env.stderr
    assert SECRET not in from_env.output


def test_run_once_refuses_while_another_worker_holds_the_notify_leadership(
        tmp_path: Path, receiver: Any) -> None:
    path = tmp_path / "store.db"
    db = f"sqlite:///{path}"
    incidents(db, 1)
    held = FileLeadership(str(path), "notify")
    assert held.hold()
    sweeper = FileLeadership(str(path))  # the sweep's leadership is another lock
    assert sweeper.hold()
    try:
        answer = cli("notify", "run", "--once", "--config",
                     str(write_config(tmp_path, receiver.url)), "--db", db)
        assert answer.exit_code == 1 and "notify leadership" in answer.stderr
        assert receiver.count() == 0
    finally:
        held.release()
        sweeper.release()
    answer = cli("notify", "run", "--once", "--config", str(write_config(tmp_path, receiver.url)),
                 "--db", db)
    assert answer.exit_code == 0 and receiver.count() > 0


def test_the_readme_signature_recipe_verifies_a_real_webhook(
        tmp_path: Path, sqlite_url: str, receiver: Any) -> None:
    (block,) = re.findall(r"^```py\n(.*?)^```$", README.read_text(), re.S | re.M)
    recipe: dict[str, Any] = {}
    exec(compile(block, str(README), "exec"), recipe)
    verify = recipe["verify"]
    config = write_config(tmp_path, receiver.url)
    assert cli("notify", "test", "--route", "everything", "--config", str(config), "--db",
               sqlite_url).exit_code == 0
    (got,) = receiver.snapshot()
    headers = {"X-Opsledger-Timestamp": got.headers["x-opsledger-timestamp"],
               "X-Opsledger-Signature": got.headers["x-opsledger-signature"]}
    assert verify(SECRET.encode(), headers, got.body)
    assert not verify(b"another secret", headers, got.body)
    assert not verify(SECRET.encode(), headers, got.body + b" ")
    stale = str(int(headers["X-Opsledger-Timestamp"]) - 301)
    assert not verify(SECRET.encode(), {**headers, "X-Opsledger-Timestamp": stale}, got.body)


def test_the_worker_finishes_its_step_on_sigterm_releases_the_leadership_and_exits_0(
        tmp_path: Path, receiver: Any) -> None:
    path = tmp_path / "store.db"
    db = f"sqlite:///{path}"
    incidents(db, 2)
    config = write_config(tmp_path, receiver.url)
    err = tmp_path / "worker.err"
    env = {**os.environ, "OPSLEDGER_DB": db, **ENV}
    with err.open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "opsledger.cli", "notify", "run",
                                   "--config", str(config), "--tick", "0.1", "--json"],
                                  stdout=subprocess.PIPE, stderr=log, env=env)
        try:
            assert receiver.wait_for(10, 60), err.read_text()  # 2 incidents: 10 notifications
            assert not FileLeadership(str(path), "notify").hold()  # the worker holds it
            worker.send_signal(signal.SIGTERM)
            out, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert worker.returncode == 0, err.read_text()
    (step,) = [json.loads(line) for line in out.decode().splitlines()]  # one step did something
    assert step["delivered"] == 10 and step["at"].endswith("Z")
    logs = err.read_text()
    assert "took notify leadership" in logs and "notify leadership released" in logs
    assert "delivered 10" in logs and SECRET not in logs and "/hook" not in logs
    again = FileLeadership(str(path), "notify")
    assert again.hold()
    again.release()
