"""The views in a database of their own (issue 19): a SQLite store keeps them in a
generation file beside its events (PostgreSQL: a schema beside its own), a full rebuild
writes a fresh generation and swaps it in, a failed or killed rebuild leaves the old views
whole, and a store that kept its views beside its events moves them on open."""

from __future__ import annotations

import importlib.util
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from opsledger.projections.runner import BULK_FROM

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.reports.verify import verify_views
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate
from opsledger.store.url import parse_store_url, pg_connect
from opsledger.store.views_db import ViewsFile

_spec = importlib.util.spec_from_file_location("opsledger_test_kill_views",
                                               Path(__file__).with_name("_kill.py"))
assert _spec is not None and _spec.loader is not None
_kill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kill)
fork_cli, run_to_end = _kill.fork_cli, _kill.run_to_end

VIEW_NAMES = {"audit_publish", "slo_minute", "alerts", "incidents", "notifications",
              "retention_horizon", "opsledger_tracking", "opsledger_view_versions"}
INDEXES = {"audit_publish_identity", "audit_publish_scope", "slo_freshness_due"}


class Interrupted(Exception):
    """Raised from a rebuild's progress callback."""


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sim")
    config = SimulationConfig(days=1, tenants=2, seed=19, operations_per_day=900)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit, snaps = folder / "audit.ndjson", folder / "snapshots.ndjson"
    with audit.open("wb") as a, snaps.open("wb") as s:
        simulate(config, a, s)
    return audit, snaps


def _fill(url: str, simulated: tuple[Path, Path]) -> None:
    with Operations.open(url) as ops:
        audit, snaps = simulated
        with audit.open("rb") as lines:
            import_pumuki_audit(ops, [lines], register_unknown=True)
        with snaps.open("rb") as lines:
            import_snapshots(ops, [lines])
        ops.advance_by_event_time()
        ops.catch_up()


