"""``python -m bench reads [--operations N] [--with-10m] [--repeat K] [--dir D]
[--postgres URL] [--json]``: the read commands' latency as the store grows.

Stores of N/10 and N simulated publish operations (default N = 100,000: built in about
four minutes on 2 shared cores; the figure to report is ``--operations 1000000``, whose
store takes about an hour to build there; with ``--with-10m`` also 10 N) are built once
into ``--dir`` (default ``bench-out/``) and reused: 30 days x 10 tenants of Pumuki
audit lines with the simulator's default episodes (outage, slow phase, error burst, auth
failures, isolation, collisions, freshness delay), their downstream snapshots, the alert
rules and deadlines advanced by event time, and 12 incidents per tenant (acknowledged,
mitigated, a status update, resolved, an RCA; the last of each tenant left open). The
audit lines go through :func:`bench._rebuild_fast.fast_import` (the recording path's own
events, without reloading aggregates); everything else through the facade.

Each read is timed through the facade, the calls the CLI makes, in this process, each
``--repeat`` times round-robin (after one untimed warm-up), and reported as median and
p90 in milliseconds:

* ``slo`` — ``opsledger slo --tenant T --month 2026-11`` (as of the month's end);
* ``slo --as-of`` — the same, as of the middle of the month;
* ``alerts`` — ``opsledger alerts --tenant T``; ``alerts --as-of`` mid-month;
* ``incident list`` — ``opsledger incident list --tenant T``; ``--as-of`` mid-month;
* ``sla`` — ``opsledger sla --tenant T --month 2026-11``; ``--as-of`` mid-month;
* ``audit list`` — the first page: ``opsledger audit list --tenant T --limit 100``, and
  ``--from`` mid-month (the page a reader asks for when looking at a day);
* ``replay`` — ``opsledger replay --tenant T`` of one day (every entry read);
* ``library get`` — for scale, the library's own read of one stored aggregate of one
  event (``app.repository.get``).

Goal (issue 19): each under 50 ms at 10M operations on SQLite, the same order on
PostgreSQL; as-of and replay cost proportional to what they return, not to the store's
size — which the N/10 -> N (-> 10 N) columns show.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from bench._rebuild_fast import fast_import
from bench._rebuild_store import _checkpoint, _remove, notification_head
from opsledger import AuditQuery, Operations, Period
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

__all__ = ["main", "run"]

DAYS = 30
TENANTS = 10
START = datetime(2026, 11, 2, tzinfo=UTC)
MONTH = "2026-11"
MID = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
REPLAY_DAY = datetime(2026, 11, 16, tzinfo=UTC)
TENANT = "tenant-01"  # the tenant with the first episodes: alerts and incidents to show
INCIDENTS_PER_TENANT = 12
PAGE = 100
GOAL_MS = 50.0


@dataclass(frozen=True)
class ReadsStore:
    """A complete store: where it is and what is in it."""

    url: str
    operations: int
    seed: int
    lines: int
    notifications: int
    build_seconds: float
    opsledger: str
    reused: bool = False


@dataclass
class Timing:
    """One read's runs at one store size (seconds)."""

    name: str
    command: str
    runs: list[float] = field(default_factory=list)
    returned: int = 0

    def median_ms(self) -> float:
        return statistics.median(self.runs) * 1000

    def p90_ms(self) -> float:
        ordered = sorted(self.runs)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ building the store


