"""kill -9 a projection catch-up at random positions, catch up again: the views equal an
uninterrupted run (each batch writes its rows and its tracking position in one
transaction)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from opsledger_test_support import tracking_position

from opsledger import Operations, import_pumuki_audit
from opsledger.simulate import SimulationConfig, default_episodes, simulate


def _store(tmp_path: Path, name: str, audit: Path) -> Path:
    path = tmp_path / name
    with Operations.open(f"sqlite:///{path}") as ops, audit.open("rb") as lines:
        import_pumuki_audit(ops, [lines], register_unknown=True)  # no catch-up: views empty
    return path




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
