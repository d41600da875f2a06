"""kill -9 a projection catch-up at random positions, catch up again: the views equal an
uninterrupted run (each batch writes its rows and its tracking position in one
transaction).

The slow tier (issue 13: >= 1,000 kill points with the import test) forks
``opsledger projections catch-up`` from this process and kills it at a random moment of its
run — opening the store, reading and decoding a batch, inside and between the batch
transactions (the bulk-load path from zero has its own kill test, test_kill_rebuild). Each
seed's event-only store is built once and copied for the reference and for every history.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from opsledger_test_support import tracking_position

from opsledger import Operations, import_pumuki_audit
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate


def _store(tmp_path: Path, name: str, audit: Path) -> Path:
    path = tmp_path / name
    with Operations.open(f"sqlite:///{path}") as ops, audit.open("rb") as lines:
        import_pumuki_audit(ops, [lines], register_unknown=True)  # no catch-up: views empty
    return path




@pytest.mark.slow  # kill -9; an interrupted load is finished by catch-up in test_load_from_zero
def test_kill_9_during_catch_up_then_catch_up_again(tmp_path: Path, snapshot: Any) -> None:
    config = SimulationConfig(days=2, tenants=2, seed=4, operations_per_day=2500)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit = tmp_path / "audit.ndjson"
    with audit.open("wb") as out:
        simulate(config, out)
    reference, victim = _store(tmp_path, "reference.db", audit), _store(tmp_path, "victim.db",
                                                                         audit)
    with Operations.open(f"sqlite:///{reference}") as ops:
        total = ops.views.head()
        expected = snapshot(ops)["views"]
    rng = random.Random(99)
    command = [sys.executable, "-m", "opsledger.cli", "projections", "catch-up",
               "--db", f"sqlite:///{victim}"]
    kills = 0
    while kills < 6 and (start := tracking_position(victim)) < total - 1000:
        target = start + rng.randint(1, 3000)
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while child.poll() is None and tracking_position(victim) < target:
            time.sleep(0.002)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait()
    assert kills >= 3
    subprocess.run(command, check=True, capture_output=True)
    with Operations.open(f"sqlite:///{victim}") as ops:
        assert snapshot(ops)["views"] == expected


_spec = importlib.util.spec_from_file_location("opsledger_test_kill",
                                               Path(__file__).with_name("_kill.py"))
assert _spec and _spec.loader
kill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kill)

SLOW_SEEDS = (4, 5, 6)
SLOW_KILLS_PER_SEED = 190  # with test_kill_import (3 x 160): 1,050 kill points in the slow tier
MAX_KILLS_PER_HISTORY = 25


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_kill_9_during_catch_up_at_190_random_moments_per_seed(
    tmp_path: Path, snapshot: Any, seed: int
) -> None:
    config = SimulationConfig(days=1, tenants=2, seed=seed, operations_per_day=1000)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit = tmp_path / "audit.ndjson"
    with audit.open("wb") as out:
        simulate(config, out)
    events_only = _store(tmp_path, "events-only.db", audit)

    def argv(db: Path) -> list[str]:
        return ["projections", "catch-up", "--db", f"sqlite:///{db}"]

    reference = kill.copy_store(events_only, tmp_path / "reference.db")
    code, full = kill.run_to_end(argv(reference))
    assert code == 0
    with Operations.open(f"sqlite:///{reference}") as ops:
        assert ops.views.head() > 2000  # >= 3 catch-up batches of 1,000 events
        expected = snapshot(ops)["views"]
    rng = random.Random(seed)
    done = histories = 0
    while done < SLOW_KILLS_PER_SEED:
        victim = kill.copy_store(events_only, tmp_path / f"history-{histories}.db")
        histories += 1
        in_history = 0
        while (done < SLOW_KILLS_PER_SEED and in_history < MAX_KILLS_PER_HISTORY
               and kill.run_until_killed(argv(victim), rng.uniform(0.0, full))):
            done += 1
            in_history += 1
        assert kill.run_to_end(argv(victim))[0] == 0, f"{victim.name}: catch-up failed"
        with Operations.open(f"sqlite:///{victim}") as ops:
            assert snapshot(ops)["views"] == expected, (
                f"seed {seed}, {victim.name} ({in_history} kills) differs from the "
                "uninterrupted catch-up")
        for path in tmp_path.glob(f"{victim.name}*"):
            path.unlink()
    assert histories >= 2