def _catalog(path: str | Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


def _generation_files(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if ".views-" in p.name)


def test_the_views_live_in_a_file_of_their_own(tmp_path: Path, simulated: Any,
                                               snapshot: Any) -> None:
    db = tmp_path / "store.db"
    _fill(f"sqlite:///{db}", simulated)
    views = ViewsFile(str(db))
    assert views.generation() == 1
    assert not VIEW_NAMES & _catalog(db)  # the events' file holds no view table
    assert _catalog(views.current_path() or "") >= VIEW_NAMES | INDEXES
    assert "stored_events" not in _catalog(views.current_path() or "")
    assert os.stat(views.current_path() or "").st_mode & 0o077 == 0  # private, as the store
    with Operations.open(f"sqlite:///{db}") as ops:
        assert verify_views(ops).ok
        assert snapshot(ops)["views"]["audit_publish"]


@pytest.mark.parametrize("store_url", ["memory", "sqlite", "postgres"], indirect=True)
def test_a_full_rebuild_equals_the_live_views(store_url: str, simulated: Any,
                                              snapshot: Any) -> None:
    _fill(store_url, simulated) if store_url != "memory://" else None
    with Operations.open(store_url) as ops:
        if store_url == "memory://":
            audit, _ = simulated
            with audit.open("rb") as lines:
                import_pumuki_audit(ops, [lines], register_unknown=True)
            ops.catch_up()
        live = snapshot(ops)
        ops.views.bulk_from = 1
        assert ops.views.rebuild() > 0
        assert snapshot(ops) == live
        assert verify_views(ops).ok


def test_a_rebuild_swaps_in_a_new_generation_that_open_readers_follow(
        tmp_path: Path, simulated: Any, snapshot: Any) -> None:
    db = tmp_path / "store.db"
    _fill(f"sqlite:///{db}", simulated)
    views = ViewsFile(str(db))
    with Operations.open(f"sqlite:///{db}") as reader, \
            Operations.open(f"sqlite:///{db}") as rebuilder:
        before = snapshot(reader)
        rebuilder.views.bulk_from = 1
        assert rebuilder.views.rebuild() > 0
        assert views.generation() == 2
        assert [n for n in _generation_files(db) if n.startswith("store.db.views-1")] == []
        assert _catalog(views.current_path() or "") >= INDEXES
        assert snapshot(reader) == before  # the reader re-attached the new generation
        with reader.sql.transaction(commit=False) as cursor:
            cursor.execute("SELECT file FROM pragma_database_list WHERE name = 'views'")
            assert cursor.fetchone()["file"].endswith("store.db.views-2.db")
        assert verify_views(reader).ok


def test_a_failed_rebuild_leaves_the_old_views_and_no_file(
        tmp_path: Path, simulated: Any, snapshot: Any) -> None:
    db = tmp_path / "store.db"
    _fill(f"sqlite:///{db}", simulated)
    with Operations.open(f"sqlite:///{db}") as ops:
        before = snapshot(ops)

        def die(position: int, head: int) -> None:
            raise Interrupted

        ops.views.bulk_from = 1
        with pytest.raises(Interrupted):
            ops.views.rebuild(progress=die)
        assert ViewsFile(str(db)).generation() == 1
        assert [n for n in _generation_files(db) if n.endswith(".db")] == ["store.db.views-1.db"]
        assert snapshot(ops) == before


def test_an_orphan_generation_is_removed_on_open(tmp_path: Path, simulated: Any) -> None:
    db = tmp_path / "store.db"
    _fill(f"sqlite:///{db}", simulated)
    orphan = tmp_path / "store.db.views-7.db"
    orphan.write_bytes(b"half a rebuild")
    (tmp_path / "store.db.views-7.db-journal").write_bytes(b"")
    with Operations.open(f"sqlite:///{db}") as ops:
        assert verify_views(ops).ok
    assert not orphan.exists() and ViewsFile(str(db)).generation() == 1


def _to_old_layout_sqlite(db: Path) -> None:
    """Put the store back as the code before wrote it: the views' tables in the events'
    file, no views file, schema version 7."""
    views = ViewsFile(str(db))
    path = views.current_path() or ""
    with sqlite3.connect(db, isolation_level=None) as conn:
        conn.execute("ATTACH ? AS v", (path,))
        rows = conn.execute("SELECT type, name, sql FROM v.sqlite_master WHERE sql IS NOT "
                            "NULL ORDER BY type DESC").fetchall()  # tables before indexes
        for kind, name, text in rows:
            conn.execute(text)
            if kind == "table":
                conn.execute(f"INSERT INTO main.{name} SELECT * FROM v.{name}")
        conn.execute("UPDATE opsledger_schema SET version = 7")
        conn.execute("DETACH v")
    for name in _generation_files(db):
        os.unlink(db.parent / name)
    os.unlink(views.pointer)


def test_a_store_with_its_views_beside_the_events_moves_them_on_open(
        tmp_path: Path, simulated: Any, snapshot: Any) -> None:
    db = tmp_path / "store.db"
    _fill(f"sqlite:///{db}", simulated)
    with Operations.open(f"sqlite:///{db}") as ops:
        before = snapshot(ops)
        positions = [row.position for row in ops.views.status()]
    _to_old_layout_sqlite(db)
    assert _catalog(db) >= VIEW_NAMES
    with Operations.open(f"sqlite:///{db}") as ops:
        assert not VIEW_NAMES & _catalog(db)
        assert _catalog(ViewsFile(str(db)).current_path() or "") >= VIEW_NAMES | INDEXES
        assert [row.position for row in ops.views.status()] == positions  # moved, kept
        assert snapshot(ops) == before
        assert verify_views(ops).ok


def test_a_postgres_store_keeps_its_views_in_a_schema_and_moves_old_ones(
        pg_url: str, simulated: Any, snapshot: Any) -> None:
    _fill(pg_url, simulated)
    store = parse_store_url(pg_url)
    views_schema = f"{store.schema}_views"
    with pg_connect(store, autocommit=True) as conn:
        def tables(schema: str) -> set[str]:
            return {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}

        assert tables(views_schema) >= VIEW_NAMES and not VIEW_NAMES & tables(store.schema)
        with Operations.open(pg_url) as ops:
            before = snapshot(ops)
        for name in tables(views_schema):  # the layout before: everything in one schema
            conn.execute(f'ALTER TABLE "{views_schema}"."{name}" SET SCHEMA "{store.schema}"')
        conn.execute(f'UPDATE "{store.schema}".opsledger_schema SET version = 7')
        with Operations.open(pg_url) as ops:
            assert tables(views_schema) >= VIEW_NAMES
            assert not VIEW_NAMES & tables(store.schema)
            assert snapshot(ops) == before
            assert verify_views(ops).ok


@pytest.mark.slow  # kill -9 at random moments of a full rebuild
def test_kill_9_during_a_rebuild_leaves_the_old_or_the_new_views(
        tmp_path: Path, snapshot: Any) -> None:
    config = SimulationConfig(days=1, tenants=2, seed=6, operations_per_day=BULK_FROM // 2)
    audit = tmp_path / "audit.ndjson"
    with audit.open("wb") as out:
        simulate(config, out)
    db = tmp_path / "victim.db"
    url = f"sqlite:///{db}"
    with Operations.open(url) as ops, audit.open("rb") as lines:
        import_pumuki_audit(ops, [lines], register_unknown=True)
        assert ops.views.head() > BULK_FROM  # a rebuild loads from zero
        ops.catch_up()
        expected = snapshot(ops)["views"]
    views = ViewsFile(str(db))
    code, full = run_to_end(["projections", "rebuild", "--db", url])
    assert code == 0 and views.generation() == 2
    rng = random.Random(19)
    kills, swapped, started = 0, 0, time.monotonic()
    while kills < 8 and time.monotonic() - started < 120:
        before = views.generation() or 0
        pid = fork_cli(["projections", "rebuild", "--db", url])
        time.sleep(rng.uniform(0.0, full * 1.1))
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        kills += os.WIFSIGNALED(status)
        after = views.generation() or 0
        assert after in (before, before + 1)  # the old views or the new, nothing else
        swapped += after == before + 1
        assert _catalog(views.current_path() or "") >= INDEXES
        with Operations.open(url) as ops:  # opens with whole views, orphans removed
            assert [n for n in _generation_files(db) if n.endswith(".db")] == [
                f"victim.db.views-{after}.db"]
            assert snapshot(ops)["views"] == expected
            assert verify_views(ops).ok
    assert kills >= 3


def _audit_rows(ops: Operations) -> int:
    with ops.sql.transaction(commit=False) as cursor:
        ops.sql.execute(cursor, f"SELECT COUNT(*) AS n FROM {ops.sql.table('audit_publish')}")
        return int(cursor.fetchone()["n"])


def _one_publish(ops: Operations) -> None:
    from datetime import UTC, datetime

    from opsledger_test_support import saas_tenant

    at = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    saas_tenant(ops, "acme", ["web"], at=at)
    ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key="k",
                       payload_hash="0" * 64, outcome="success", attempts=1, latency_ms=5,
                       occurred_at=at)
    ops.catch_up()


def test_a_new_store_never_takes_the_views_another_store_left_behind(db: str) -> None:
    """The events deleted by hand (the SQLite file; the PostgreSQL schema) and the store
    opened again: a new store, whose views start empty — not the old store's views, whose
    positions would hide the new events from every read (seen when a test reused a schema
    name whose views schema it had not dropped)."""
    with Operations.open(db) as ops:
        _one_publish(ops)
        assert _audit_rows(ops) == 1
    url = parse_store_url(db)
    if url.kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(url.path + suffix):
                os.unlink(url.path + suffix)
    else:
        with pg_connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{url.schema}" CASCADE')
    with Operations.open(db) as ops:
        assert _audit_rows(ops) == 0
        _one_publish(ops)
        assert _audit_rows(ops) == 1
