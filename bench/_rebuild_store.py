"""The rebuild bench's store: N simulated publish operations imported once, then reused.

A store is keyed by its size and seed (``rebuild-<N>-s<seed>.db`` in the cache directory)
and counts as complete only when its marker file (``.json`` beside it, written after the
import has finished and the store is closed) agrees with the notification log in the file.
An incomplete or mismatched store is rebuilt from scratch. The simulated audit lines go to
a file next to the store, are streamed into :func:`bench._rebuild_fast.fast_import` (the
recording path's own decisions and events, with the aggregates kept in memory and 50,000
lines per transaction: the same log as ``import_pumuki_audit`` writes, without reloading
aggregates from an ever larger store) and deleted after. The first catch-up of a new store
is a load from zero (see ``projections/runner.py``), like the measured rebuilds.

Before it is handed out, a store's views are brought up to date (``catch_up``: part of
the build the first time, a no-op after a completed rebuild), so that every measured
rebuild starts from the same state — a store whose views are current, as in use — and
has as many rows to clear as to write.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from uuid import UUID

import orjson
from eventsourcing.application import Application

from bench._input import write_audit_lines
from bench._rebuild_fast import fast_import
from opsledger import Operations
from opsledger.store.views_db import ViewsFile

__all__ = ["DAYS", "TENANTS", "StoreInfo", "ensure_store", "library_env", "notification_head"]

#: The simulated period and tenants (the daily volume follows from the size).
DAYS = 30
TENANTS = 10
_SIDE_FILES = ("-wal", "-shm", "-journal", ".lock")


@dataclass(frozen=True)
class StoreInfo:
    """A complete store: its file, what is in it and how it was made."""

    path: str
    operations: int
    seed: int
    days: int
    tenants: int
    notifications: int
    imported: int
    duplicates: int
    build_seconds: float
    opsledger: str
    reused: bool = False

    def to_dict(self) -> dict[str, object]:
        """The JSON form (also the marker file's content, without ``reused``)."""
        return asdict(self)


def library_env(path: Path) -> dict[str, str]:
    """The eventsourcing settings that open ``path`` read-only as far as the schema goes."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "CREATE_TABLE": "n",
    }


def notification_head(path: Path) -> int:
    """The newest notification id in the store at ``path`` (0 if none or unreadable)."""
    if not path.exists():
        return 0
    app = Application[UUID](env=library_env(path))
    try:
        return int(app.recorder.max_notification_id() or 0)
    except Exception:  # a half-written or foreign file: treat as absent
        return 0
    finally:
        app.close()


def _remove(path: Path) -> None:
    for suffix in ("", *_SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for views in _views_files(path):  # the views' pointer, generations and lock
        views.unlink(missing_ok=True)


def _views_files(path: Path) -> list[Path]:
    """The files of the views' database of the store at ``path`` (see
    :mod:`opsledger.store.views_db`)."""
    return sorted(path.parent.glob(f"{path.name}.views*"))


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the file; closing the last connection removes ``-wal``/``-shm``."""
    views = ViewsFile(str(path)).current_path()
    for file in (str(path), *((views,) if views else ())):  # the events' and the views'
        connection = sqlite3.connect(file)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        for suffix in ("-wal", "-shm"):
            if Path(f"{file}{suffix}").exists():
                raise RuntimeError(f"{file}{suffix} still exists: is another process using it?")
    Path(f"{path}.lock").unlink(missing_ok=True)  # the schema lock's file, empty


def _catch_up(db: Path, log: Callable[[str], None]) -> None:
    started = time.perf_counter()
    ops = Operations.open(f"sqlite:///{db.resolve()}")
    try:
        applied = ops.catch_up()
    finally:
        ops.close()
    if applied:
        log(f"  views caught up ({applied:,} events applied, "
            f"{time.perf_counter() - started:.0f}s)")


def _reusable(db: Path, marker: Path, operations: int, seed: int) -> StoreInfo | None:
    if not (db.exists() and marker.exists()):
        return None
    try:
        info = StoreInfo(**{**orjson.loads(marker.read_bytes()), "path": str(db),
                            "reused": True})
    except (orjson.JSONDecodeError, TypeError):
        return None
    if (info.operations, info.seed, info.days, info.tenants) != (operations, seed, DAYS,
                                                                  TENANTS):
        return None
    if notification_head(db) != info.notifications:
        return None
    return info


def ensure_store(
    directory: Path, operations: int, seed: int, log: Callable[[str], None]
) -> StoreInfo:
    """The complete store of ``operations`` publish operations for ``seed``, built if needed.

    Raises ``RuntimeError`` if the import rejects a line or does not account for all."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"rebuild-{operations}-s{seed}"
    db, marker = directory / f"{stem}.db", directory / f"{stem}.json"
    found = _reusable(db, marker, operations, seed)
    if found is not None:
        log(f"reusing {db} ({found.notifications:,} notifications)")
        _catch_up(db, log)
        return found
    marker.unlink(missing_ok=True)
    _remove(db)
    building = directory / f"{stem}.building.db"
    _remove(building)
    audit = directory / f"{stem}.ndjson"
    started = time.perf_counter()
    log(f"simulating {operations:,} audit lines ({DAYS} days x {TENANTS} tenants) ...")
    write_audit_lines(audit, operations, seed=seed, days=DAYS, tenants=TENANTS)
    log(f"  simulated in {time.perf_counter() - started:.1f}s; importing into {building} ...")
    done = [0]
    step = max(operations // 10, 1)

    def progress(lines: int) -> None:
        before, done[0] = done[0], done[0] + lines
        if before // step != done[0] // step:
            log(f"  imported {done[0]:,} lines ({time.perf_counter() - started:.0f}s)")

    ops = Operations.open(f"sqlite:///{building.resolve()}")
    try:
        with audit.open("rb") as source:
            summary = fast_import(ops, source, progress=progress)
        notifications = ops.views.head()
    finally:
        ops.close()
    audit.unlink(missing_ok=True)
    if summary.rejected or summary.imported + summary.duplicates != operations:
        raise RuntimeError(
            f"store build: {summary.imported} imported + {summary.duplicates} duplicates of "
            f"{operations} lines, {len(summary.rejected)} rejected "
            f"(first: {summary.rejected[:1]})"
        )
    _catch_up(building, log)
    _checkpoint(building)
    Path(f"{building}.keys").rename(f"{db}.keys")  # the tenants' keys go with their store
    for views in _views_files(building):  # and its views (the pointer names a generation)
        views.rename(db.parent / (db.name + views.name[len(building.name):]))
    building.rename(db)
    info = StoreInfo(
        path=str(db), operations=operations, seed=seed, days=DAYS, tenants=TENANTS,
        notifications=notifications, imported=summary.imported,
        duplicates=summary.duplicates, build_seconds=round(time.perf_counter() - started, 1),
        opsledger=version("opsledger"),
    )
    marker.write_bytes(orjson.dumps({k: v for k, v in info.to_dict().items()
                                     if k != "reused"}, option=orjson.OPT_INDENT_2))
    log(f"  built {db} in {info.build_seconds:.0f}s ({notifications:,} notifications)")
    return info
