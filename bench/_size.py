"""``python -m bench size [--lines N] [--seed S] [--dir D] [--postgres URL] [--json]``: where
a store's bytes go.

N simulated Pumuki audit lines (default 20,000) and the downstream snapshot lines of those
publishes are imported into a fresh SQLite store the way the CLI does it
(``import_pumuki_audit``, ``import_snapshots``, then ``advance_by_event_time`` and
``catch_up``: alert process, deadlines and every view written). After a WAL checkpoint,
SQLite's ``dbstat`` gives the pages of every table and index (with ``--postgres URL``:
``pg_table_size`` / ``pg_relation_size`` of each relation of a fresh schema); each is printed
as bytes per imported publish (pages, so free space inside pages counts), beside the raw input
bytes (audit + snapshot NDJSON) per publish, the events per topic with their average stored
state, and the store against the raw input (goal: <= 2x).

The baseline, measured in the same run: the eventsourcing library's own store (same backend) of
the same records saved as plain events (one aggregate per audit line carrying the fields
opsledger stores, one per snapshot line), default transcoder, no chain, no encryption.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from itertools import islice
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
from eventsourcing.domain import Aggregate

from bench._baseline import CHUNK, BaselineApp, BenchPublish
from bench._input import library_rows_from_lines
from bench._report import machine, render_json_value
from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.sim.simulate import SimulationConfig, simulate
from opsledger.store.url import parse_store_url

__all__ = ["GOAL", "SizeReport", "main", "measure_store", "run"]

GOAL = 2.0
FREE = "(free pages)"
_TENANTS, _DAYS = 5, 7


class BenchSnapshot(Aggregate):
    """One downstream snapshot line, as the library would store it."""

    def __init__(self, tenant_id: str, repository_id: str, idempotency_key: str,
                 payload_hash: str, visible_at: datetime) -> None:
        self.tenant_id = tenant_id
        self.repository_id = repository_id
        self.idempotency_key = idempotency_key
        self.payload_hash = payload_hash
        self.visible_at = visible_at


@dataclass
class StoreSize:
    """Pages of one SQLite store: bytes per table and per index (by owning table)."""

    objects: dict[str, tuple[str, str, int]]  # name -> (type, table, bytes)
    file_bytes: int
    topics: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Bytes of every page (dbstat's, and the free pages on SQLite)."""
        return sum(size for _, _, size in self.objects.values())


