"""kill -9 an import at random points, run it again: the store equals an uninterrupted import.

Each kill waits until the child has committed a random number of events (polling the
SQLite file, which WAL lets us read while the child writes), so every kill lands in the
middle of the import rather than during interpreter start-up.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from opsledger import Operations
from opsledger.simulate import SimulationConfig, default_episodes, simulate

LINES_DAYS = 2


def _input(tmp_path: Path) -> Path:
    config = SimulationConfig(days=LINES_DAYS, tenants=2, seed=11, operations_per_day=2500)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    path = tmp_path / "audit.ndjson"
    with path.open("wb") as out:
        simulate(config, out)
    return path


def _import_cmd(db: Path, audit: Path) -> list[str]:
    return [sys.executable, "-m", "opsledger.cli", "import", "pumuki-audit", str(audit),
            "--register-unknown", "--db", f"sqlite:///{db}"]


def _events(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _kill_after(db: Path, audit: Path, target: int) -> int:
    child = subprocess.Popen(_import_cmd(db, audit), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        while child.poll() is None and _events(db) < target:
            time.sleep(0.005)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return _events(db)


def _run_with_kills(tmp_path: Path, kills: int, snapshot: Any) -> None:
    audit = _input(tmp_path)
    reference = tmp_path / "reference.db"
    subprocess.run(_import_cmd(reference, audit), check=True, capture_output=True)
    with Operations.open(f"sqlite:///{reference}") as ops:
        expected = snapshot(ops)
    total = len(expected["events"])
    rng = random.Random(2026)
    done = interrupted = sessions = 0
    while done < kills:
        db = tmp_path / f"killed-{sessions}.db"
        sessions += 1
        # Several kills in one history, each after a random number of further events.
        while done < kills and (before := _events(db)) < total - 1:
            after = _kill_after(db, audit, min(total - 1, before + rng.randint(1, 2500)))
            done += 1
            interrupted += int(after < total)
        subprocess.run(_import_cmd(db, audit), check=True, capture_output=True)
        with Operations.open(f"sqlite:///{db}") as ops:
            assert snapshot(ops) == expected, f"{db.name} differs from the uninterrupted import"
    assert interrupted >= kills // 2, "most kills must land before the import finished"


def test_kill_9_at_20_random_points_then_rerun_gives_the_uninterrupted_store(
    tmp_path: Path, snapshot: Any
) -> None:
    _run_with_kills(tmp_path, kills=20, snapshot=snapshot)


@pytest.mark.slow
def test_kill_9_at_100_random_points(tmp_path: Path, snapshot: Any) -> None:
    _run_with_kills(tmp_path, kills=100, snapshot=snapshot)
