"""The alert process's records (rule facts, checkpoints) are stored packed (zstd with a
bundled dictionary), and a store whose records are still plain JSON text — written before
packing, on PostgreSQL in ``TEXT`` columns — opens, re-runs a tenant from them, and ends with
the same alerts as a store that packed from the start."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from opsledger import Operations
from opsledger.services.alert_pack import pack, unpack
from tests.application.test_alerts import T0, setup

_RECORDS = {"alert_facts": "fact", "alert_checkpoints": "state"}


def _publish(ops: Operations, key: str, at: datetime, ok: bool) -> None:
    ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key=key,
                       payload_hash=f"{abs(hash(key)) % 10**12:064x}",
                       outcome="success" if ok else "error",
                       error_code=None if ok else "NETWORK", attempts=1, latency_ms=40,
                       occurred_at=at)


def _first_half(ops: Operations) -> None:
    """Three hours of publishes (so checkpoints are taken), one error burst, evaluated."""
    setup(ops)
    for n in range(36):
        _publish(ops, f"k{n}", T0 + timedelta(minutes=5 * n), ok=not 12 <= n < 15)
    ops.evaluate_alerts()


def _second_half(ops: Operations) -> None:
    """Late errors behind the watermark: the tenant is evaluated again from its records."""
    for n in range(3):
        _publish(ops, f"late{n}", T0 + timedelta(minutes=151 + n), ok=False)
    _publish(ops, "after", T0 + timedelta(hours=4), ok=True)
    ops.evaluate_alerts()


def _records(ops: Operations) -> dict[str, list[Any]]:
    with ops.sql.transaction(commit=False) as cursor:
        found = {}
        for table, column in _RECORDS.items():
            ops.sql.execute(cursor, f"SELECT {column} AS v FROM {ops.sql.table(table)} "
                                    "ORDER BY tenant_id, position")
            found[table] = [row["v"] for row in cursor.fetchall()]
        return found


def _unpack_as_before(ops: Operations) -> None:
    """Rewrite every record as plain JSON text, in TEXT columns on PostgreSQL, and mark the
    schema 7: the shape a store had before records were packed."""
    with ops.sql.transaction(commit=True) as cursor:
        for table, column in _RECORDS.items():
            name = ops.sql.table(table)
            pg = ops.sql.is_postgres
            ops.sql.execute(cursor, f"SELECT {'ctid::text' if pg else 'rowid'} AS r, "
                                    f"{column} AS v FROM {name}")
            where = "ctid = ?::tid" if pg else "rowid = ?"
            for row in cursor.fetchall():
                plain = orjson.dumps(unpack(row["v"]))
                ops.sql.execute(cursor, f"UPDATE {name} SET {column} = ? WHERE {where}",
                                (plain if pg else plain.decode(), row["r"]))
            if pg:
                ops.sql.execute(cursor, f"ALTER TABLE {name} ALTER COLUMN {column} TYPE TEXT "
                                        f"USING convert_from({column}, 'UTF8')")
        ops.sql.execute(cursor, f"UPDATE {ops.sql.table('opsledger_schema')} SET version = 7")


def _alerts(ops: Operations) -> list[tuple[Any, ...]]:
    return sorted((a["rule"], a["triggered_at"], a["resolved_at"], a["withdrawn"],
                   a["backfilled"]) for a in ops.alerts(tenant_id="acme"))


def test_pack_round_trips_and_reads_plain_json() -> None:
    fact = {"kind": "publish", "at": 1793577697306000, "tenant": "acme", "ok": True}
    packed = pack(fact)
    assert packed.startswith(b"\x28\xb5\x2f\xfd") and unpack(packed) == fact
    assert unpack(orjson.dumps(fact)) == fact == unpack(orjson.dumps(fact).decode())
    with pytest.raises(ValueError, match="dictionary"):
        unpack(packed[:5] + b"\x00" + packed[6:])  # another dictionary id


def test_records_are_stored_packed_and_smaller(db: str) -> None:
    with Operations.open(db) as ops:
        _first_half(ops)
        records = _records(ops)
        assert records["alert_facts"] and records["alert_checkpoints"]
        for values in records.values():
            assert all(bytes(v).startswith(b"\x28\xb5\x2f\xfd") for v in values)
            plain = sum(len(orjson.dumps(unpack(v))) for v in values)
            assert sum(len(bytes(v)) for v in values) < plain / 2


def test_a_store_with_plain_records_opens_reruns_and_matches(db: str) -> None:
    with Operations.open("memory://") as fresh:
        _first_half(fresh)
        _second_half(fresh)
        expected = _alerts(fresh)
    assert any(backfilled for *_, backfilled in expected)  # the late facts were re-run
    with Operations.open(db) as ops:
        _first_half(ops)
        _unpack_as_before(ops)
    with Operations.open(db) as ops:
        if ops.sql.is_postgres:
            with ops.sql.transaction(commit=False) as cursor:
                for table, column in _RECORDS.items():
                    ops.sql.execute(cursor, "SELECT data_type FROM information_schema.columns "
                                            "WHERE table_schema = ? AND table_name = ? AND "
                                            "column_name = ?", (ops.sql.schema, table, column))
                    assert cursor.fetchone()["data_type"] == "bytea"
        assert not any(bytes(v if not isinstance(v, str) else v.encode()).startswith(
            b"\x28\xb5\x2f\xfd") for v in _records(ops)["alert_facts"])
        _second_half(ops)
        assert _alerts(ops) == expected
