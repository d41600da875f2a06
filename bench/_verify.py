"""``python -m bench verify``: checking the hash chain over N events against the library's own
raw read of the same notifications.

The store (``verify-<N>-s<seed>.db`` in ``--dir``, default ``bench-out/``, reused while its
marker file agrees with it) holds N publish-sized events (about 700 bytes of state each,
shaped like ``PublishBatch.Started``), inserted 10,000 per transaction through
``SqlStore.insert_stored_events`` — the same chained insert as the recording path, so the
chain is real. Then, ``--repeat`` times with the two sides interleaved, in this process:

* **opsledger** — ``Operations.verify_chain()``: every event read, hashed and compared
  with its link (and the links without events looked for), 20,000 ids per batch.
* **library** — ``recorder.select_notifications`` of a plain ``Application`` on the same
  file, 20,000 at a time, until the end of the log (the read alone: no decode).

Reported: the best verify's seconds and events/s, the target (1,000,000 events in under
5 s), and verify's time over the raw read's time.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from bench._rebuild_store import library_env, notification_head
from bench._report import machine
from opsledger import Operations

__all__ = ["TARGET_SECONDS", "main", "parse_args", "run"]

TARGET_SECONDS = 5.0
TARGET_EVENTS = 1_000_000
ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``--events N`` (default 1,000,000), ``--repeat K``, ``--seed S``, ``--dir D``,
    ``--json``."""
    parser = argparse.ArgumentParser(prog="python -m bench verify",
                                     description="Verify the hash chain over N events.")
    parser.add_argument("--events", type=_positive, default=TARGET_EVENTS)
    parser.add_argument("--repeat", type=_positive, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench-out")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def _state(rng: random.Random, k: int) -> bytes:
    tenant, repo = rng.randrange(10), rng.randrange(5)
    return orjson.dumps({
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-28T16:02:14.249596+00:00"},
        "originator_topic": "opsledger.PublishBatch", "tenant_id": f"tenant-{tenant}",
        "repository_id": f"repo-{tenant}-{repo}", "idempotency_key": f"ci-run-{k}",
        "key_missing": False,
        "occurred_at": {"_type_": "datetime_iso", "_data_": "2026-11-03T09:14:41.194000+00:00"},
        "operation": {"operation_id": f"op-{rng.getrandbits(96):024x}",
                      "payload_hash": f"{rng.getrandbits(256):064x}", "outcome": "success",
                      "attempts": 1, "latency_ms": rng.randrange(50, 5000),
                      "source": "bench", "tenant_mode": "saas", "status": 202,
                      "request_id": f"req-{rng.getrandbits(80):020x}",
                      "endpoint": "http://127.0.0.1:18787/v1/ingest/hotspots"},
    })


def _build(path: Path, events: int, seed: int, log: argparse.Namespace) -> float:
    for suffix in ("", "-wal", "-shm", ".lock", ".json"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    rng = random.Random(seed)
    started = time.perf_counter()
    with Operations.open(f"sqlite:///{path}") as ops:
        for start in range(0, events, 10_000):
            stored = [StoredEvent(UUID(int=rng.getrandbits(128)), 1,
                                  "opsledger.PublishBatch.Started", _state(rng, k))
                      for k in range(start, min(start + 10_000, events))]
            with ops.sql.transaction(commit=True) as cursor:
                ops.sql.insert_stored_events(cursor, stored)
            if not log.json and (start // 10_000) % 10 == 9:
                print(f"  {start + len(stored):,} events", flush=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    seconds = time.perf_counter() - started
    Path(f"{path}.json").write_bytes(orjson.dumps({"events": events, "seed": seed}))
    return seconds


def _library_read(path: Path) -> tuple[float, int]:
    app = Application[UUID](env=library_env(path))
    try:
        started = time.perf_counter()
        read, position = 0, 0
        while batch := app.recorder.select_notifications(start=position + 1, limit=BATCH):
            read += len(batch)
            position = batch[-1].id
        return time.perf_counter() - started, read
    finally:
        app.close()


def _verify(path: Path) -> tuple[float, int, bool]:
    with Operations.open(f"sqlite:///{path}") as ops:
        started = time.perf_counter()
        report = ops.verify_chain()
        return time.perf_counter() - started, report.events_checked, report.ok


def run(args: argparse.Namespace) -> dict[str, object]:
    """Build or reuse the store, measure both sides ``repeat`` times interleaved."""
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"verify-{args.events}-s{args.seed}.db"
    marker = Path(f"{path}.json")
    build_seconds = None
    reusable = marker.exists() and orjson.loads(marker.read_bytes()) == {
        "events": args.events, "seed": args.seed} and notification_head(path) == args.events
    if not reusable:
        if not args.json:
            print(f"building a store of {args.events:,} chained events in {path} ...")
        build_seconds = _build(path, args.events, args.seed, args)
    verify_s: list[float] = []
    read_s: list[float] = []
    for i in range(args.repeat):
        sides = [("verify", verify_s), ("read", read_s)]
        for side, into in sides if i % 2 == 0 else sides[::-1]:
            if side == "verify":
                seconds, checked, ok = _verify(path)
                if not ok or checked != args.events:
                    raise SystemExit(f"verify failed: ok={ok} checked={checked}")
            else:
                seconds, checked = _library_read(path)
                if checked != args.events:
                    raise SystemExit(f"library read {checked} of {args.events}")
            into.append(seconds)
    best_verify, best_read = min(verify_s), min(read_s)
    target = TARGET_SECONDS * args.events / TARGET_EVENTS
    return {
        "events": args.events, "store": str(path), "build_seconds": build_seconds,
        "verify_seconds": verify_s, "library_read_seconds": read_s,
        "verify_best_seconds": round(best_verify, 3),
        "verify_events_per_second": round(args.events / best_verify),
        "library_read_best_seconds": round(best_read, 3),
        "verify_over_read_time": round(best_verify / best_read, 2),
        "target_seconds": target, "target_met": best_verify < target, "machine": machine(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print (text or ``--json``)."""
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    built = result["build_seconds"]
    print(f"store: {result['store']} ("
          + (f"built in {built:.0f} s" if isinstance(built, float) else "reused") + ")")
    runs = ", ".join(f"{s:.2f}" for s in cast(list[float], result["verify_seconds"]))
    print(f"verify {result['events']:,} events: {result['verify_best_seconds']} s "
          f"({result['verify_events_per_second']:,} events/s; runs {runs})")
    print(f"library raw read (select_notifications, {BATCH:,}/batch): "
          f"{result['library_read_best_seconds']} s")
    print(f"verify / raw read time: {result['verify_over_read_time']}x")
    print(f"target: under {result['target_seconds']:.2f} s — "
          f"{'met' if result['target_met'] else 'MISSED'}")
    return 0
