"""The one recording path for publish operations, used by ``record_publish`` and imports.

A chunk of records is applied against the aggregates it touches, loaded with one query,
and saved in one transaction. If another writer created or extended one of those streams
meanwhile, the save conflicts on the aggregate version; the chunk is then re-evaluated
against the fresh state (a racing first writer turns our "first" into a retry or a
collision, exactly as if the two had arrived in order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent

from opsledger.domain.errors import OpsledgerError, ScopeViolation, UnknownTenant
from opsledger.domain.governance import Governance
from opsledger.domain.publish import UNKNOWN_KEY, PublishBatch, batch_uuid
from opsledger.domain.refusal import RefusedCommand, refusal_uuid
from opsledger.domain.tenant import Mode, Tenant, tenant_uuid
from opsledger.projections._sql import SqlStore
from opsledger.records import PublishRecord

__all__ = ["ChunkWriter", "ItemResult", "load_many"]

Status = Literal["recorded", "duplicate", "refused"]


@dataclass(frozen=True)
class ItemResult:
    """What happened to one record."""

    status: Status
    operation_id: str
    batch_id: UUID | None = None
    retry: bool = False
    collision: bool = False
    key_missing: bool = False
    error: OpsledgerError | None = None


def load_many(app: Application[UUID], sql: SqlStore, ids: Iterable[UUID]) -> dict[UUID, Any]:
    """Reconstruct many aggregates with one query (missing ids are absent from the result)."""
    grouped: dict[UUID, list[Any]] = defaultdict(list)
    for row in sql.select_stored_events(sorted(set(ids))):
        raw = row["originator_id"]
        oid = raw if isinstance(raw, UUID) else UUID(raw)
        grouped[oid].append(
            app.mapper.to_domain_event(
                StoredEvent(oid, row["originator_version"], row["topic"], bytes(row["state"]))
            )
        )
    loaded: dict[UUID, Any] = {}
    for oid, events in grouped.items():
        aggregate = None
        for domain_event in events:
            aggregate = domain_event.mutate(aggregate)
        loaded[oid] = aggregate
    return loaded


class ChunkWriter:
    """Applies records to tenants, batches and refusals, then saves them atomically."""

    def __init__(
        self,
        app: Application[UUID],
        sql: SqlStore,
        *,
        source: str,
        by: str,
        register_unknown: bool = False,
        default_governance: Governance | None = None,
    ) -> None:
        self.app = app
        self.sql = sql
        self.source = source
        self.by = by
        self.register_unknown = register_unknown
        self.default_governance = default_governance or Governance()

    def write(self, records: Sequence[PublishRecord], attempts: int = 8) -> list[ItemResult]:
        """Record ``records`` in one transaction, re-evaluating on a concurrent conflict."""
        for attempt in range(attempts):
            try:
                return self._write_once(records)
            except IntegrityError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _write_once(self, records: Sequence[PublishRecord]) -> list[ItemResult]:
        op_ids = [r.effective_operation_id() for r in records]
        batch_ids = [
            batch_uuid(r.tenant_id, r.repository_id, r.key, op)
            for r, op in zip(records, op_ids, strict=True)
        ]
        loaded = load_many(
            self.app, self.sql, [tenant_uuid(r.tenant_id) for r in records] + batch_ids
        )
        tenants: dict[str, Tenant | None] = {
            r.tenant_id: loaded.get(tenant_uuid(r.tenant_id)) for r in records
        }
        changed: dict[UUID, Any] = {}
        results: list[ItemResult] = []
        refused: list[tuple[PublishRecord, str, ScopeViolation]] = []
        for record, op_id, batch_id in zip(records, op_ids, batch_ids, strict=True):
            tenant = tenants[record.tenant_id]
            if self.register_unknown:
                tenant = self._register(record, tenant, changed)
                tenants[record.tenant_id] = tenant
            try:
                if tenant is None:
                    raise UnknownTenant(record.tenant_id)
                tenant.check_scope(record.repository_id)
            except ScopeViolation as violation:
                refused.append((record, op_id, violation))
                results.append(ItemResult("refused", op_id, error=violation))
                continue
            results.append(self._apply(record, op_id, batch_id, tenant, loaded, changed))
        refusal_ids = [refusal_uuid("record_publish", op_id) for _, op_id, _ in refused]
        existing = load_many(self.app, self.sql, refusal_ids) if refused else {}
        for (record, op_id, reason), rid in zip(refused, refusal_ids, strict=True):
            if rid in existing or rid in changed:
                continue
            changed[rid] = RefusedCommand(
                command="record_publish",
                subject_id=op_id,
                tenant_id=record.tenant_id,
                repository_id=record.repository_id,
                reason=reason.code,
                message=str(reason),
                occurred_at=record.occurred_at_utc,
                details=record.model_dump(mode="json"),
            )
        if changed:
            self.app.save(*changed.values())
        return results

    def _apply(
        self,
        record: PublishRecord,
        op_id: str,
        batch_id: UUID,
        tenant: Tenant,
        loaded: dict[UUID, Any],
        changed: dict[UUID, Any],
    ) -> ItemResult:
        key_missing = record.key == UNKNOWN_KEY
        batch: PublishBatch | None = loaded.get(batch_id)
        if batch is not None and batch.has_operation(op_id):
            return ItemResult("duplicate", op_id, batch_id, key_missing=key_missing)
        operation = record.operation(self.source, tenant.mode.value)
        if batch is None:
            batch = PublishBatch(
                tenant_id=record.tenant_id,
                repository_id=record.repository_id,
                idempotency_key=record.key,
                key_missing=key_missing,
                occurred_at=record.occurred_at_utc,
                operation=operation,
            )
            loaded[batch_id] = batch
            changed[batch_id] = batch
            return ItemResult("recorded", op_id, batch_id, key_missing=key_missing)
        relation = batch.record(record.occurred_at_utc, operation)
        changed[batch_id] = batch
        return ItemResult(
            "recorded", op_id, batch_id, retry=relation == "retry",
            collision=relation == "collision", key_missing=key_missing,
        )

    def _register(
        self, record: PublishRecord, tenant: Tenant | None, changed: dict[UUID, Any]
    ) -> Tenant:
        """``--register-unknown``: an unseen tenant or repository, observed in SaaS mode."""
        at: datetime = record.occurred_at_utc
        if tenant is None:
            tenant = Tenant(
                tenant_id=record.tenant_id,
                name=record.tenant_id,
                repositories=[record.repository_id],
                governance=self.default_governance.model_dump(),
                mode=Mode.SAAS.value,
                by=self.by,
                occurred_at=at,
                observed_in_import=True,
            )
            changed[tenant.id] = tenant
        elif tenant.add_repository(record.repository_id, by=self.by, at=at):
            changed[tenant.id] = tenant
        return tenant
