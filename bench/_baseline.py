"""The library baseline: a plain eventsourcing application and aggregate, default settings.

The aggregate's creation event carries the same fields as one opsledger publish event
(tenant, repository, idempotency key, ``key_missing``, ``occurred_at`` and the operation
dict), the application uses the library's default JSON transcoder and the same kind of
SQLite file store (WAL) as opsledger. Timings include event creation and saving.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench._input import PublishArgs

__all__ = ["BaselineApp", "BenchPublish", "library_batched", "library_single"]

CHUNK = 1000


class BenchPublish(Aggregate):
    """One publish operation; its ``Created`` event has opsledger's publish fields."""

    def __init__(
        self,
        tenant_id: str,
        repository_id: str,
        idempotency_key: str,
        key_missing: bool,
        occurred_at: datetime,
        operation: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.repository_id = repository_id
        self.idempotency_key = idempotency_key
        self.key_missing = key_missing
        self.occurred_at = occurred_at
        self.operation = operation


class BaselineApp(Application[UUID]):
    """A plain application: default transcoder, persistence chosen by ``env``."""

    name = "bench_baseline"


def _open(store: Path | dict[str, str]) -> BaselineApp:
    """A SQLite file (a path) or the persistence settings given (PostgreSQL: the same
    ``env`` opsledger's store URL gives, with ``CREATE_TABLE``)."""
    if isinstance(store, dict):
        return BaselineApp(env=store)
    return BaselineApp(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store)}
    )


def _check(app: BaselineApp, expected: int) -> None:
    stored = app.recorder.max_notification_id() or 0
    if stored != expected:
        raise RuntimeError(f"library baseline stored {stored} events, expected {expected}")


def library_batched(db_path: Path, rows: Sequence[PublishArgs], chunk: int = CHUNK) -> float:
    """Create one aggregate per row and ``app.save(*batch)`` ``chunk`` at a time.

    Returns the elapsed seconds (store creation and the final check are not timed)."""
    app = _open(db_path)
    try:
        started = time.perf_counter()
        for start in range(0, len(rows), chunk):
            app.save(*[BenchPublish(*row) for row in rows[start : start + chunk]])
        elapsed = time.perf_counter() - started
        _check(app, len(rows))
    finally:
        app.close()
    return elapsed


def library_single(store: Path | dict[str, str], rows: Sequence[PublishArgs]) -> float:
    """Create and ``app.save(aggregate)`` one row at a time (one transaction each), into a
    SQLite file or the store ``env`` describes."""
    app = _open(store)
    try:
        started = time.perf_counter()
        for row in rows:
            app.save(BenchPublish(*row))
        elapsed = time.perf_counter() - started
        _check(app, len(rows))
    finally:
        app.close()
    return elapsed
