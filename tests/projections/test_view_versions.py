"""View versions (issue 14, point 6): a store whose view rows another version of the view
built has that view (and the views depending on it) rebuilt when it is opened, its tables
dropped and created again, so a changed layout never needs a hand migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opsledger.projections.slo import SloView

from opsledger import Operations, import_pumuki_audit
from opsledger.reports.verify import VIEW_TABLES, _rows, verify_views

SLO_TABLES = [t for t in VIEW_TABLES if t in SloView.tables]


def _filled(url: str, sample_audit: Path) -> dict[str, list[dict[str, Any]]]:
    """Import the sample; every view table's rows as a fresh catch-up leaves them."""
    with Operations.open(url) as ops, sample_audit.open("rb") as lines:
        import_pumuki_audit(ops, [lines], register_unknown=True)
        ops.advance_by_event_time()  # the alert process: alerts and incidents too
        ops.catch_up()
        return {table: _rows(ops, table, order) for table, order in VIEW_TABLES.items()}


class _Tables:
    """``{t[name]}`` in a statement: the store's name for the table."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    def __getitem__(self, name: str) -> str:
        return self.ops.sql.table(name)


def _damage(url: str, *statements: str) -> None:
    """Change the stored view tables behind the views' back (as another version's rows
    or layout would differ from this version's)."""
    with Operations.open(url) as ops, ops.sql.transaction(commit=True) as cursor:
        for statement in statements:
            ops.sql.execute(cursor, statement.format(t=_Tables(ops)))


def test_a_bumped_view_version_rebuilds_that_view_and_its_dependents_on_open(
        db: str, sample_audit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SloView, "version", 1)  # the mechanism, whatever SloView's own
    fresh = _filled(db, sample_audit)
    assert fresh["slo_minute"] and fresh["audit_publish"] and fresh["alerts"]
    _damage(db, "DELETE FROM {t[slo_minute]}")
    with Operations.open(db) as ops:  # same versions: nothing is rebuilt on open
        assert ops.views.versions()["slo"] == 1
        assert _rows(ops, "slo_minute", VIEW_TABLES["slo_minute"]) == []

    monkeypatch.setattr(SloView, "version", 2)
    with Operations.open(db) as ops:
        status = {s.view: s for s in ops.views.status()}
        assert status["slo"].version == 2 and status["audit"].version == 2
        assert status["slo"].lag == status["retention"].lag == 0
        assert {table: _rows(ops, table, order)
                for table, order in VIEW_TABLES.items()} == fresh
        assert verify_views(ops).ok  # equal to a rebuild from zero in a scratch store
        assert ops.views.ensure_versions() == []  # recorded: the next open does nothing


def test_a_changed_table_layout_needs_no_hand_migration(
        db: str, sample_audit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SloView, "version", 1)  # the mechanism, whatever SloView's own
    fresh = _filled(db, sample_audit)
    # The layout of an "older version": slo_integrity without its resolved_at column.
    _damage(db, "DROP TABLE {t[slo_integrity]}",
            "CREATE TABLE {t[slo_integrity]} (incident_id TEXT PRIMARY KEY, tenant_id TEXT, "
            "opened_at TEXT)")
    monkeypatch.setattr(SloView, "version", 2)
    with Operations.open(db) as ops:
        assert {table: _rows(ops, table, VIEW_TABLES[table]) for table in SLO_TABLES} == {
            table: fresh[table] for table in SLO_TABLES}
        ops.sql.fetch(f"SELECT resolved_at FROM {ops.sql.table('slo_integrity')}")
        assert ops.views.versions() == {"audit": 2, "slo": 2, "alerts": 3, "incidents": 2,
                                        "outbox": 1, "retention": 1}


def test_a_store_from_before_view_versions_counts_as_version_one(
        sqlite_url: str, sample_audit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SloView, "version", 1)  # the mechanism, whatever SloView's own
    fresh = _filled(sqlite_url, sample_audit)
    assert fresh["alerts"]
    # Before versions, and an alerts table from before its flag columns (version 1).
    _damage(sqlite_url, "DROP TABLE {t[opsledger_view_versions]}", "DELETE FROM {t[slo_minute]}",
            "DROP TABLE {t[alerts]}",
            "CREATE TABLE {t[alerts]} (id TEXT PRIMARY KEY, tenant TEXT, rule TEXT, level TEXT, "
            "repository TEXT, triggered_at TEXT, resolved_at TEXT, observed DOUBLE PRECISION, "
            "threshold DOUBLE PRECISION, window_start TEXT, window_end TEXT, resolution TEXT)")
    with Operations.open(sqlite_url) as ops:  # alerts (3), audit (2), incidents (2) rebuilt
        assert ops.views.versions() == {"audit": 2, "slo": 1, "alerts": 3, "incidents": 2,
                                        "outbox": 1, "retention": 1}
        assert _rows(ops, "alerts", VIEW_TABLES["alerts"]) == fresh["alerts"]
        assert _rows(ops, "slo_minute", VIEW_TABLES["slo_minute"]) == []
    monkeypatch.setattr(SloView, "version", 2)
    with Operations.open(sqlite_url) as ops:
        assert ops.views.versions()["slo"] == 2
        assert verify_views(ops).ok
