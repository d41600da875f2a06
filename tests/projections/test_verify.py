"""``projections verify``: the live views equal a rebuild from the events, and a view row
altered by hand is found and named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.reports.verify import verify_views

# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


def _populated(url: str, sample_dir: Path) -> Operations:
    ops = Operations.open(url)
    import_pumuki_audit(ops, [(sample_dir / "saas-ingestion-audit.ndjson").read_bytes()
                              .splitlines()], register_unknown=True)
    import_snapshots(ops, [(sample_dir / "downstream-snapshots.ndjson").read_bytes()
                           .splitlines()])
    ops.advance_by_event_time()  # alerts, incidents, freshness and incident deadlines
    return ops


@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_verify_passes_after_a_normal_run_and_names_an_altered_row(
    store_url: str, sample_dir: Path
) -> None:
    ops = _populated(store_url, sample_dir)
    try:
        result = verify_views(ops)
        assert result.ok and result.events_checked == ops.views.head()
        with ops.sql.transaction(commit=True) as cursor:
            ops.sql.execute(cursor, f"UPDATE {ops.sql.table('alerts')} SET observed = 0.5 "
                                    "WHERE rule = ?", ("auth_scope_failures",))
        broken = verify_views(ops)
        assert (broken.ok, broken.table) == (False, "alerts")
        assert broken.live_row is not None and broken.rebuilt_row is not None
        assert (broken.live_row["observed"], broken.rebuilt_row["observed"]) == (0.5, 6.0)
    finally:
        ops.close()


def test_a_deleted_view_row_is_found(sample_dir: Path) -> None:
    with _populated("memory://", sample_dir) as ops:
        with ops.sql.transaction(commit=True) as cursor:
            ops.sql.execute(cursor, "DELETE FROM incident_deadlines WHERE kind = 'rca'")
            ops.sql.execute(cursor, "DELETE FROM audit_publish WHERE rowid = (SELECT MAX(rowid) "
                                    "FROM audit_publish)")
        result = verify_views(ops)
        assert (result.ok, result.table) == (False, "audit_publish")


def test_the_cli_exit_codes(tmp_path: Path, sample_dir: Path) -> None:
    db = tmp_path / "v.db"
    _populated(f"sqlite:///{db}", sample_dir).close()
    run = [sys.executable, "-m", "opsledger.cli", "projections", "verify", "--json", "--db",
           f"sqlite:///{db}"]
    ok = subprocess.run(run, capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    import sqlite3

    from opsledger.store.views_db import ViewsFile

    with sqlite3.connect(str(ViewsFile(str(db)).current_path())) as conn:  # the views' file
        conn.execute("UPDATE slo_minute SET successes = successes + 1 WHERE rowid = 1")
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode == 1 and json.loads(bad.stdout)["table"] == "slo_minute"
