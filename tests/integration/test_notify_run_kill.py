"""kill -9 of the delivery worker (``opsledger notify run``) at 100 random points over a
stream of 1,000 notifications (issue 16, must show): afterwards every notification was
received at least once, each repeat carries the same dedup key and the same body, none is
lost, and per subject (and route) the first receipt of each notification is in log order.

The store holds 200 SEV1 incidents, each opened, escalated (its acknowledgement missed: the
secondary owner's route), its first status update missed, acknowledged and resolved: five
notifications per subject. A receiver on 127.0.0.1 records every body and answers 200. The
worker runs as a real process (``python -m opsledger.cli notify run --tick 0.05``); 100
times the test waits until the receiver has read k more bodies (k random in 1..12, so the
100 kills land within the stream) — plus a
random few milliseconds, so kills land inside the database steps too — and SIGKILLs it, then
starts another. Last, ``notify run --once`` until nothing is pending. (``test_notify_kill``
forks the worker's step from this process; this one runs the command as operators do,
interpreter start-up included: about 1 s of each restart.)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import opsledger_test_notify as receiving
import pytest

from opsledger import Operations

INCIDENTS = 200
KILLS = 100
#: The whole test fails (rather than hangs) past this many seconds.
BUDGET = 900.0
#: The longest wait for the receiver to read k more bodies after a (re)start.
WAIT = 60.0


def _worker(db: str, config: Path, err: Any, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPSLEDGER_DB": db, receiving.SECRET_ENV: receiving.SECRET}
    env.pop("OPSLEDGER_NOTIFY_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "opsledger.cli", "notify", "run",
                             "--config", str(config), *extra],
                            stdout=subprocess.DEVNULL, stderr=err, env=env)


def _outbox(db: str) -> tuple[dict[str, Any], list[Any]]:
    """Every notification by id, and every delivery, as the store has them."""
    with Operations.open(db) as ops:
        ops.catch_up()
        notes: dict[str, Any] = {}
        while page := ops.outbox(after=max((n.position for n in notes.values()), default=0),
                                 limit=1000):
            notes.update((n.notification_id, n) for n in page)
        return notes, list(ops.notifications(limit=10_000))


@pytest.mark.slow  # ~100 worker start-ups
def test_kill_9_of_the_delivery_worker_at_100_points_loses_nothing_and_keeps_order(
        tmp_path: Path) -> None:
    began = time.monotonic()
    path = tmp_path / "store.db"
    db = f"sqlite:///{path}"
    receiving.incidents(db, INCIDENTS, ago=timedelta(hours=3))
    notes, _ = _outbox(db)
    assert len(notes) == 5 * INCIDENTS
    setup = time.monotonic() - began

    receiver = receiving.Receiver()
    config = receiving.write_config(tmp_path, receiver.url)
    log = (tmp_path / "worker.err").open("wb")
    rng = random.Random(1616)
    kills = 0
    startups: list[float] = []
    try:
        while kills < KILLS:
            _check_budget(began, f"{kills} kills so far")
            seen = receiver.count()
            k = rng.randint(1, 12)
            started = time.monotonic()
            worker = _worker(db, config, log, "--tick", "0.05")
            arrived = receiver.wait_for(seen + 1, WAIT)
            startups.append(time.monotonic() - started)
            arrived = arrived and receiver.wait_for(seen + k, WAIT)
            time.sleep(rng.uniform(0, 0.01))
            if worker.poll() is not None:
                raise AssertionError(f"the worker exited on its own ({worker.returncode}): "
                                     f"{_tail(tmp_path / 'worker.err')}")
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            kills += 1
            assert arrived, (f"the receiver read {receiver.count() - seen} of {k} more bodies "
                             f"in {WAIT} s after start {kills} (read {receiver.count()} in all, "
                             f"{len(notes)} notifications): {_tail(tmp_path / 'worker.err')}")
        for _ in range(60):  # let one run finish: --once until nothing is pending
            _check_budget(began, "the final runs")
            once = _worker(db, config, log, "--once")
            assert once.wait(timeout=120) == 0, _tail(tmp_path / "worker.err")
            if not [d for d in _outbox(db)[1] if d.state in ("pending", "failed")]:
                break
            time.sleep(0.5)  # a delivery in its backoff
    finally:
        log.close()
        receiver.close()

    got = receiver.snapshot()
    _, stored = _outbox(db)
    first: dict[tuple[str, str], Any] = {}
    repeats = 0
    for r in got:
        body = r.json()
        key = (body["dedup_key"], body["route"])
        assert r.headers["x-opsledger-dedup-key"] == body["dedup_key"]
        assert receiving.verify(receiving.SECRET, r)
        if key in first:
            repeats += 1
            assert r.body == first[key].body, f"a repeat of {key} differs from its first body"
        else:
            first[key] = r
    expected = {(d.notification_id, d.route) for d in stored}
    assert {d.state for d in stored} == {"delivered"}
    assert len(stored) == len(notes) and {n for n, _ in expected} == set(notes)
    assert set(first) == expected, f"never received: {sorted(expected - set(first))[:5]}"
    by_subject: dict[tuple[str, str], list[int]] = defaultdict(list)
    for (note, route), _ in sorted(first.items(), key=lambda item: item[1].order):
        by_subject[(notes[note].subject, route)].append(notes[note].position)
    out_of_order = {s: p for s, p in by_subject.items() if p != sorted(p)}
    assert not out_of_order, f"first receipts out of log order: {list(out_of_order.items())[:3]}"

    wall = time.monotonic() - began
    print(f"\nnotify kill -9: {kills} kills, {len(notes)} notifications, {len(expected)} "
          f"deliveries over {len(by_subject)} subject-routes; received {len(got)} bodies "
          f"({repeats} repeats); worker start to first body median "
          f"{sorted(startups)[len(startups) // 2]:.2f} s; setup {setup:.1f} s, wall "
          f"{wall:.1f} s")


def _check_budget(began: float, where: str) -> None:
    if time.monotonic() - began > BUDGET:
        raise AssertionError(f"over the {BUDGET:.0f} s budget at {where}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]
