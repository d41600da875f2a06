"""kill -9 a rebuild in place (of the views named: a load from zero, indexes dropped, rows
staged) at random positions, then let catch-ups resume and be killed too: the views end
equal to incrementally maintained ones, the dropped indexes are back and no load table is
left. (A rebuild of every view into a fresh views file is killed in test_views_db.)"""

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
from opsledger.projections.runner import BULK_FROM
from opsledger_test_support import tracking_position

from opsledger import Operations, import_pumuki_audit
from opsledger.sim.simulate import SimulationConfig, simulate
from opsledger.store.views_db import ViewsFile


def _catalog(db: Path) -> set[str]:
    views = ViewsFile(str(db)).current_path()  # the views' own file
    with sqlite3.connect(f"file:{views}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


@pytest.mark.slow  # kill -9; an interrupted load is finished by catch-up in test_load_from_zero
def test_kill_9_during_a_rebuild_then_catch_up(tmp_path: Path, snapshot: Any) -> None:
    config = SimulationConfig(days=2, tenants=2, seed=6, operations_per_day=BULK_FROM // 2 + 500)
    audit = tmp_path / "audit.ndjson"
    with audit.open("wb") as out:
        simulate(config, out)
    db = tmp_path / "victim.db"
    with Operations.open(f"sqlite:///{db}") as ops, audit.open("rb") as lines:
        import_pumuki_audit(ops, [lines], register_unknown=True)
        total = ops.views.head()
        assert total > BULK_FROM
        ops.views.bulk_from = total + 1  # the reference: plain incremental catch-up
        ops.views.catch_up()
        expected = snapshot(ops)["views"]
    indexes = {"audit_publish_identity", "audit_publish_scope", "audit_publish_key",
               "slo_freshness_due"}
    assert indexes <= _catalog(db)
    rng = random.Random(5)
    base = [sys.executable, "-m", "opsledger.cli", "projections"]
    kills = 0
    for step in range(4):
        named = [arg for view in ("audit", "slo", "alerts", "incidents", "outbox", "retention")
                 for arg in ("--view", view)]  # (named: rebuilt in place)
        command = [*base, *(["rebuild", *named] if step == 0 else ["catch-up"]),
                   "--db", f"sqlite:///{db}"]
        start = 0 if step == 0 else tracking_position(db)
        target = start + rng.randint(1000, 4000)
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while child.poll() is None and not target <= tracking_position(db) < total:
            time.sleep(0.002)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait()
        if step == 0:
            assert "slo_freshness_load" in _catalog(db)  # killed mid-load
            assert not indexes & _catalog(db)
    assert kills >= 3
    subprocess.run([*base, "catch-up", "--db", f"sqlite:///{db}"], check=True,
                   capture_output=True)
    catalog = _catalog(db)
    assert indexes <= catalog
    assert not {"audit_flips_load", "audit_publish_load", "slo_freshness_load"} & catalog
    with Operations.open(f"sqlite:///{db}") as ops:
        assert snapshot(ops)["views"] == expected
