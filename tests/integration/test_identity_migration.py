"""Stores written before an operation's identity was (tenant, operation id) move to it:
on open (the schema version), and in a rebuild — even one whose log already holds a
tenant's operation twice (recorded in two batches by the code before)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsledger import Operations, import_pumuki_audit
from opsledger.reports.verify import verify_views

LEGACY_INDEX, INDEX, TABLE = "audit_publish_operation", "audit_publish_identity", \
    "publish_identity"


# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


def _lines(sample: Path, **changes: str) -> list[bytes]:
    out = []
    for raw in sample.read_bytes().splitlines():
        line = json.loads(raw)
        for field, value in changes.items():
            line[field] = value + line[field] if field == "idempotency_key" else value
        out.append(json.dumps(line).encode())
    return out


def _import(ops: Operations, lines: list[bytes]) -> dict[str, Any]:
    return import_pumuki_audit(ops, [lines], register_unknown=True).to_dict()


def _indexes(ops: Operations) -> set[str]:
    sql = ops.sql
    with sql.transaction(commit=False) as cursor:  # (the events' and the views' database)
        return sql.index_names(cursor)


def _make_older(db: str) -> None:
    """The layout before: no identity table, operation ids unique across all tenants,
    schema version 4."""
    with Operations.open(db) as ops:
        sql = ops.sql
        with sql.transaction(commit=True) as cursor:
            sql.execute(cursor, f"DROP TABLE {sql.table(TABLE)}")
            sql.execute(cursor, f"DROP INDEX {sql.table(INDEX)}")
            sql.execute(cursor, f"CREATE UNIQUE INDEX "
                                f"{sql.index_on(LEGACY_INDEX, 'audit_publish')} (operation_id)")
            sql.execute(cursor, f"UPDATE {sql.table('opsledger_schema')} SET version = 4")


@pytest.mark.parametrize("db", ["sqlite", POSTGRES_SLOW], indirect=True)
def test_an_older_store_moves_to_the_tenant_scoped_identity_when_opened(
        db: str, sample_audit: Path, snapshot: Any) -> None:
    with Operations.open(db) as ops:
        _import(ops, _lines(sample_audit))
    _make_older(db)
    with Operations.open(db) as ops:
        assert INDEX in _indexes(ops) and LEGACY_INDEX not in _indexes(ops)
        known = ops.sql.fetch(f"SELECT * FROM {ops.sql.table(TABLE)}")
        assert len(known) == 571 and {k["facts"] for k in known} == {None}
        assert _import(ops, _lines(sample_audit))["duplicates"] == 571
        refused = _import(ops, _lines(sample_audit, idempotency_key="other-"))["rejected"]
        assert len(refused) == 571 and "operation_id_reused" in refused[0]["error"]
        assert _import(ops, _lines(sample_audit, tenant_id="tenant-two"))["imported"] == 571
        assert verify_views(ops).ok
        before = snapshot(ops)
        ops.views.rebuild()
        assert snapshot(ops) == before


@pytest.mark.parametrize("db", ["sqlite", POSTGRES_SLOW], indirect=True)
def test_a_log_holding_one_tenants_operation_twice_still_catches_up_and_rebuilds(
        db: str, sample_audit: Path, snapshot: Any) -> None:
    """Such a store was wedged before; the first of each in log order is the one kept,
    whether the views catch up incrementally or load from zero."""
    with Operations.open(db) as ops:
        _import(ops, _lines(sample_audit))
        ops.catch_up()
        with ops.sql.transaction(commit=True) as cursor:  # as recorded by the code before
            ops.sql.execute(cursor, f"DELETE FROM {ops.sql.table(TABLE)}")
        assert _import(ops, _lines(sample_audit, idempotency_key="other-"))["imported"] == 571
        ops.catch_up()
        audit = ops.sql.fetch(f"SELECT * FROM {ops.sql.table('audit_publish')}")
        assert len(audit) == 571 and not any(r["idempotency_key"].startswith("other-")
                                             for r in audit)
        incremental = snapshot(ops)
        ops.views.bulk_from = 1  # a load from zero: rows appended, de-duplicated at the head
        ops.views.rebuild()
        assert snapshot(ops) == incremental
        assert INDEX in _indexes(ops)
        ops.views.bulk_from = 10**9
        ops.views.rebuild()
        assert snapshot(ops) == incremental
        assert verify_views(ops).ok
