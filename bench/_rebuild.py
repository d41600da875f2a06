"""``python -m bench rebuild``: rebuilding every projection against the library's mapped read.

Builds (once, cached in ``--dir``) a store of N simulated publish operations (default
1,000,000; filled by :func:`bench._rebuild_fast.fast_import`, the recording path's own
decisions and events in big transactions), then, ``--repeat`` times with the sides
interleaved and their order alternated, each in a fresh process on the same store file:

* **opsledger** — ``Operations.rebuild_views()``: clear every view (audit, SLO, alerts,
  incidents) and load the whole notification log again, 1,000 events per transaction
  (a load from zero: see ``projections/runner.py``, ``BULK_FROM``).
* **decode** — the rebuild's own read + decode phase alone: ``ViewRunner.read_facts``
  1,000 at a time, turning the notifications into the facts the views are given, nothing
  written. This is opsledger's counterpart of the library's decode path.
* **library** — a plain ``eventsourcing.application.Application`` on the same file with
  the default transcoder and mapper: ``recorder.select_notifications`` 1,000 at a time and
  ``mapper.to_domain_event`` of each (the library's own decode of the same events).

Rates are notifications per second of the best run. Two ratios to the library's mapped
read are printed, both against the target of 1.25x: **end to end** (the whole rebuild,
which reads *and writes* every view, against a read-only baseline) and **read+decode
phase** (the part of the rebuild that is a decode path, like the baseline). Each child's
own peak resident set (VmHWM; see :mod:`bench._rebuild_child` for why not ``ru_maxrss``
alone) is its peak memory; with ``--with-10m`` a rebuild of a 10x larger store
(10,000,000 operations by default, built once) is measured too, and the target is a
peak-memory ratio <= 1.2. ``--memory-operations N`` makes that pair N vs 10N (a scaled
pair, e.g. 200,000 vs 2,000,000) while the rates stay measured on ``--operations``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench._rebuild_report import MemoryFigures, RebuildReport, render_json, render_text
from bench._rebuild_store import ensure_store
from bench._report import Comparison, machine

__all__ = ["MEMORY_TARGET", "RATE_TARGET", "main", "parse_args", "run"]

RATE_TARGET = 1.25
MEMORY_TARGET = 1.2
LARGE_FACTOR = 10
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "bench-out"


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The ``rebuild`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench rebuild",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Stores are cached as <dir>/rebuild-<N>-s<seed>.db (+ .json marker) and "
               "reused when complete; delete them to rebuild.",
    )
    parser.add_argument("--operations", type=_positive, default=1_000_000,
                        help="simulated publish operations in the store (default 1000000)")
    parser.add_argument("--repeat", type=_positive, default=3,
                        help="runs of each side; the best is kept (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="cache directory for the stores (default: <repo>/bench-out)")
    parser.add_argument("--with-10m", dest="with_large", action="store_true",
                        help=f"also measure the peak memory of a rebuild of a store "
                             f"{LARGE_FACTOR}x --operations (10,000,000 by default; building "
                             "it the first time takes long)")
    parser.add_argument("--memory-operations", type=_positive, default=None,
                        help="the smaller store of the --with-10m memory pair (default: "
                             "--operations); the pair is N and 10 x N, so e.g. 200000 gives "
                             "a scaled 200k vs 2M pair")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def child(side: str, store: Path) -> dict[str, Any]:
    """Run one side in a fresh interpreter; its JSON line (events, seconds, peak_kib, ...).

    Raises ``RuntimeError`` with the child's stderr if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "bench._rebuild_child", side, str(store.resolve())],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{side} child failed ({done.returncode}):\n{done.stderr.strip()}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> RebuildReport:
    """Build or reuse the store(s), run both sides ``repeat`` times interleaved, report."""
    quiet = bool(args.json)

    def log(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    store = ensure_store(args.dir, args.operations, args.seed, log)
    path = Path(store.path)
    rebuild = Comparison(
        "rebuild", "ops.rebuild_views(): clear and re-apply every projection",
        "select_notifications(1000) + mapper.to_domain_event",
        store.notifications, RATE_TARGET,
    )
    base = args.memory_operations or args.operations
    memory = MemoryFigures(MEMORY_TARGET, base, base * LARGE_FACTOR)

    def measure(label: str, side: str, into: list[float], peaks: list[int], at: Path,
                expected: int) -> None:
        result = child(side, at)
        if result["events"] != expected:
            raise RuntimeError(f"{label}: {result['events']} events, expected {expected}")
        into.append(float(result["seconds"]))
        peaks.append(int(result["peak_kib"]))
        memory.ru_maxrss_kib.append(int(result["maxrss_kib"]))
        log(f"  {label:<18} {result['seconds']:8.3f}s  peak {result['peak_kib'] / 1024:7.1f} MiB")

    decode = Comparison(
        "read+decode", "the rebuild's own read + decode phase alone: ViewRunner.read_facts "
        "(notifications to the facts the views are given; nothing written)",
        rebuild.baseline, store.notifications, RATE_TARGET,
        library_seconds=rebuild.library_seconds,  # the same library runs as the rebuild's
    )
    decode_peaks: list[int] = []
    sides: list[tuple[str, str, list[float], list[int]]] = [
        ("opsledger-rebuild", "opsledger", rebuild.opsledger_seconds,
         memory.opsledger_small_kib),
        ("opsledger-decode", "decode", decode.opsledger_seconds, decode_peaks),
        ("library-mapped", "library", rebuild.library_seconds, memory.library_small_kib),
    ]
    for rep in range(args.repeat):
        log(f"run {rep + 1}/{args.repeat}")
        for label, side, into, peaks in sides if rep % 2 == 0 else sides[::-1]:
            measure(label, side, into, peaks, path, store.notifications)

    if args.with_large:
        if base != args.operations:  # the pair's smaller store is not the rate store
            small = ensure_store(args.dir, base, args.seed, log)
            log(f"memory pair: small store ({base:,} operations)")
            memory.opsledger_small_kib = []
            measure("opsledger-rebuild", "opsledger", [], memory.opsledger_small_kib,
                    Path(small.path), small.notifications)
        large = ensure_store(args.dir, memory.large_operations, args.seed, log)
        memory.large_store = large
        log(f"large store ({memory.large_operations:,} operations)")
        measure("opsledger-rebuild", "opsledger", memory.large_seconds,
                memory.opsledger_large_kib, Path(large.path), large.notifications)
    return RebuildReport(machine(), store, args.repeat, rebuild, decode, memory)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench rebuild``: run and print the text or JSON report."""
    args = parse_args(argv)
    report = run(args)
    print(render_json(report) if args.json else render_text(report))
    return 0
