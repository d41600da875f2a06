"""``python -m bench``: opsledger's recording path against the eventsourcing library's own.

Four commands:

* ``python -m bench [--lines N] [--single M] [--repeat K] [--seed S] [--dir D]
  [--postgres URL] [--json]`` (the default, quick): the recording path, described below.
* ``python -m bench rebuild [--operations N] [--repeat K] [--seed S] [--dir D]
  [--with-10m] [--memory-operations M] [--json]``: rebuilding every projection from a
  store of N simulated publish operations (default 1,000,000; the store is built once into
  ``--dir``, default ``bench-out/``, and reused) against the library's own mapped read of
  the same notifications (target >= 1.25x), printed end to end and for the rebuild's own
  read + decode phase alone, plus the peak memory of one rebuild in a fresh process at N
  (or M) and, with ``--with-10m``, at 10 N (or 10 M) (target ratio <= 1.2). See
  :mod:`bench._rebuild`.
  ``python -m bench rebuild --help`` lists its options.
* ``python -m bench verify [--events N] [--repeat K] [--seed S] [--dir D] [--json]``:
  ``opsledger verify`` of the hash chain over N events (default 1,000,000; the store is
  built once through the chained insert path and reused) against the library's raw read
  of the same notifications (target: 1,000,000 events in under 5 s). See
  :mod:`bench._verify`.
* ``python -m bench size [--lines N] [--seed S] [--dir D] [--postgres URL] [--json]``: the
  bytes per imported publish of every table and index of a store that imported N simulated
  audit lines and their snapshots, against the raw input (goal <= 2x) and the library's
  store of the same records as plain events. See :mod:`bench._size`.
* ``python -m bench reads [--operations N] [--with-10m] [--repeat K] [--dir D] [--postgres URL]
  [--json]``: the read commands (slo, alerts, incident list, sla, audit list's first page,
  as-of reads mid-month, replay of one day) timed through the facade, median and p90, on
  stores of N/10 and N operations (default 100,000; report 1,000,000; ``--with-10m`` also
  10 N), built once into ``--dir`` and reused (goal < 50 ms at 10M). See
  :mod:`bench._reads`.
* ``python -m bench startup [--json]``: only the start-up row described below.
* ``python -m bench serve [--lines N] [--single M] [--repeat K] [--json]``: publishes over
  HTTP to ``opsledger serve``'s app (single-record JSON POSTs; 1,000-line NDJSON bodies)
  against the in-process ``record_publish`` / import of the same records, with the
  library's rates and p50/p99 request latencies. See :mod:`bench._serve`.
* ``python -m bench dashboard [--repeat K] [--dir D] [--screenshots DIR] [--json]``: the
  dashboard's pages (overview, tenant, incident, timeline, gate, as_of variants, the poll)
  timed over HTTP on the simulated month's store (``opsledger demo``'s, built once into
  ``--dir``), median and p90 per page against the 300 ms goal; ``--screenshots`` also saves
  the README's screenshots. See :mod:`bench._dashboard`.
* ``python -m bench import-memory [--small N] [--large M] [--sides S] [--dir D] [--json]``:
  the peak memory (VmHWM of a fresh child) of importing M simulated audit lines against N
  (default 200,000 vs 20,000; target ratio <= 1.2), for the importer, ``--strict``,
  strict from an unrewindable source, the whole import command, and the library's
  streamed batched save as the baseline. See :mod:`bench._import_memory`.
* ``python -m bench sweep-export [--incidents N] [--sweep-days D] [--days D] [--json]``:
  the incident deadline sweep (100 SEV1 incidents left open 17 days) and the compliance
  export of one busy tenant (a month, 15 days, everything), rows/s, seconds and peak
  memory against the library's read of the same notifications. See
  :mod:`bench._sweep_export`.

The default command makes two comparisons, both in the same process and run, each into a
fresh SQLite file (WAL):

* **bulk** — ``import_pumuki_audit`` of N simulated Pumuki audit lines (default 100,000)
  through the whole opsledger path: read and parse each NDJSON line, validate it
  (pydantic), derive its batch, check idempotency against the store, register unseen
  tenants, and save one event per line, 1000 lines per transaction. The baseline is the
  library's batched append of the same number of comparable events: a plain
  ``Aggregate`` whose creation event carries the same fields as an opsledger publish
  event, from pre-parsed dicts of the same lines, ``app.save(*batch)`` 1000 at a time,
  default transcoder.
* **single** — M ``Operations.record_publish`` calls (default 2,000; one transaction
  each) against M ``app.save(aggregate)`` calls of the same facts.

* **single-pg** (with ``--postgres URL``) — the same single comparison on PostgreSQL: each
  run into a fresh schema of that database (dropped after), the library's application with
  the same connection settings opsledger's store URL gives.

Targets: bulk >= 0.65x and single >= 0.8x the library's rate (on PostgreSQL too).

A last row, **startup**, gives the wall-clock start-up of ``opsledger --help`` (the venv's
console script) beside ``python -c pass``, the median of 5 fresh processes each, interleaved
(target: ``--help`` under 0.5 s). See :mod:`bench._startup`.

Why ratios: the machine is shared and noisy, so absolute events/s differ from run to run
and between machines; what is stable is how opsledger compares with the library it is
built on, measured seconds apart under the same conditions. Each measurement is taken
``--repeat`` times (best kept), with opsledger and library runs interleaved (and their
order alternated) so that noise hits both sides. The script reports whether each target
is met; it never fails because one is missed (it fails only if a run stores the wrong
number of events). ``--json`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from uuid import uuid4

from bench import _import_memory, _rebuild, _startup, _verify
from bench._baseline import library_batched, library_single
from bench._input import (
    library_rows_from_lines,
    library_rows_from_records,
    single_records,
    write_audit_lines,
)
from bench._opsledger import opsledger_bulk, opsledger_single
from bench._report import (
    Comparison,
    Report,
    machine,
    render_json,
    render_json_value,
    render_text,
)
from opsledger.store.url import parse_store_url

BULK_TARGET = 0.65
SINGLE_TARGET = 0.8


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="The other command: 'python -m bench rebuild' rebuilds every projection from "
               "a cached store of 1,000,000 simulated operations against the library's mapped "
               "read, and measures its peak memory (--with-10m: also at 10,000,000). See "
               "'python -m bench rebuild --help'.",
    )
    parser.add_argument("--lines", type=_positive, default=100_000,
                        help="simulated audit lines to import (default 100000)")
    parser.add_argument("--single", type=_positive, default=2_000,
                        help="single records to record one by one (default 2000)")
    parser.add_argument("--repeat", type=_positive, default=3,
                        help="runs of each measurement; the best is kept (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to put the temporary stores (default: system temp)")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="also compare single records on this PostgreSQL database (fresh "
                             "schemas, dropped after), e.g. "
                             "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


class _Schemas:
    """Fresh PostgreSQL schemas of one database, dropped after use."""

    def __init__(self, url: str) -> None:
        self.url = url.split("?", 1)[0]
        self.count = 0

    def fresh(self, label: str) -> str:
        self.count += 1
        return f"bench_{uuid4().hex[:8]}_{label.replace('-', '_')}_{self.count}"

    def store_url(self, schema: str) -> str:
        return f"{self.url}?schema={schema}"

    def library_env(self, schema: str) -> dict[str, str]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return {**parse_store_url(self.store_url(schema)).env, "CREATE_TABLE": "y"}

    def remove(self, schema: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class _Stores:
    """Fresh SQLite file paths in one directory, removed (with WAL files) after use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def fresh(self, label: str) -> Path:
        self.count += 1
        return self.directory / f"{label}-{self.count}.db"

    @staticmethod
    def remove(path: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Report:
    """Prepare the inputs, run every measurement ``repeat`` times interleaved, report."""
    quiet = bool(args.json)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="opsledger-bench-", dir=args.dir) as tmp:
        directory = Path(tmp)
        audit_path = directory / "audit.ndjson"
        _log(quiet, "timing opsledger --help beside python -c pass ...")
        startup = _startup.measure()
        _log(quiet, f"simulating {args.lines:,} audit lines ...")
        write_audit_lines(audit_path, args.lines, seed=args.seed)
        with audit_path.open("rb") as lines:
            bulk_rows = library_rows_from_lines(lines)
        records = single_records(args.single)
        single_rows = library_rows_from_records(records)

        bulk = Comparison("bulk", f"import {args.lines:,} Pumuki audit lines",
                          "batched app.save(*1000 aggregates)", args.lines, BULK_TARGET)
        single = Comparison("single", f"{args.single:,} record_publish calls",
                            "app.save(aggregate) per event", args.single, SINGLE_TARGET)
        stores = _Stores(directory)
        comparisons = [bulk, single]
        schemas = _Schemas(args.postgres) if args.postgres else None
        single_pg = Comparison("single-pg", f"{args.single:,} record_publish calls, PostgreSQL",
                               "app.save(aggregate) per event, PostgreSQL", args.single,
                               SINGLE_TARGET)
        if schemas is not None:
            comparisons.append(single_pg)

        def measure_pg(label: str, into: list[float], action: Callable[[str], float]) -> None:
            assert schemas is not None
            schema = schemas.fresh(label)
            gc.collect()
            try:
                seconds = action(schema)
            finally:
                schemas.remove(schema)
            into.append(seconds)
            _log(quiet, f"  {label:<18} {seconds:8.3f}s")

        def measure(label: str, into: list[float], action: Callable[[Path], float]) -> None:
            path = stores.fresh(label)
            gc.collect()
            try:
                seconds = action(path)
            finally:
                stores.remove(path)
            into.append(seconds)
            _log(quiet, f"  {label:<18} {seconds:8.3f}s")

        for rep in range(args.repeat):
            _log(quiet, f"run {rep + 1}/{args.repeat}")
            pairs = [
                (("opsledger-bulk", bulk.opsledger_seconds,
                  lambda p: opsledger_bulk(p, audit_path, args.lines)),
                 ("library-batched", bulk.library_seconds,
                  lambda p: library_batched(p, bulk_rows))),
                (("opsledger-single", single.opsledger_seconds,
                  lambda p: opsledger_single(p, records)),
                 ("library-single", single.library_seconds,
                  lambda p: library_single(p, single_rows))),
            ]
            for first, second in pairs:
                order = (first, second) if rep % 2 == 0 else (second, first)
                for label, into, action in order:
                    measure(label, into, action)
            if schemas is not None:
                pg_pair = [
                    ("opsledger-single-pg", single_pg.opsledger_seconds,
                     lambda schema: opsledger_single(schemas.store_url(schema), records)),
                    ("library-single-pg", single_pg.library_seconds,
                     lambda schema: library_single(schemas.library_env(schema), single_rows)),
                ]
                for label, into, pg_action in (pg_pair if rep % 2 == 0 else pg_pair[::-1]):
                    measure_pg(label, into, pg_action)
    return Report(machine(), args.lines, args.single, args.repeat, comparisons, startup)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``rebuild`` as the first argument runs that bench; otherwise run the
    recording bench and print the text or JSON report."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["rebuild"]:
        return _rebuild.main(arguments[1:])
    if arguments[:1] == ["verify"]:
        return _verify.main(arguments[1:])
    if arguments[:1] == ["import-memory"]:
        return _import_memory.main(arguments[1:])
    if arguments[:1] == ["sweep-export"]:
        from bench import _sweep_export

        return _sweep_export.main(arguments[1:])
    if arguments[:1] == ["serve"]:
        from bench import _serve

        return _serve.main(arguments[1:])
    if arguments[:1] == ["dashboard"]:
        from bench import _dashboard

        return _dashboard.main(arguments[1:])
    if arguments[:1] == ["reads"]:
        from bench import _reads

        return _reads.main(arguments[1:])
    if arguments[:1] == ["size"]:
        from bench import _size

        return _size.main(arguments[1:])
    if arguments[:1] == ["startup"]:
        startup = _startup.measure()
        as_json = arguments[1:] == ["--json"]
        print(render_json_value(startup.to_dict()) if as_json else "\n".join(startup.render()))
        return 0
    args = parse_args(arguments)
    report = run(args)
    print(render_json(report) if args.json else render_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
