"""``opsledger verify`` reports any change to a stored row — whatever type or encoding the
tampering gave it — as a break at its position, never a traceback (issue 13, point 5; the
finding: a ``state`` column rewritten as TEXT ended in a 40-line ``Could not decode to
UTF-8`` traceback). A rebuild over such a store stops the views there instead of failing."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from opsledger import Operations, import_pumuki_audit
from opsledger.cli.main import main

AT = 100  # the tampered event's position
TAMPERINGS = {
    "state rewritten as TEXT": "UPDATE stored_events SET state = CAST(state AS TEXT)",
    "state NULL": "UPDATE stored_events SET state = NULL",
    "state an integer": "UPDATE stored_events SET state = 42",
    "state empty": "UPDATE stored_events SET state = X''",
    "topic not UTF-8 (blob)": "UPDATE stored_events SET topic = X'fffe00'",
    "topic not UTF-8 (text)": "UPDATE stored_events SET topic = CAST(X'fffe' AS TEXT)",
    "topic not JSON-like": "UPDATE stored_events SET topic = '{\"a\":'",
    "topic NULL": "UPDATE stored_events SET topic = NULL",
    "version as text": "UPDATE stored_events SET originator_version = 'one'",
    "version a float": "UPDATE stored_events SET originator_version = 1.5",
    "originator_id NULL": "UPDATE stored_events SET originator_id = NULL",
    "originator_id a blob": "UPDATE stored_events SET originator_id = "
                            "CAST(originator_id AS BLOB)",
}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store holding the bundled sample (571 lines), caught up."""
    sample = Path(__file__).resolve().parents[2] / "opsledger" / "samples" / \
        "saas-ingestion-audit.ndjson"
    db = tmp_path_factory.mktemp("base") / "store.db"
    with Operations.open(f"sqlite:///{db}") as ops:
        import_pumuki_audit(ops, [sample.read_bytes().splitlines()], register_unknown=True)
        ops.catch_up()
    return db


def _copy(base: Path, tmp_path: Path) -> Path:
    db = tmp_path / "copy.db"
    shutil.copy(base, db)
    shutil.copy(f"{base}.keys", f"{db}.keys")
    return db


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("statement", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_verify_names_the_tampered_position_whatever_the_type(
    base: Path, tmp_path: Path, statement: str
) -> None:
    db = _copy(base, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute(f"{statement} WHERE rowid = ?", (AT,))
    result = _cli("verify", "--db", f"sqlite:///{db}", "--json")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    report = json.loads(result.stdout)
    assert (report["ok"], report["first_bad_position"], report["events_checked"]) == (
        False, AT, AT - 1)
    assert report["reason"]
    text = _cli("verify", "--db", f"sqlite:///{db}")
    assert text.exit_code == 1 and f"at position {AT}" in text.stdout


def test_a_chain_link_rewritten_as_text_is_a_break(base: Path, tmp_path: Path) -> None:
    db = _copy(base, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE opsledger_chain SET hash = CAST(hash AS TEXT) "
                     "WHERE notification_id = ?", (AT,))
    result = _cli("verify", "--db", f"sqlite:///{db}", "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["first_bad_position"] == AT


@pytest.mark.parametrize("statement", [TAMPERINGS["state NULL"],
                                       TAMPERINGS["state an integer"],
                                       TAMPERINGS["state rewritten as TEXT"]])
def test_a_rebuild_over_a_tampered_event_stops_the_views_there(
    base: Path, tmp_path: Path, statement: str
) -> None:
    db = _copy(base, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute(f"{statement} WHERE rowid = ?", (AT,))
    url = f"sqlite:///{db}"
    rebuilt = _cli("projections", "rebuild", "--db", url)
    assert rebuilt.exit_code == 0, rebuilt.output
    status = {r["view"]: r for r in json.loads(
        _cli("projections", "status", "--db", url, "--json").stdout)}
    if "TEXT" in statement:  # the same bytes: the views read it as before
        assert not any(r["stopped"] for r in status.values())
        return
    stopped = {name: r["failed_at"] for name, r in status.items() if r["stopped"]}
    assert stopped and set(stopped.values()) == {AT}
    doctor = _cli("doctor", "--db", url, "--json")
    assert doctor.exit_code == 1
    assert {f["check"] for f in json.loads(doctor.stdout)["findings"]
            if f["level"] == "action"} >= {"view", "chain"}


def test_postgresql_rows_altered_within_what_the_types_allow(
    pg_url: str, sample_audit: Path
) -> None:
    import psycopg

    with Operations.open(pg_url) as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()[:200]],
                            register_unknown=True)
        events = ops.sql.table(ops.sql.events_table)
    base = pg_url.split("?")[0]

    def tamper(statement: str, *params: Any) -> int:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(statement, params)
        result = _cli("verify", "--db", pg_url, "--json")
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), \
            result.output
        return int(json.loads(result.stdout)["first_bad_position"])

    assert tamper(f"ALTER TABLE {events} ALTER COLUMN topic DROP NOT NULL; "
                  f"UPDATE {events} SET topic = NULL WHERE notification_id = {AT}") == AT
    assert tamper(f"UPDATE {events} SET topic = '{{' WHERE notification_id = %s", AT - 10) \
        == AT - 10
    assert tamper(f"ALTER TABLE {events} ALTER COLUMN state TYPE text "
                  "USING encode(state, 'escape')") == 1
