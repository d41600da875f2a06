"""kill -9 an import at random points, run it again: the store equals an uninterrupted import.

The default tier runs the CLI as a subprocess and kills it once it has committed a random
number of events (polling the SQLite file, which WAL lets us read while the child writes),
so every kill lands in the middle of the import rather than during interpreter start-up.

The slow tier (issue 13: >= 1,000 kill points with the catch-up test) forks the CLI from
this process, where opsledger is already imported, and kills it at a random moment of its
run (uniform over an uninterrupted run's duration: opening the store, parsing, the chunk
transactions, the alert sweep and catch-up after the import). One uninterrupted reference
per seed; each history starts from a copy of an empty store and is killed again and again
until a run ends by itself, then compared with the reference.
"""

from __future__ import annotations

import importlib.util
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
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

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


@pytest.mark.slow  # kill -9 in subprocesses; see test_load_from_zero for the default tier
def test_kill_9_at_20_random_points_then_rerun_gives_the_uninterrupted_store(
    tmp_path: Path, snapshot: Any
) -> None:
    _run_with_kills(tmp_path, kills=20, snapshot=snapshot)


_spec = importlib.util.spec_from_file_location("opsledger_test_kill",
                                               Path(__file__).with_name("_kill.py"))
assert _spec and _spec.loader
kill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kill)

SLOW_SEEDS = (11, 12, 13)
SLOW_KILLS_PER_SEED = 160  # with test_kill_catch_up (3 x 190): 1,050 kill points in the slow tier
MAX_KILLS_PER_HISTORY = 25


def _forked_kills(tmp_path: Path, seed: int, kills: int, snapshot: Any) -> tuple[int, int]:
    config = SimulationConfig(days=1, tenants=2, seed=seed, operations_per_day=600)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit = tmp_path / "audit.ndjson"
    with audit.open("wb") as out:
        simulate(config, out)
    empty = tmp_path / "empty.db"
    with Operations.open(f"sqlite:///{empty}"):
        pass  # the schema and key store, copied as the start of every history

    def argv(db: Path) -> list[str]:
        return ["import", "pumuki-audit", str(audit), "--register-unknown", "--db",
                f"sqlite:///{db}"]

    reference = kill.copy_store(empty, tmp_path / "reference.db")
    code, full = kill.run_to_end(argv(reference))
    assert code == 0
    with Operations.open(f"sqlite:///{reference}") as ops:
        expected = snapshot(ops)
    assert len(expected["events"]) > 1200  # >= 2 import chunks of 1,000 lines
    rng = random.Random(seed)
    done = histories = 0
    while done < kills:
        db = kill.copy_store(empty, tmp_path / f"history-{histories}.db")
        histories += 1
        in_history = 0
        while (done < kills and in_history < MAX_KILLS_PER_HISTORY
               and kill.run_until_killed(argv(db), rng.uniform(0.0, full))):
            done += 1
            in_history += 1
        assert kill.run_to_end(argv(db))[0] == 0, f"{db.name}: the rerun failed"
        with Operations.open(f"sqlite:///{db}") as ops:
            assert snapshot(ops) == expected, (
                f"seed {seed}, {db.name} ({in_history} kills) differs from the uninterrupted "
                "import")
        for path in tmp_path.glob(f"{db.name}*"):
            path.unlink()
    return done, histories


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_kill_9_at_160_random_moments_per_seed_then_rerun_gives_the_uninterrupted_store(
    tmp_path: Path, snapshot: Any, seed: int
) -> None:
    done, histories = _forked_kills(tmp_path, seed, SLOW_KILLS_PER_SEED, snapshot)
    assert done == SLOW_KILLS_PER_SEED and histories >= 2
