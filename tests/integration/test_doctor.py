"""``opsledger doctor``: exit 0 on a healthy store; exit 1 with a finding and its fix for a
key file readable by others or a broken hash chain (stopped views: see
test_view_stops.py); text and ``--json`` tell the same findings."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from opsledger import Operations, import_pumuki_audit
from opsledger.cli.main import main
from opsledger.reports.doctor import CHAIN_TAIL, diagnose


def _doctor(url: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["doctor", "--db", url, "--json", *extra])
    assert isinstance(result.exception, SystemExit | None), result.output
    return result.exit_code, json.loads(result.stdout)


def _filled(url: str, sample_audit: Path) -> None:
    with Operations.open(url) as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()[:150]],
                            register_unknown=True)
        ops.catch_up()


def _actions(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in report["findings"] if f["level"] == "action"}


def test_a_healthy_sqlite_store_then_each_problem_with_its_fix(
    tmp_path: Path, sample_audit: Path
) -> None:
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    _filled(url, sample_audit)
    keys = Path(f"{db}.keys")
    os.chmod(keys, 0o600)
    code, report = _doctor(url)
    assert (code, report["healthy"], _actions(report)) == (0, True, {})
    assert {f["check"] for f in report["findings"]} >= {"view", "alert-process", "chain", "keys",
                                                         "schema"}
    text = CliRunner().invoke(main, ["doctor", "--db", url])
    assert text.exit_code == 0 and "healthy" in text.stdout

    os.chmod(keys, 0o644)  # the finding of issue 13 (6): keys readable by everyone
    code, report = _doctor(url)
    assert code == 1 and _actions(report)["keys"]["fix"] == f"run `chmod 600 {keys}`"
    assert oct(keys.stat().st_mode & 0o777) == oct(0o644)  # read-only: the doctor changed nothing
    os.chmod(keys, 0o600)

    with sqlite3.connect(db) as conn:  # tamper with the newest event
        conn.execute("UPDATE stored_events SET topic = 'x' WHERE rowid = "
                     "(SELECT MAX(rowid) FROM stored_events)")
        head = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    code, report = _doctor(url)
    actions = _actions(report)
    assert code == 1 and actions["chain"]["position"] == head
    assert "opsledger verify" in actions["chain"]["fix"]
    text = CliRunner().invoke(main, ["doctor", "--db", url])
    assert text.exit_code == 1 and "needs action" in text.stdout and "fix:" in text.stdout


def test_the_quick_chain_check_walks_the_newest_links_and_full_walks_all(
    tmp_path: Path, sample_audit: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _filled(url, sample_audit)
    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("UPDATE stored_events SET topic = 'x' WHERE rowid = 1")
    with Operations.open(url) as ops:
        quick = {f.check: f for f in diagnose(ops).findings}["chain"]
        full = {f.check: f for f in diagnose(ops, full=True).findings}["chain"]
        head = ops.views.head()
    assert head < CHAIN_TAIL  # a small store: the quick check is the whole chain
    assert (quick.level, full.level, full.position) == ("action", "action", 1)


def test_a_healthy_postgresql_store(pg_url: str, sample_audit: Path) -> None:
    _filled(pg_url, sample_audit)
    code, report = _doctor(pg_url)
    assert (code, _actions(report)) == (0, {})
    assert {f["check"]: f["level"] for f in report["findings"]}["keys"] == "ok"