def measure_store(path: Path) -> StoreSize:
    """Checkpoint the WAL, then read ``dbstat`` and the free pages (and the events per
    topic if any) — of the events' file and of its views' file beside it, if any."""
    from opsledger.store.views_db import ViewsFile

    views = ViewsFile(str(path)).current_path()
    objects: dict[str, tuple[str, str, int]] = {}
    topics: dict[str, tuple[int, float]] = {}
    for file, free_name in ((path, FREE), *(((Path(views), f"{FREE} of views"),) if views
                                           else ())):
        connection = sqlite3.connect(file)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            kinds = {name: (kind, table) for name, kind, table in connection.execute(
                "SELECT name, type, tbl_name FROM sqlite_schema")}
            for name, size in connection.execute(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                kind, table = kinds.get(name, ("table", name))
                objects[name if file == path else f"{name} (views)" if name in objects
                        else name] = (kind, table, int(size))
            free = connection.execute("PRAGMA freelist_count").fetchone()[0]
            if free:  # pages of dropped tables (a rebuild's staging), reused by later writes
                objects[free_name] = ("free", free_name, free * connection.execute(
                    "PRAGMA page_size").fetchone()[0])
            if file == path:
                topics = {topic: (int(count), float(average)) for topic, count, average in
                          connection.execute("SELECT topic, COUNT(*), AVG(LENGTH(state)) FROM "
                                             "stored_events GROUP BY topic ORDER BY 2 DESC")}
        finally:
            connection.close()
    size = path.stat().st_size + (Path(views).stat().st_size if views else 0)
    return StoreSize(objects, size, topics)


def _publish_key(line: bytes) -> tuple[str, str, str]:
    record = orjson.loads(line)
    return record["tenant_id"], record["idempotency_key"], record["payload_hash"]


def simulated_inputs(lines: int, seed: int) -> tuple[bytes, bytes]:
    """The first ``lines`` simulated audit lines and the snapshot lines of those publishes."""
    per_day = max(1, -(-lines * 11 // (10 * _DAYS * _TENANTS)))
    while True:
        audit, snapshots = BytesIO(), BytesIO()
        summary = simulate(SimulationConfig(days=_DAYS, tenants=_TENANTS, seed=seed,
                                            operations_per_day=per_day), audit, snapshots)
        if summary.lines >= lines:
            break
        per_day *= 2
    kept = list(islice(audit.getvalue().splitlines(keepends=True), lines))
    published = {_publish_key(line) for line in kept}
    seen = [line for line in snapshots.getvalue().splitlines(keepends=True)
            if _publish_key(line) in published]
    return b"".join(kept), b"".join(seen)


def opsledger_store(url: str, audit: bytes, snapshots: bytes) -> int:
    """Import both inputs as the CLI does, then catch every view up; the publishes imported."""
    with Operations.open(url) as ops:
        summary = import_pumuki_audit(ops, [BytesIO(audit)], register_unknown=True)
        import_snapshots(ops, [BytesIO(snapshots)])
        ops.advance_by_event_time()
        ops.catch_up()
    if summary.rejected:
        raise RuntimeError(f"opsledger import rejected {len(summary.rejected)} lines")
    return summary.imported


def library_store(env: dict[str, str], audit: bytes, snapshots: bytes) -> None:
    """The same records as plain library events (batched saves, default settings)."""
    app = BaselineApp(env=env)
    try:
        rows = library_rows_from_lines(audit.splitlines())
        for start in range(0, len(rows), CHUNK):
            app.save(*[BenchPublish(*row) for row in rows[start:start + CHUNK]])
        seen = [orjson.loads(line) for line in snapshots.splitlines()]
        for start in range(0, len(seen), CHUNK):
            app.save(*[BenchSnapshot(
                r["tenant_id"], r["repository_id"], r["idempotency_key"], r["payload_hash"],
                datetime.fromisoformat(r["visible_at"]).astimezone(UTC))
                for r in seen[start:start + CHUNK]])
    finally:
        app.close()


@dataclass
class SizeReport:
    """One size run: the inputs, opsledger's store and the library's."""

    publishes: int
    snapshots: int
    raw_bytes: int
    opsledger: StoreSize
    library: StoreSize

    def per_publish(self, size: int) -> float:
        """Bytes per imported publish."""
        return size / self.publishes

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``)."""
        def objects(store: StoreSize) -> dict[str, Any]:
            return {name: {"type": kind, "table": table, "bytes": size,
                           "bytes_per_publish": round(self.per_publish(size), 1)}
                    for name, (kind, table, size) in sorted(
                        store.objects.items(), key=lambda item: -item[1][2])}
        ratio = self.opsledger.total / self.raw_bytes
        return {
            "machine": machine(), "publishes": self.publishes, "snapshots": self.snapshots,
            "raw_input_bytes": self.raw_bytes,
            "raw_bytes_per_publish": round(self.per_publish(self.raw_bytes), 1),
            "opsledger": {"bytes": self.opsledger.total, "file_bytes": self.opsledger.file_bytes,
                          "bytes_per_publish": round(self.per_publish(self.opsledger.total), 1),
                          "x_raw": round(ratio, 3), "objects": objects(self.opsledger),
                          "events": {t: {"count": c, "avg_state_bytes": round(a, 1)}
                                     for t, (c, a) in self.opsledger.topics.items()}},
            "library": {"bytes": self.library.total,
                        "bytes_per_publish": round(self.per_publish(self.library.total), 1),
                        "x_raw": round(self.library.total / self.raw_bytes, 3),
                        "objects": objects(self.library)},
            "goal_x_raw": GOAL, "goal_met": ratio <= GOAL,
        }

    def render(self) -> str:
        """A table of bytes per publish, biggest first, then the totals."""
        per = self.per_publish
        out = [f"{self.publishes:,} publishes imported ({self.snapshots:,} snapshot lines); "
               f"raw input {per(self.raw_bytes):,.0f} B per publish", "",
               f"{'table / index':<44} {'kind':<6} {'B/publish':>10}"]
        by_table: dict[str, list[tuple[str, str, int]]] = {}
        for name, (kind, table, size) in self.opsledger.objects.items():
            by_table.setdefault(table, []).append((name, kind, size))
        groups = sorted(by_table.items(), key=lambda g: -sum(s for _, _, s in g[1]))
        small = 0
        for _table, members in groups:
            if sum(s for _, _, s in members) < 5 * self.publishes:  # under 5 B per publish
                small += sum(s for _, _, s in members)
                continue
            for name, kind, size in sorted(members, key=lambda m: (m[1] != "table", -m[2])):
                label = name if kind == "table" else f"  {name}"
                out.append(f"{label:<44} {kind:<6} {per(size):>10,.1f}")
        rest = "(every table under 5 B, with its indexes)"
        out.append(f"{rest:<44} {'':<6} {per(small):>10,.1f}")
        out += ["", "events per topic (count, average stored state bytes):"]
        out += [f"  {topic:<42} {count:>8,} {average:>8,.0f}"
                for topic, (count, average) in self.opsledger.topics.items()]
        ratio = self.opsledger.total / self.raw_bytes
        out += ["",
                f"opsledger store {per(self.opsledger.total):>9,.0f} B/publish = {ratio:.2f}x "
                f"the raw input (goal <= {GOAL:.1f}x: {'met' if ratio <= GOAL else 'missed'})",
                f"library store   {per(self.library.total):>9,.0f} B/publish = "
                f"{self.library.total / self.raw_bytes:.2f}x the raw input (same records as "
                "plain events; no chain, views or encryption)"]
        return "\n".join(out)


_PG_SIZES = (
    "SELECT c.relname, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END, "
    "COALESCE(t.relname, c.relname), CASE c.relkind WHEN 'i' THEN pg_relation_size(c.oid) "
    "ELSE pg_table_size(c.oid) END FROM pg_class c JOIN pg_namespace n ON n.oid = "
    "c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON "
    "t.oid = i.indrelid WHERE n.nspname = %s AND c.relkind IN ('r', 'i')")


def measure_postgres(base: str, schema: str, events: str | None) -> StoreSize:
    """Per relation of ``schema``: ``pg_table_size`` of each table (with its TOAST),
    ``pg_relation_size`` of each index; and the events per topic (table ``events``)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        objects = {name: (kind, table, int(size)) for name, kind, table, size in
                   conn.execute(_PG_SIZES, (schema,)).fetchall()}
        topics = {} if events is None else {
            topic: (int(count), float(average)) for topic, count, average in conn.execute(
                f'SELECT topic, COUNT(*), AVG(octet_length(state)) FROM "{schema}"."{events}" '
                "GROUP BY topic ORDER BY 2 DESC").fetchall()}
    return StoreSize(objects, sum(size for _, _, size in objects.values()), topics)


def run(lines: int, seed: int, directory: Path | None, postgres: str | None = None
        ) -> SizeReport:
    """Simulate, import into both stores — SQLite files in ``directory`` (temporary), or
    fresh schemas of the PostgreSQL database ``postgres`` (dropped after) — and measure."""
    audit, snapshots = simulated_inputs(lines, seed)
    raw, seen = len(audit) + len(snapshots), snapshots.count(b"\n")
    if postgres is not None:
        import psycopg

        schema = f"opsledger_size_{uuid4().hex[:8]}"
        library_env = {**parse_store_url(f"{postgres}?schema={schema}_lib").env,
                       "CREATE_TABLE": "y"}
        try:
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}_lib"')
            publishes = opsledger_store(f"{postgres}?schema={schema}", audit, snapshots)
            library_store(library_env, audit, snapshots)
            return SizeReport(publishes, seen, raw,
                              measure_postgres(postgres, schema, "opsledger_events"),
                              measure_postgres(postgres, f"{schema}_lib", None))
        finally:
            with psycopg.connect(postgres, autocommit=True) as conn:
                for name in (schema, f"{schema}_lib"):
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    with tempfile.TemporaryDirectory(prefix="opsledger-size-", dir=directory) as tmp:
        ours, theirs = Path(tmp) / "opsledger.db", Path(tmp) / "library.db"
        publishes = opsledger_store(f"sqlite:///{ours}", audit, snapshots)
        library_store({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                       "SQLITE_DBNAME": str(theirs)}, audit, snapshots)
        return SizeReport(publishes, seen, raw, measure_store(ours), measure_store(theirs))


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench size``."""
    parser = argparse.ArgumentParser(prog="python -m bench size",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=_positive, default=20_000,
                        help="simulated audit lines to import (default 20000)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to put the temporary stores (default: system temp)")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="measure on this PostgreSQL database instead (fresh schemas, "
                             "dropped after), e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    report = run(args.lines, args.seed, args.dir, args.postgres)
    print(render_json_value(report.to_dict()) if args.json else report.render())
    return 0

