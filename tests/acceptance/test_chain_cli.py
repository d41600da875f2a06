"""``opsledger verify`` / ``opsledger checkpoint`` through the CLI: the script contract
(exit 0 when the chain holds, 1 when not, 2 on input errors; JSON ok, events_checked,
first_bad_position), a flipped byte, a truncation against a checkpoint, a wrong key."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opsledger import Operations, import_pumuki_audit


def _cli(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPSLEDGER_CHECKPOINT_KEY"}
    if key is not None:
        env["OPSLEDGER_CHECKPOINT_KEY"] = key
    return subprocess.run([sys.executable, "-m", "opsledger.cli", *args], capture_output=True,
                          text=True, env=env)


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    assert set(data) == {"ok", "events_checked", "first_bad_position", "reason"}
    return data


@pytest.mark.policy("5.audit_trail")
def test_verify_and_checkpoint_through_the_cli(tmp_path: Path, sample_audit: Path) -> None:
    db_path = tmp_path / "c.db"
    db = f"sqlite:///{db_path}"
    with Operations.open(db) as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()],
                            register_unknown=True)
        head = ops.views.head()
    ok = _cli("verify", "--db", db, "--json")
    assert ok.returncode == 0, ok.stderr
    assert _json(ok) == {"ok": True, "events_checked": head, "first_bad_position": None,
                         "reason": None}

    point = tmp_path / "cp.json"
    missing = _cli("checkpoint", "--db", db, "--out", str(point))
    assert missing.returncode == 2 and "checkpoint_key_missing" in missing.stderr
    made = _cli("checkpoint", "--db", db, "--out", str(point), "--json", key="s3cret")
    assert made.returncode == 0 and json.loads(made.stdout)["n"] == head
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    held = _cli("verify", "--db", db, "--checkpoint", str(point), "--key-file", str(key_file))
    assert held.returncode == 0 and "matching the checkpoint" in held.stdout
    wrong = _cli("verify", "--db", db, "--checkpoint", str(point), "--json", key="guess")
    assert wrong.returncode == 1 and "signature" in _json(wrong)["reason"]

    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid >= ?", (head - 9,))
        conn.execute("DELETE FROM opsledger_chain WHERE notification_id >= ?", (head - 9,))
    alone = _cli("verify", "--db", db, "--json")
    assert alone.returncode == 0  # a shorter chain holds on its own: hence checkpoints
    cut = _cli("verify", "--db", db, "--checkpoint", str(point), "--json", key="s3cret")
    assert cut.returncode == 1
    assert (_json(cut)["ok"], _json(cut)["first_bad_position"]) == (False, head - 9)

    with sqlite3.connect(db_path) as conn:
        (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid = 42").fetchone()
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = 42",
                     (state[:-2] + bytes([state[-2] ^ 1]) + state[-1:],))
    broken = _cli("verify", "--db", db)
    assert broken.returncode == 1 and "position 42" in broken.stdout
    assert _json(_cli("verify", "--db", db, "--json"))["first_bad_position"] == 42
