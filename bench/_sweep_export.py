"""``python -m bench sweep-export``: the incident deadline sweep and the compliance export.

Issue 19 (points 4 and 5). Two measurements, each in a fresh child process (its peak
resident set, VmHWM, is its own), against the eventsourcing library's mapped read of the
same notifications (:func:`bench._rebuild_child.library_mapped_read`) in the same run:

* **sweep** — ``--incidents`` SEV1 incidents (default 100) opened into a fresh SQLite store
  and left alone for ``--sweep-days`` (default 17), then one ``record_due_incident_deadlines``
  and the views' catch-up of what it recorded. Two policies: the issue's scenario
  (``sev1_status_update_max_missed`` raised so the cadence never lapses: 797 misses per
  incident, 79,700 for 100, the figure the issue quotes) and the default policy (the cadence
  lapses after 48 misses in a row: 50 misses per incident). Rate: misses recorded and
  applied per second.
* **export** — ``opsledger audit export``'s bytes (``Operations.export_stream(...).chunks``,
  ``--format``, default csv) of one busy tenant: ``--days`` of
  simulated traffic (default 365, ``--per-day`` 560 operations a day: a year of the issue's
  tenant is 365 days, 205k operations), with an episode every fourth day (alerts, and the
  incidents they open). Ranges: the middle month, its first 15 days, its first day (the
  cost of a range follows the range, not the store: the views' (tenant, time) index), and
  everything. The store is built once into ``--dir`` (default ``bench-out/``) and reused.
  ``--only export`` skips the sweep.

The ratio is opsledger's rate over the library's mapped-read rate of the store's
notifications (the export's rate is rows per second; the library's, notifications).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench._import_memory import _positive
from bench._rebuild_child import library_mapped_read, peak_kib
from bench._report import machine

__all__ = ["EXPORT_TARGET", "main", "parse_args", "run"]

EXPORT_TARGET = 100_000  # rows per second for a month of one busy tenant
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "bench-out"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START = datetime(2026, 1, 5, tzinfo=UTC)
TENANT = "tenant-01"
KINDS = ("outage", "error_burst", "auth_failures", "collisions", "slow")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The ``sweep-export`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench sweep-export",
        description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--incidents", type=_positive, default=100,
                        help="SEV1 incidents left open (default 100)")
    parser.add_argument("--sweep-days", type=_positive, default=17,
                        help="days they stay open before the sweep (default 17)")
    parser.add_argument("--days", type=_positive, default=365,
                        help="days of the busy tenant's store (default 365)")
    parser.add_argument("--per-day", type=_positive, default=560,
                        help="its publish operations a day (default 560)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="cache directory for the export store (default <repo>/bench-out)")
    parser.add_argument("--only", choices=("sweep", "export"),
                        help="measure only the sweep or only the export (default both)")
    parser.add_argument("--format", dest="fmt", choices=("csv", "ndjson", "json"),
                        default="csv", help="the export's format (default csv)")
    parser.add_argument("--typed", action="store_true",
                        help="also measure the typed path (the rows as ExportRow, then the "
                             "serializer: the export before the fast path), interleaved")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


# ---- children (each runs in its own interpreter) --------------------------------------
def _sweep(store: Path, incidents: int, days: int, max_missed: int) -> dict[str, Any]:
    from opsledger import Governance, Operations, OperationsPolicy

    policy = OperationsPolicy.from_toml(
        f"[response]\nsev1_status_update_max_missed = {max_missed}\n")
    with Operations.open(f"sqlite:///{store}", policy=policy) as ops:
        ops.register_tenant(TENANT, repositories=["web"], governance=Governance(), by="bench",
                            at=T0 - timedelta(days=1))
        for i in range(incidents):
            ops.open_incident(severity="SEV1", title=f"left open {i}", cause="other",
                              by="bench", tenant_id=TENANT, at=T0 + timedelta(seconds=i))
        ops.views.catch_up()
        started = time.perf_counter()
        missed = ops.record_due_incident_deadlines(T0 + timedelta(days=days))
        swept = time.perf_counter()
        ops.views.catch_up()
        done = time.perf_counter()
    return {"missed": missed, "sweep_seconds": swept - started,
            "catch_up_seconds": done - swept, "seconds": done - started}


def _export(store: Path, since: str, until: str, fmt: str, path: str) -> dict[str, Any]:
    """The export as ``opsledger audit export`` writes it: the stream's chunks (the views'
    rows straight to bytes), counted and dropped; with ``path`` ``typed``, the typed rows
    written by the serializer instead."""
    from opsledger import Operations
    from opsledger.serialize import export_chunks, fmt_time

    start, end = datetime.fromisoformat(since), datetime.fromisoformat(until)
    size = rows = 0
    with Operations.open(f"sqlite:///{store}") as ops:
        ops.views.catch_up()
        started, cpu = time.perf_counter(), time.process_time()
        stream = ops.export_stream(TENANT, start, end)
        if path == "typed":
            typed = [0]

            def counted() -> Any:
                for row in stream:
                    typed[0] += 1
                    yield row.to_dict(fmt_time)
            chunks = export_chunks(counted(), fmt)
        else:
            chunks = stream.chunks(fmt)
        for chunk in chunks:
            size += len(chunk)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu
        rows = typed[0] if path == "typed" else stream.rows
    return {"rows": rows, "bytes": size, "seconds": seconds, "cpu_seconds": cpu_seconds}


def _child_main(args: list[str]) -> int:
    side, store = args[0], Path(args[1])
    if side == "sweep":
        result = _sweep(store, int(args[2]), int(args[3]), int(args[4]))
    elif side == "export":
        result = _export(store, args[2], args[3], args[4], args[5])
    else:
        notifications, seconds = library_mapped_read(store)
        result = {"notifications": notifications, "seconds": seconds}
    print(orjson.dumps({**result, "side": side, "peak_kib": peak_kib()}).decode())
    return 0


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench._sweep_export", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} child failed ({done.returncode}):\n"
                           f"{done.stderr.strip()[-3000:]}")
    return dict(orjson.loads(done.stdout.splitlines()[-1]))


# ---- the export store (built once) ----------------------------------------------------
def export_store(directory: Path, days: int, per_day: int) -> Path:
    """The busy tenant's store (cached): ``days`` of simulated traffic imported, then
    the sweep by event time (alerts, the incidents they open, their missed deadlines)."""
    folder = directory / f"sweep-export-{days}d-{per_day}"
    path = folder / "store.db"  # beside it, its key store: the folder moves as a whole
    if path.exists():
        return path
    from opsledger import Operations, import_pumuki_audit
    from opsledger.sim.simulate import Episode, SimulationConfig, simulate

    episodes = tuple(
        Episode(KINDS[i % len(KINDS)], TENANT, start, start + timedelta(minutes=30))  # type: ignore[arg-type]
        for i in range(days // 4)
        for start in [START + timedelta(days=4 * i, hours=10)])
    config = SimulationConfig(days=days, tenants=1, seed=7, start=START,
                              operations_per_day=per_day, episodes=episodes)
    partial = folder.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    audit = partial / "audit.ndjson"
    with audit.open("wb") as out:
        simulate(config, out)
    with Operations.open(f"sqlite:///{partial / path.name}") as ops, audit.open("rb") as lines:
        import_pumuki_audit(ops, [lines], register_unknown=True)
        ops.advance_by_event_time()
        ops.views.catch_up()
    audit.unlink()
    partial.rename(folder)
    return path


# ---- the report -----------------------------------------------------------------------
def _progress(quiet: bool, message: str) -> None:
    if not quiet:  # with --json, the report alone
        print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the sweep (both policies) and the export (four ranges); the report."""
    log = functools.partial(_progress, args.json)
    args.dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine(), "incidents": args.incidents,
                              "sweep_days": args.sweep_days, "days": args.days,
                              "per_day": args.per_day, "format": args.fmt, "sweeps": [],
                              "exports": [], "export_target": EXPORT_TARGET}
    if args.only != "export":
        report["sweeps"] = _run_sweeps(args, log)
    if args.only != "sweep":
        report.update(_run_exports(args, log))
    return report