def _simulate(directory: Path, stem: str, operations: int, seed: int) -> tuple[Path, Path, int]:
    """Audit lines and snapshots of about ``operations`` publishes (the simulator's volume
    for the per-day rate; every line kept, so each snapshot has its publish)."""
    audit, snaps = directory / f"{stem}.ndjson", directory / f"{stem}.snapshots.ndjson"
    per_day = max(1, operations // (DAYS * TENANTS))
    config = SimulationConfig(days=DAYS, tenants=TENANTS, seed=seed, start=START,
                              operations_per_day=per_day)
    config = SimulationConfig(days=DAYS, tenants=TENANTS, seed=seed, start=START,
                              operations_per_day=per_day, episodes=default_episodes(config))
    with audit.open("wb") as audit_out, snaps.open("wb") as snaps_out:
        summary = simulate(config, audit_out, snaps_out)
    return audit, snaps, summary.lines


def _incidents(ops: Operations, log: Callable[[str], None]) -> int:
    """12 incidents a tenant spread over the month, through the facade: each acknowledged,
    then mitigated, updated, resolved and given its RCA (SEV3: its fix scheduled and
    closed), except each tenant's last (left open, acknowledged)."""
    opened = 0
    for t in range(TENANTS):
        tenant = f"tenant-{t + 1:02d}"
        for i in range(INCIDENTS_PER_TENANT):
            at = START + timedelta(days=i * DAYS // INCIDENTS_PER_TENANT, hours=8 + t % 8,
                                   minutes=7 * i % 60)
            severity, cause = (("SEV2", "degraded_ingestion"), ("SEV3", "latency"),
                               ("SEV2", "partial_publish_failures"),
                               ("SEV1", "ingestion_outage"))[i % 4]
            incident_id = ops.open_incident(severity=severity, title=f"bench {tenant} #{i}",
                                         cause=cause, by="oncall",
                                         tenant_id=tenant, at=at).incident_id
            ops.acknowledge(incident_id, by="oncall", at=at + timedelta(minutes=4))
            if i == INCIDENTS_PER_TENANT - 1:
                opened += 1
                continue
            if severity == "SEV3":
                ops.schedule_fix(incident_id, sprint="S-48", by="oncall",
                                 at=at + timedelta(hours=2))
                ops.resolve_incident(incident_id, summary="fixed", by="oncall",
                                     at=at + timedelta(hours=3))
                opened += 1
                continue
            ops.start_mitigation(incident_id, by="oncall", at=at + timedelta(minutes=12))
            ops.post_status_update(incident_id, message="mitigating", by="oncall",
                                   at=at + timedelta(minutes=25))
            ops.resolve_incident(incident_id, summary="fixed", by="oncall",
                                 at=at + timedelta(minutes=50))
            ops.publish_rca(incident_id, link="https://rca.example/x", by="oncall",
                            at=at + timedelta(days=1))
            opened += 1
    log(f"  {opened} incidents recorded")
    return opened


def _fill(url: str, audit: Path, snaps: Path, log: Callable[[str], None]) -> int:
    started = time.perf_counter()
    with Operations.open(url) as ops:
        with audit.open("rb") as source:
            summary = fast_import(ops, source)
        if summary.rejected:
            raise RuntimeError(f"store build: {len(summary.rejected)} lines rejected")
        log(f"  {summary.imported:,} publishes imported "
            f"({time.perf_counter() - started:.0f}s)")
        with snaps.open("rb") as source:
            seen = ops.import_snapshots([source])
        log(f"  {seen.recorded:,} snapshots imported ({time.perf_counter() - started:.0f}s)")
        ops.advance_by_event_time()
        log(f"  alerts and deadlines advanced ({time.perf_counter() - started:.0f}s)")
        _incidents(ops, log)
        ops.advance_by_event_time()
        ops.catch_up()
        log(f"  views caught up ({time.perf_counter() - started:.0f}s)")
        return int(ops.views.head())


def ensure_store(directory: Path, operations: int, seed: int, postgres: str | None,
                 log: Callable[[str], None]) -> ReadsStore:
    """The complete reads store of ``operations`` for ``seed``, built if needed (SQLite in
    ``directory``, or a schema of the PostgreSQL database ``postgres``; either way its
    marker file in ``directory``)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"reads-{operations}-s{seed}" + ("-pg" if postgres else "")
    db, marker = directory / f"{stem}.db", directory / f"{stem}.json"
    schema = stem.replace("-", "_")
    url = f"{postgres}?schema={schema}" if postgres else f"sqlite:///{db.resolve()}"
    if marker.exists():
        info = ReadsStore(**{**orjson.loads(marker.read_bytes()), "reused": True})
        if info.url == url and _head(url, db, postgres) == info.notifications:
            log(f"reusing {url} ({info.notifications:,} notifications)")
            with Operations.open(url) as ops:
                ops.catch_up()
            return info
    marker.unlink(missing_ok=True)
    started = time.perf_counter()
    log(f"simulating about {operations:,} operations ({DAYS} days x {TENANTS} tenants) ...")
    audit, snaps, lines = _simulate(directory, stem, operations, seed)
    log(f"  {lines:,} audit lines ({time.perf_counter() - started:.0f}s)")
    if postgres:
        _drop_schema(postgres, schema)
        notifications = _fill(url, audit, snaps, log)
    else:
        building = directory / f"{stem}.building.db"
        _remove(db)
        _remove(building)
        notifications = _fill(f"sqlite:///{building.resolve()}", audit, snaps, log)
        _checkpoint(building)
        Path(f"{building}.keys").rename(f"{db}.keys")
        building.rename(db)
    audit.unlink(missing_ok=True)
    snaps.unlink(missing_ok=True)
    info = ReadsStore(url=url, operations=operations, seed=seed, lines=lines,
                      notifications=notifications,
                      build_seconds=round(time.perf_counter() - started, 1),
                      opsledger=version("opsledger"))
    marker.write_bytes(orjson.dumps({k: v for k, v in vars(info).items() if k != "reused"},
                                    option=orjson.OPT_INDENT_2))
    log(f"  built {url} in {info.build_seconds:.0f}s ({notifications:,} notifications)")
    return info


def _head(url: str, db: Path, postgres: str | None) -> int:
    if not postgres:
        return notification_head(db)
    try:
        with Operations.open(url) as ops:
            return int(ops.views.head())
    except Exception:  # a half-built or dropped schema: build again
        return -1


def _drop_schema(postgres: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ------------------------------------------------------------------ the reads


def _reads(ops: Operations) -> list[tuple[str, str, Callable[[], int]]]:
    """(name, CLI command, read returning how many rows/entries it gave)."""
    month = Period.month(MONTH)
    mid = MID.isoformat().replace("+00:00", "Z")
    day, next_day = (d.date().isoformat() for d in (REPLAY_DAY, REPLAY_DAY + timedelta(days=1)))
    one = _one_event_aggregate(ops)

    def audit_page(since: datetime | None) -> int:
        rows = ops.audit_stream(AuditQuery(tenant_id=TENANT, since=since, limit=PAGE))
        return sum(1 for _ in rows)

    return [
        ("slo", f"opsledger slo --tenant {TENANT} --month {MONTH}",
         lambda: len(ops.slo(month, tenant_id=TENANT, now=END))),
        ("slo --as-of", f"opsledger slo --tenant {TENANT} --month {MONTH} --as-of {mid}",
         lambda: len(ops.slo(month, tenant_id=TENANT, now=MID))),
        ("alerts", f"opsledger alerts --tenant {TENANT}",
         lambda: len(ops.alerts(tenant_id=TENANT))),
        ("alerts --as-of", f"opsledger alerts --tenant {TENANT} --as-of {mid}",
         lambda: len(ops.alerts(tenant_id=TENANT, as_of=MID))),
        ("incident list", f"opsledger incident list --tenant {TENANT}",
         lambda: len(ops.incidents(tenant_id=TENANT))),
        ("incident list --as-of", f"opsledger incident list --tenant {TENANT} --as-of {mid}",
         lambda: len(ops.incidents(tenant_id=TENANT, as_of=MID))),
        ("sla", f"opsledger sla --tenant {TENANT} --month {MONTH}",
         lambda: len(ops.sla(month.start, month.end, tenant_id=TENANT))),
        ("sla --as-of", f"opsledger sla --tenant {TENANT} --month {MONTH} --as-of {mid}",
         lambda: len(ops.sla(month.start, month.end, tenant_id=TENANT, as_of=MID))),
        ("audit list", f"opsledger audit list --tenant {TENANT} --limit {PAGE}",
         lambda: audit_page(None)),
        ("audit list --from",
         f"opsledger audit list --tenant {TENANT} --from {mid} --limit {PAGE}",
         lambda: audit_page(MID)),
        ("replay", f"opsledger replay --tenant {TENANT} --from {day} --to {next_day}",
         lambda: sum(1 for _ in ops.replay_stream(TENANT, REPLAY_DAY,
                                                  REPLAY_DAY + timedelta(days=1)))),
        ("library get", "the library: app.repository.get(an aggregate of one event)",
         lambda: len([ops.app.repository.get(one)])),
    ]


def _one_event_aggregate(ops: Operations) -> UUID:
    """A stored aggregate with exactly one event (a batch recorded once)."""
    table = ops.sql.table(ops.sql.events_table)
    with ops.sql.transaction(commit=False) as cursor:
        ops.sql.execute(cursor, f"SELECT originator_id FROM {table} GROUP BY originator_id "
                                "HAVING MAX(originator_version) = 1 LIMIT 1")
        row = cursor.fetchone()
    value = row["originator_id"]
    return value if isinstance(value, UUID) else UUID(str(value))


def measure(url: str, repeat: int, log: Callable[[str], None]) -> list[Timing]:
    """Every read, ``repeat`` times round-robin after a warm-up, in this process."""
    with Operations.open(url) as ops:
        reads = _reads(ops)
        timings = [Timing(name, command) for name, command, _ in reads]
        for timing, (_, _, read) in zip(timings, reads, strict=True):
            timing.returned = read()  # warm-up (and what it returns)
        gc.collect()
        for _ in range(repeat):
            for timing, (_, _, read) in zip(timings, reads, strict=True):
                started = time.perf_counter()
                read()
                timing.runs.append(time.perf_counter() - started)
    for timing in timings:
        log(f"  {timing.name:<24} {timing.median_ms():9.1f} ms median  "
            f"{timing.p90_ms():9.1f} ms p90  ({timing.returned} rows)")
    return timings


# ------------------------------------------------------------------ command line


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench reads",
                                     description=(__doc__ or "").split("\n\n")[1])
    parser.add_argument("--operations", type=_positive, default=100_000,
                        help="publish operations of the largest store (default 100000; report "
                             "1000000; a store of a tenth of it is measured too)")
    parser.add_argument("--with-10m", action="store_true",
                        help="also a store of 10x --operations (long to build)")
    parser.add_argument("--repeat", type=_positive, default=15,
                        help="timed runs of each read (default 15)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    parser.add_argument("--dir", type=Path, default=Path("bench-out"),
                        help="where the stores are kept (default bench-out/)")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="build and read the stores in schemas of this PostgreSQL "
                             "database instead (kept for reuse)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    log = (lambda m: _log(True, m)) if args.json else (lambda m: _log(False, m))
    sizes = [max(1, args.operations // 10), args.operations]
    if args.with_10m:
        sizes.append(args.operations * 10)
    results: dict[int, tuple[ReadsStore, list[Timing]]] = {}
    for size in sizes:
        store = ensure_store(args.dir, size, args.seed, args.postgres, log)
        log(f"reads on {store.lines:,} operations ({store.notifications:,} notifications):")
        results[size] = (store, measure(store.url, args.repeat, log))
    return {
        "backend": "postgresql" if args.postgres else "sqlite",
        "repeat": args.repeat,
        "goal_ms": GOAL_MS,
        "stores": [{"operations": s.lines, "notifications": s.notifications, "url": s.url,
                    "build_seconds": s.build_seconds, "reused": s.reused}
                   for s, _ in results.values()],
        "reads": [
            {"read": t.name, "command": t.command,
             "by_operations": {str(results[size][0].lines): {
                 "median_ms": round(results[size][1][i].median_ms(), 2),
                 "p90_ms": round(results[size][1][i].p90_ms(), 2),
                 "returned": results[size][1][i].returned} for size in sizes}}
            for i, t in enumerate(results[sizes[0]][1])
        ],
    }


def render(report: dict[str, Any]) -> str:
    stores = [s["operations"] for s in report["stores"]]
    head = "".join(f"{f'{n:,} ops':>22}" for n in stores)
    lines = [f"read latency through the facade ({report['backend']}, median / p90 ms of "
             f"{report['repeat']} runs; goal < {report['goal_ms']:.0f} ms at 10M)",
             f"{'read':<24}{head}   growth", "-" * (24 + 22 * len(stores) + 9)]
    for read in report["reads"]:
        cells = [read["by_operations"][str(n)] for n in stores]
        growth = cells[-1]["median_ms"] / max(cells[0]["median_ms"], 1e-9)
        lines.append(f"{read['read']:<24}" + "".join(
            f"{c['median_ms']:>12.1f} /{c['p90_ms']:>7.1f}" for c in cells)
            + f"   {growth:5.1f}x")
    lines.append("")
    lines.extend(f"  {r['read']:<24} {r['command']}" for r in report["reads"])
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    report = run(args)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() if args.json
          else render(report))
    return 0
