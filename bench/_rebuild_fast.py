"""Filling a bench store: the recording path's decisions, without reloading aggregates.

``import_pumuki_audit`` records each chunk of 1,000 lines in its own transaction and
first loads, from the store, every tenant and batch aggregate the chunk touches. That is
what a live import must do (other writers may have changed them); its cost grows with the
store. The bench store has one writer, so :func:`fast_import` keeps the aggregates in
memory instead and commits many chunks per transaction; every decision is still the
recording path's own (:class:`opsledger.services.recording.ChunkWriter`'s ``_register`` and
``_apply``: the same ``Tenant`` and ``PublishBatch`` commands, events, mapper and
stored-event insert), chunk by chunk in the same order, so the log holds the same events
in the same order as an import of the same lines (tested in
``tests/integration/test_bench_fast_store.py``); only the library's ``timestamp`` of each
event (when it was stored) differs, as between any two imports.

Measured (2 shared cores): at 100,000 lines it is no faster than the import (14.5 s each,
~7 s CPU): both are CPU-bound in parsing, the aggregates' event machinery and the
mapper, ~10k lines/s; what it removes is the per-chunk reload, whose cost grows with the
store. A 10M-operation store therefore still takes ~20 minutes to fill on such a machine.

Memory is bounded: at most ``keep`` batch aggregates stay in memory (least recently used
first out); a batch that comes back after it was dropped is loaded from the store, as the
recording path always does. Lines the recording path would refuse are an error here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

import orjson
from opsledger.domain.publish import batch_uuid
from opsledger.domain.tenant import Tenant

from opsledger import Operations
from opsledger.services import identity
from opsledger.services.importer import CHUNK, ImportSummary
from opsledger.services.recording import load_many
from opsledger.services.records import PublishRecord

__all__ = ["fast_import"]


def fast_import(
    ops: Operations,
    lines: Iterable[bytes],
    *,
    chunks_per_transaction: int = 50,
    keep: int = 400_000,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Record every audit line as ``import_pumuki_audit(..., register_unknown=True)`` would.

    Raises ``RuntimeError`` on a line the recording path would reject or refuse."""
    writer = ops.writer(source="pumuki-import", by="import", register_unknown=True)
    tenants: dict[str, Tenant | None] = {}
    batches: OrderedDict[UUID, Any] = OrderedDict()
    seen: set[bytes] = set()
    summary = ImportSummary()
    pending: list[PublishRecord] = []

    def flush(chunks: list[list[PublishRecord]]) -> None:
        with ops.sql.transaction(commit=True) as cursor:
            for chunk in chunks:
                changed: dict[UUID, Any] = {}
                known: list[tuple[str, str, str, str | None]] = []
                ids = [(r, r.effective_operation_id()) for r in chunk]
                keys = [batch_uuid(r.tenant_id, r.repository_id, r.key, op) for r, op in ids]
                gone = {k for k in keys if k not in batches and k.bytes in seen}
                loaded = dict(load_many(ops.app, ops.sql, cursor, gone)) if gone else {}
                loaded.update((k, batches[k]) for k in keys if k in batches)
                for (record, op_id), key in zip(ids, keys, strict=True):
                    tenant = writer._register(record, tenants.get(record.tenant_id), changed)
                    tenants[record.tenant_id] = tenant
                    tenant.check_scope(record.repository_id)
                    item = writer._apply(record, op_id, key, tenant, loaded, changed)
                    _count(summary, item)
                    if item.status == "recorded":  # (a duplicate's row is there already)
                        known.append((record.tenant_id, op_id, str(key),
                                      identity.facts_digest(record)))
                    seen.add(key.bytes)
                    batches[key] = loaded[key]
                    batches.move_to_end(key)
                events = [e for agg in changed.values() for e in agg.collect_events()]
                ops.sql.insert_stored_events(
                    cursor, [ops.app.mapper.to_stored_event(e) for e in events])
                identity.insert(ops.sql, cursor, known)
                while len(batches) > keep:
                    batches.popitem(last=False)
        if progress:
            progress(sum(len(c) for c in chunks))

    chunks: list[list[PublishRecord]] = []
    for raw in lines:
        summary.lines += 1
        pending.append(PublishRecord.from_pumuki(orjson.loads(raw)))
        if len(pending) >= CHUNK:
            chunks.append(pending)
            pending = []
            if len(chunks) >= chunks_per_transaction:
                flush(chunks)
                chunks = []
    if pending:
        chunks.append(pending)
    if chunks:
        flush(chunks)
    return summary


def _count(summary: ImportSummary, item: Any) -> None:
    if item.status == "duplicate":
        summary.duplicates += 1
    elif item.status == "recorded":
        summary.imported += 1
        summary.retries += int(item.retry)
        summary.collisions += int(item.collision)
        summary.key_missing += int(item.key_missing)
    else:
        raise RuntimeError(f"fast import: {item.operation_id} {item.status}: {item.error}")