def _run_sweeps(args: argparse.Namespace, log: Any) -> list[dict[str, Any]]:
    sweeps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="opsledger-sweep-", dir=args.dir) as tmp:
        for label, max_missed in (("issue (no lapse)", 10_000), ("default policy", 48)):
            store = Path(tmp) / f"sweep-{max_missed}.db"
            result = _child("sweep", str(store), str(args.incidents), str(args.sweep_days),
                            str(max_missed))
            library = _child("library", str(store))
            rate = result["missed"] / result["seconds"]
            library_rate = library["notifications"] / library["seconds"]
            sweeps.append({"policy": label, **result, "rate": rate,
                           "library_rate": library_rate, "ratio": rate / library_rate,
                           "library_peak_kib": library["peak_kib"]})
            log(f"  sweep {label}: {result['missed']:,} misses in {result['seconds']:.2f}s")
    return sweeps


def _run_exports(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """The export of four ranges: the middle month, its first 15 days, one day (the cost of
    a range is proportional to it, not to the store: the views' (tenant, time) index), and
    everything."""
    started = time.perf_counter()
    store = export_store(args.dir, args.days, args.per_day)
    log(f"  export store {store.name} ready ({time.perf_counter() - started:.0f}s)")
    library = _child("library", str(store))
    library_rate = library["notifications"] / library["seconds"]
    middle = START + timedelta(days=args.days // 2)
    ranges = (("month", middle, middle + timedelta(days=30)),
              ("15 days", middle, middle + timedelta(days=15)),
              ("1 day", middle, middle + timedelta(days=1)),
              ("everything", START - timedelta(days=1), START + timedelta(days=args.days + 30)))
    exports: list[dict[str, Any]] = []
    for label, since, until in ranges:
        for path in ("typed", "chunks") if args.typed else ("chunks",):
            result = _child("export", str(store), since.isoformat(), until.isoformat(),
                            args.fmt, path)
            rate = result["rows"] / result["seconds"]
            exports.append({"range": label, "path": path, **result, "rate": rate,
                            "ratio": rate / library_rate,
                            "cpu_rate": result["rows"] / result["cpu_seconds"],
                            "met": label != "month" or rate >= EXPORT_TARGET})
            log(f"  export {label} ({path}): {result['rows']:,} rows in "
                f"{result['seconds']:.3f}s")
    return {"export_library": {**library, "rate": library_rate}, "exports": exports}


def render_text(report: dict[str, Any]) -> str:
    """The human report."""
    lines: list[str] = []
    if report["sweeps"]:
        lines.append(f"deadline sweep: {report['incidents']} SEV1 incidents open "
                     f"{report['sweep_days']} days, sweep + views' catch-up (fresh process "
                     "each)")
    for s in report["sweeps"]:
        lines.append(f"  {s['policy']:<17} {s['missed']:>7,} misses {s['seconds']:7.2f}s "
                     f"(sweep {s['sweep_seconds']:.2f}s, views {s['catch_up_seconds']:.2f}s) "
                     f"{s['rate']:>9,.0f}/s  {s['ratio']:5.2f}x library read "
                     f"({s['library_rate']:,.0f}/s)  peak {s['peak_kib'] / 1024:6.1f} MiB")
    if not report["exports"]:
        return "\n".join(lines)
    lib = report["export_library"]
    lines.append(f"compliance export: one tenant, {report['days']} days x {report['per_day']} "
                 f"operations ({lib['notifications']:,} notifications; library read "
                 f"{lib['rate']:,.0f}/s), {report['format']}; target >= "
                 f"{report['export_target']:,} rows/s for the month")
    for e in report["exports"]:
        lines.append(f"  {e['range']:<11} {e['path']:<6} {e['rows']:>8,} rows {e['seconds']:7.2f}s "
                     f"{e['rate']:>9,.0f} rows/s (cpu {e['cpu_rate']:>9,.0f}/s)  "
                     f"{e['ratio']:5.2f}x library read  "
                     f"peak {e['peak_kib'] / 1024:6.1f} MiB"
                     + ("" if e["range"] != "month" or e["path"] != "chunks" else
                        ("  met" if e["met"] else "  NOT met")))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench sweep-export``."""
    args = parse_args(argv)
    report = run(args)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() if args.json
          else render_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
