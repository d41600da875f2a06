"""One measurement of the import-memory bench, in a fresh process so its peak is its own.

``python -m bench._import_memory_child SIDE AUDIT STORE`` imports the NDJSON file AUDIT
into a new SQLite store STORE and prints one JSON line: the side, the lines read, the
elapsed seconds and the process's own peak resident set (``peak_kib``: VmHWM, see
:mod:`bench._rebuild_child`). Sides:

* ``import`` — ``import_pumuki_audit`` (read, validate, record) of the file.
* ``strict`` — the same with ``strict=True`` (a validating first pass, then the writes).
* ``strict-spooled`` — strict from a source that cannot be rewound (as stdin is): the
  first pass spools it to a private temporary file.
* ``command`` — the whole ``opsledger import pumuki-audit FILE --register-unknown``
  command as a user runs it: the import, then the catch-up by event time that follows it
  (alert process, freshness and incident deadlines).
* ``library`` — the eventsourcing library's baseline: each line parsed and saved as a
  plain aggregate, ``app.save(*1000)`` at a time, streamed (nothing kept).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from bench._baseline import BaselineApp, BenchPublish
from bench._input import library_rows_from_lines
from bench._rebuild_child import peak_kib

__all__ = ["SIDES", "main"]

SIDES = ("import", "strict", "strict-spooled", "command", "library")


def _opsledger(side: str, audit: Path, store: Path) -> int:
    from opsledger import Operations, import_pumuki_audit

    if side == "command":
        from opsledger.cli.main import main as cli

        cli(["import", "pumuki-audit", str(audit), "--register-unknown", "--db",
             f"sqlite:///{store}"], standalone_mode=False)
        with audit.open("rb") as handle:
            return sum(1 for _ in handle)
    with Operations.open(f"sqlite:///{store}") as ops, audit.open("rb") as handle:
        source: Iterable[bytes] = (line for line in handle) \
            if side == "strict-spooled" else handle
        summary = import_pumuki_audit(ops, [source], strict=side != "import",
                                      register_unknown=True)
    if summary.rejected:
        raise RuntimeError(f"{len(summary.rejected)} lines rejected: {summary.rejected[:1]}")
    return summary.lines


def _library(audit: Path, store: Path, chunk: int = 1000) -> int:
    app = BaselineApp(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                           "SQLITE_DBNAME": str(store)})
    lines = 0
    try:
        with audit.open("rb") as handle:
            batch: list[bytes] = []
            for raw in handle:
                batch.append(raw)
                if len(batch) == chunk:
                    app.save(*[BenchPublish(*row) for row in library_rows_from_lines(batch)])
                    lines += len(batch)
                    batch = []
            if batch:
                app.save(*[BenchPublish(*row) for row in library_rows_from_lines(batch)])
                lines += len(batch)
    finally:
        app.close()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run one side and print its JSON line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] not in SIDES:
        print(f"usage: python -m bench._import_memory_child {{{'|'.join(SIDES)}}} AUDIT STORE",
              file=sys.stderr)
        return 2
    side, audit, store = args[0], Path(args[1]), Path(args[2])
    started = time.perf_counter()
    lines = _library(audit, store) if side == "library" else _opsledger(side, audit, store)
    seconds = time.perf_counter() - started
    print(orjson.dumps({"side": side, "lines": lines, "seconds": seconds,
                        "peak_kib": peak_kib()}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
