"""``python -m bench import-memory``: peak memory of an import against the file's size.

Issue 13's goal: the peak memory of importing 200,000 lines is at most 1.2x that of
importing 20,000 lines. Simulated Pumuki audit files of ``--small`` and ``--large`` lines
(default 20,000 and 200,000; made once by :func:`bench._input.write_audit_lines` and
cached in ``--dir``) are imported, each into a fresh SQLite store, by fresh child
processes (:mod:`bench._import_memory_child`), whose own peak resident set (VmHWM) is the
measure. Sides: ``import`` (the importer alone), ``strict`` (validating first pass, then
the writes), ``strict-spooled`` (strict from a source that cannot be rewound, like stdin),
``command`` (the whole ``opsledger import pumuki-audit`` command, including the catch-up
by event time after it: alert process, freshness and incident deadlines) and ``library``
(the eventsourcing library's batched save of the same lines, streamed: the baseline).
Each side prints its large/small peak ratio against the target; the library's ratio shows
what the platform itself costs. The bench never fails on a missed target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench._import_memory_child import SIDES
from bench._input import write_audit_lines
from bench._report import machine

__all__ = ["MEMORY_TARGET", "main", "parse_args", "run"]

MEMORY_TARGET = 1.2
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "bench-out"


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The ``import-memory`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench import-memory",
        description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", type=_positive, default=20_000,
                        help="lines of the small file (default 20000)")
    parser.add_argument("--large", type=_positive, default=200_000,
                        help="lines of the large file (default 200000)")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"comma-separated sides to measure (default {','.join(SIDES)})")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="cache directory for the audit files (default <repo>/bench-out)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    unknown = set(args.sides.split(",")) - set(SIDES)
    if unknown:
        parser.error(f"unknown sides {sorted(unknown)}; choose from {', '.join(SIDES)}")
    return args


def audit_file(directory: Path, lines: int, seed: int) -> Path:
    """The cached simulated audit file of ``lines`` lines (made once)."""
    path = directory / f"import-memory-{lines}-s{seed}.ndjson"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write_audit_lines(partial, lines, seed=seed)
        partial.rename(path)
    return path


def child(side: str, audit: Path, store: Path) -> dict[str, Any]:
    """One side in a fresh interpreter; its JSON line. ``RuntimeError`` if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "bench._import_memory_child", side, str(audit), str(store)],
        cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} child failed ({done.returncode}):\n{done.stderr.strip()}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every side at both sizes; the report as a dict."""
    def log(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    args.dir.mkdir(parents=True, exist_ok=True)
    files = {size: audit_file(args.dir, size, args.seed) for size in (args.small, args.large)}
    sides: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="opsledger-import-memory-", dir=args.dir) as tmp:
        for side in args.sides.split(","):
            peaks: dict[int, dict[str, Any]] = {}
            for size, audit in files.items():
                result = child(side, audit, Path(tmp) / f"{side}-{size}.db")
                if result["lines"] != size:
                    raise RuntimeError(f"{side}: {result['lines']} lines, expected {size}")
                peaks[size] = result
                log(f"  {side:<15} {size:>9,} lines  {result['seconds']:8.1f}s  "
                    f"peak {result['peak_kib'] / 1024:7.1f} MiB")
            ratio = peaks[args.large]["peak_kib"] / peaks[args.small]["peak_kib"]
            sides.append({"side": side, "small_mib": peaks[args.small]["peak_kib"] / 1024,
                          "large_mib": peaks[args.large]["peak_kib"] / 1024,
                          "small_seconds": peaks[args.small]["seconds"],
                          "large_seconds": peaks[args.large]["seconds"],
                          "ratio": ratio, "met": ratio <= MEMORY_TARGET})
    return {"machine": machine(), "small": args.small, "large": args.large,
            "target": MEMORY_TARGET, "sides": sides}


def render_text(report: dict[str, Any]) -> str:
    """The human report: one line per side."""
    head = (f"import memory: peak of {report['large']:,} lines / peak of {report['small']:,} "
            f"lines (target <= {report['target']}x; fresh process each, VmHWM)")
    rows = [f"  {s['side']:<15} {s['small_mib']:7.1f} MiB -> {s['large_mib']:7.1f} MiB  "
            f"{s['ratio']:5.2f}x  {'met' if s['met'] else 'NOT met'}"
            + ("  (baseline)" if s["side"] == "library" else "") for s in report["sides"]]
    return "\n".join([head, *rows])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench import-memory``."""
    args = parse_args(argv)
    report = run(args)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() if args.json
          else render_text(report))
    return 0
