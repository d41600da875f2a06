"""A view loaded from zero (rebuild, first catch-up of a big log: indexes deferred, rows
staged) equals the incrementally maintained one, row for row, on every backend — also
when the load is interrupted and finished by another catch-up."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from opsledger.projections.audit import PUBLISH_COLUMNS, AuditView, _create
from opsledger.projections.runner import ViewRunner

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

LOADS = ("slo_freshness_load", "audit_flips_load")  # audit rows go to audit_publish itself


# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


class Interrupted(Exception):
    """Raised from the progress callback: the process 'dies' between two batches."""


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sim")
    config = SimulationConfig(days=1, tenants=2, seed=11, operations_per_day=1200)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit, snaps = folder / "audit.ndjson", folder / "snapshots.ndjson"
    with audit.open("wb") as a, snaps.open("wb") as s:
        simulate(config, a, s)
    return audit, snaps


def _filled(url: str, simulated: tuple[Path, Path]) -> Operations:
    ops = Operations.open(url)
    audit, snaps = simulated
    with audit.open("rb") as lines:
        import_pumuki_audit(ops, [lines], register_unknown=True)
    with snaps.open("rb") as lines:
        import_snapshots(ops, [lines])
    ops.advance_by_event_time()
    return ops


def _indexes_and_loads(ops: Operations) -> tuple[set[str], set[str]]:
    sql = ops.sql
    wanted = {name for view in ops.views.views for name, *_ in getattr(view, "indexes", ())}
    with sql.transaction(commit=False) as cursor:  # (the events' and the views' databases)
        present = sql.index_names(cursor)
        loads = {t for t in LOADS if sql.table_exists(cursor, t)}
    return wanted - present, loads


@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_a_load_from_zero_equals_the_incremental_views(
        store_url: str, simulated: tuple[Path, Path], snapshot: Any) -> None:
    with _filled(store_url, simulated) as ops:
        ops.views.catch_up(batch_size=300)  # incremental: below the load threshold
        incremental = snapshot(ops)
        ops.views.bulk_from = 1
        assert ops.views.rebuild(batch_size=300) > 0
        assert _indexes_and_loads(ops) == (set(), set())
        assert snapshot(ops) == incremental


@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_an_interrupted_load_is_finished_by_the_next_catch_up(
        store_url: str, simulated: tuple[Path, Path], snapshot: Any) -> None:
    with _filled(store_url, simulated) as ops:
        ops.catch_up()
        incremental = snapshot(ops)
        ops.views.bulk_from = 1
        batches = []

        def die(position: int, head: int) -> None:
            batches.append(position)
            if len(batches) == 3:
                raise Interrupted

        with pytest.raises(Interrupted):  # (named views: rebuilt in place, not swapped in)
            ops.views.rebuild(progress=die, batch_size=250,
                              views=[view.name for view in ops.views.views])
        missing, loads = _indexes_and_loads(ops)
        assert missing and loads == set(LOADS)  # mid-load: indexes dropped, rows staged
        # a new runner (another process) continues from the tracked positions
        fresh = ViewRunner(ops.app.recorder, ops.sql, ops.views.views, ops.views.decode)
        assert fresh.catch_up(batch_size=400) > 0
        assert _indexes_and_loads(ops) == (set(), set())
        assert snapshot(ops) == incremental


def test_the_load_fold_keeps_the_earliest_acceptance_and_the_first_batch_on_a_tie(
        store_url: str) -> None:
    key = ("tenant-a", "repo-a", "key-1", "hash-1")
    alone = ("tenant-a", "repo-a", "key-2", "hash-2")
    staged = [  # (batch position, key, accepted_at, due_at, visible_at, missed_at)
        (7, *key, "2026-11-03T10:00:00.000000Z", "2026-11-03T10:15:00.000000Z", None, None),
        (3, *key, "2026-11-03T10:00:00.000000Z", "2026-11-03T10:20:00.000000Z", None, None),
        (12, *key, "2026-11-03T10:00:00.000001Z", "2026-11-03T10:15:00.000001Z", None,
         "2026-11-03T10:15:00.000001Z"),
        (9, *key, None, None, "2026-11-03T10:25:00.000000Z", None),
        (10, *key, None, None, "2026-11-03T10:21:00.000000Z", None),
        (2, *alone, None, None, "2026-11-03T09:00:00.000000Z", None),
    ]
    with Operations.open(store_url) as ops:
        sql = ops.sql
        slo = next(view for view in ops.views.views if view.name == "slo")
        with sql.transaction(commit=True) as cursor:
            slo.start_load(sql, cursor)
            sql.executemany(cursor, f"INSERT INTO {sql.table('slo_freshness_load')} VALUES "
                                    "(?, ?, ?, ?, ?, ?, ?, ?, ?)", staged)
            slo.finish_load(sql, cursor)
        rows = sql.fetch(f"SELECT * FROM {sql.table('slo_freshness')} "
                         "ORDER BY idempotency_key")
    assert [tuple(row.values()) for row in rows] == [
        (*key, "2026-11-03T10:00:00.000000Z", "2026-11-03T10:20:00.000000Z",
         "2026-11-03T10:21:00.000000Z", "2026-11-03T10:15:00.000001Z"),
        (*alone, None, None, "2026-11-03T09:00:00.000000Z", None),
    ]


@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_a_rebuild_moves_an_older_audit_layout_and_load_to_the_deferrable_unique_index(
        store_url: str, simulated: tuple[Path, Path], snapshot: Any) -> None:
    """Stores written before: ``audit_publish`` keyed by a primary key, and a load
    interrupted with its publish rows staged in ``audit_publish_load``."""
    with _filled(store_url, simulated) as ops:
        ops.catch_up()
        incremental = snapshot(ops)
        sql = ops.sql
        publish, staged = sql.table("audit_publish"), sql.table("audit_publish_load")
        with sql.transaction(commit=True) as cursor:
            sql.execute(cursor, f"CREATE TABLE {staged} AS SELECT * FROM {publish}")
            sql.execute(cursor, f"DROP TABLE {publish}")
            sql.execute(cursor, _create(sql, "audit_publish", PUBLISH_COLUMNS, "operation_id",
                                        AuditView._ints))
        audit = next(view for view in ops.views.views if view.name == "audit")
        with sql.transaction(commit=True) as cursor:
            audit.finish_load(sql, cursor)  # the older load is finished: rows moved
            assert not sql.table_exists(cursor, "audit_publish_load")
        assert snapshot(ops) == incremental
        assert ops.views.rebuild() > 0
        assert _indexes_and_loads(ops) == (set(), set())
        assert snapshot(ops) == incremental
        with sql.transaction(commit=True) as cursor, pytest.raises(Exception, match=r"(?i)unique"):
            sql.execute(cursor, f"INSERT INTO {publish} SELECT * FROM {publish} LIMIT 1")


@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_a_load_applies_the_collision_changes_of_lines_imported_out_of_order(
        store_url: str, simulated: tuple[Path, Path], snapshot: Any, tmp_path: Path) -> None:
    audit, _ = simulated
    lines = audit.read_bytes().splitlines(keepends=True)
    random.Random(3).shuffle(lines)
    shuffled = tmp_path / "shuffled.ndjson"
    shuffled.write_bytes(b"".join(lines))
    with Operations.open(store_url) as ops:
        with shuffled.open("rb") as handle:
            import_pumuki_audit(ops, [handle], register_unknown=True)
        ops.catch_up()
        incremental = snapshot(ops)
        with ops.sql.transaction(commit=False) as cursor:
            facts, _ = ops.views.read_facts(cursor, 0, ops.views.head(), 10**9)
        changes = [c for f in facts if f.topic.endswith(".OperationRecorded")
                   for c in f.state["reclassified"]]
        assert changes  # the load has collision changes to apply
        ops.views.bulk_from = 1
        assert ops.views.rebuild(batch_size=200) > 0
        assert _indexes_and_loads(ops) == (set(), set())
        assert snapshot(ops) == incremental
