"""Bench inputs: simulated Pumuki audit lines, single records, and the library's payloads.

Both sides of every comparison get the same facts. opsledger gets raw NDJSON lines (or
``record_publish`` keyword arguments) and parses/validates them itself; the library
baseline gets the same facts already parsed into the argument tuple of its aggregate's
constructor, because parsing is not part of the library's raw rate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from opsledger.domain.publish import UNKNOWN_KEY

from opsledger.services.records import PublishRecord
from opsledger.sim.simulate import SimulationConfig, simulate

__all__ = [
    "PublishArgs",
    "library_rows_from_lines",
    "library_rows_from_records",
    "single_records",
    "write_audit_lines",
]

#: (tenant_id, repository_id, idempotency_key, key_missing, occurred_at, operation)
PublishArgs = tuple[str, str, str, bool, datetime, dict[str, Any]]

_TENANTS = 5
_DAYS = 7
_SINGLE_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_OPTIONAL = ("error_code", "status", "request_id", "endpoint", "retryable")

SINGLE_TENANT = "bench-tenant"
SINGLE_REPOSITORY = "bench-repo"


def write_audit_lines(
    path: Path, n: int, seed: int = 7, *, days: int = _DAYS, tenants: int = _TENANTS
) -> int:
    """Simulate Pumuki audit NDJSON and write exactly its first ``n`` lines to ``path``.

    The simulator gives roughly ``days * tenants * operations_per_day`` lines; the volume
    is sized with a margin and doubled until at least ``n`` lines come out. Returns ``n``.
    """
    if n < 1:
        raise ValueError("the number of lines must be >= 1")
    per_day = max(1, -(-n * 11 // (10 * days * tenants)))
    raw = path.with_suffix(".full")
    while True:
        config = SimulationConfig(
            days=days, tenants=tenants, seed=seed, operations_per_day=per_day
        )
        with raw.open("wb") as out:
            summary = simulate(config, out)
        if summary.lines >= n:
            break
        per_day *= 2
    with raw.open("rb") as src, path.open("wb") as dst:
        dst.writelines(islice(src, n))
    raw.unlink()
    return n


def _operation(line: dict[str, Any], source: str, tenant_mode: str) -> dict[str, Any]:
    """The operation facts opsledger stores for ``line`` (see ``PublishRecord.operation``)."""
    op: dict[str, Any] = {
        "operation_id": line["event_id"],
        "payload_hash": str(line["payload_hash"]).lower(),
        "outcome": line["outcome"],
        "attempts": line["attempts"],
        "latency_ms": line["latency_ms"],
        "source": source,
        "tenant_mode": tenant_mode,
    }
    for name in _OPTIONAL:
        value = line.get(name)
        if value is not None:
            op[name] = value
    return op


def library_rows_from_lines(lines: Iterable[bytes]) -> list[PublishArgs]:
    """Pre-parse audit lines into the library aggregate's constructor arguments."""
    rows: list[PublishArgs] = []
    for raw in lines:
        line = orjson.loads(raw)
        key = line["idempotency_key"]
        occurred_at = datetime.fromisoformat(line["event_at"]).astimezone(UTC)
        operation = _operation(line, "pumuki-import", "saas")
        rows.append(
            (line["tenant_id"], line["repository_id"], key, key == UNKNOWN_KEY, occurred_at,
             operation)
        )
    return rows


def single_records(m: int) -> list[dict[str, Any]]:
    """``m`` distinct ``record_publish`` keyword sets (one tenant and repository)."""
    records: list[dict[str, Any]] = []
    for i in range(m):
        records.append({
            "tenant_id": SINGLE_TENANT,
            "repository_id": SINGLE_REPOSITORY,
            "idempotency_key": f"bench-single-{i:07d}",
            "payload_hash": hashlib.sha256(f"payload-{i}".encode()).hexdigest(),
            "outcome": "success",
            "attempts": 1,
            "latency_ms": 120,
            "occurred_at": _SINGLE_START + timedelta(milliseconds=250 * i),
            "status": 202,
            "request_id": f"req-bench-{i:07d}",
        })
    return records


def library_rows_from_records(records: Iterable[dict[str, Any]]) -> list[PublishArgs]:
    """The same facts as :func:`single_records`, as the library aggregate's arguments.

    The operation dict is exactly what opsledger stores (computed here, untimed)."""
    rows: list[PublishArgs] = []
    for fields in records:
        record = PublishRecord.create(**fields)
        rows.append(
            (record.tenant_id, record.repository_id, record.key, record.key == UNKNOWN_KEY,
             record.occurred_at_utc,
             record.operation(record.effective_operation_id(), "api", "saas"))
        )
    return rows
