"""The one recording path for publish operations, used by ``record_publish`` and imports.

A chunk of records is applied against the aggregates it touches, loaded with one query,
and saved in one transaction. If another writer created or extended one of those streams
meanwhile, the save conflicts on the aggregate version; the chunk is then re-evaluated
against the fresh state (a racing first writer turns our "first" into a retry or a
collision, exactly as if the two had arrived in order).

An operation's identity is (tenant, operation id): the same id under one tenant in another
batch, or with other facts, is refused (:class:`OperationIdReused`) and audited, checked
against ``publish_identity`` (see :mod:`opsledger.services.identity`), which the same transaction
extends — so a racing writer of the same id conflicts and decides again, as above.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.application import Application

from opsledger.domain.bounds import check_id
from opsledger.domain.errors import (
    OperationIdReused,
    OpsledgerError,
    ScopeViolation,
    TenantForgotten,
    UnknownTenant,
)
from opsledger.domain.governance import Governance, RetentionPolicy
from opsledger.domain.publish import UNKNOWN_KEY, PublishBatch, batch_uuid
from opsledger.domain.refusal import RefusedCommand, legacy_refusal_uuid, refusal_uuid
from opsledger.domain.tenant import Mode, Tenant, tenant_uuid
from opsledger.services import identity
from opsledger.services.clock import BusinessClock
from opsledger.services.loading import EventCache, load_many
from opsledger.services.policies import Policies
from opsledger.services.records import PublishRecord
from opsledger.store.events import EventStore
from opsledger.store.sql import SqlStore

__all__ = ["ChunkWriter", "EventCache", "ItemResult", "PublishResult", "Recording", "load_many"]

Status = Literal["recorded", "duplicate", "refused"]
#: ``record_publish`` keeps its writer per ``by`` (its operator or API principal), this many
_SINGLE_WRITERS = 64


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
        tenant_cache: EventCache | None = None,
    ) -> None:
        self.app = app
        self.sql = sql
        self.source = source
        self.by = by
        self.register_unknown = register_unknown
        self.default_governance = default_governance or Governance()
        self.tenant_cache = tenant_cache

    def write(self, records: Sequence[PublishRecord], attempts: int = 8) -> list[ItemResult]:
        """Record ``records`` in one transaction, re-evaluating on a concurrent conflict.

        Reading the touched streams, deciding and appending happen in one transaction:
        on SQLite it holds the write lock from the start (no conflict is possible); on
        PostgreSQL a concurrent append to the same stream fails the unique (id, version)
        constraint, and the chunk is decided again against the fresh state.
        """
        op_ids = [r.effective_operation_id() for r in records]
        keyring = getattr(self.app, "keyring", None)
        forgotten = {t for t in {r.tenant_id for r in records}
                     if keyring is not None and keyring.is_forgotten(t)}
        for attempt in range(attempts):
            try:
                with _write_transaction(self.sql) as cursor:
                    results, changed, known = self._decide(cursor, records, op_ids,
                                                           forgotten)
                    events = [e for agg in changed.values() for e in agg.collect_events()]
                    stored = [self.app.mapper.to_stored_event(e) for e in events]
                    self.sql.insert_stored_events(cursor, stored)
                    identity.insert(self.sql, cursor, known)
                if self.tenant_cache is not None:
                    for e in events:
                        if isinstance(changed[e.originator_id], Tenant):
                            self.tenant_cache.extend(e.originator_id, [e])
                return results
            except self.sql.unique_violations:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _decide(
        self, cursor: Any, records: Sequence[PublishRecord], op_ids: list[str],
        forgotten: set[str],
    ) -> tuple[list[ItemResult], dict[UUID, Any], list[tuple[str, str, str, str | None]]]:
        batch_ids = [
            batch_uuid(r.tenant_id, r.repository_id, r.key, op)
            for r, op in zip(records, op_ids, strict=True)
        ]
        tenant_ids = {r.tenant_id: tenant_uuid(r.tenant_id) for r in records
                      if r.tenant_id not in forgotten}
        readable = [b for r, b in zip(records, batch_ids, strict=True)
                    if r.tenant_id not in forgotten]
        keys = [(r.tenant_id, op) for r, op in zip(records, op_ids, strict=True)
                if r.tenant_id not in forgotten]
        if self.sql.is_postgres:  # sent now, read with the streams: one round trip for both
            known_later = identity.lookup_later(self.sql, cursor.connection.cursor, keys)
        # Tenants are only read here, unless --register-unknown may change them.
        loaded = load_many(self.app, self.sql, cursor, [*tenant_ids.values(), *readable],
                           self.tenant_cache, tenant_ids.values(),
                           read_only=not self.register_unknown)
        tenants: dict[str, Tenant | None] = {t: loaded.get(u) for t, u in tenant_ids.items()}
        known = (known_later() if self.sql.is_postgres
                 else identity.lookup(self.sql, cursor, keys))
        new_known: list[tuple[str, str, str, str | None]] = []
        changed: dict[UUID, Any] = {}
        results: list[ItemResult] = []
        refused: list[tuple[PublishRecord, str, OpsledgerError]] = []
        for record, op_id, batch_id in zip(records, op_ids, batch_ids, strict=True):
            if record.tenant_id in forgotten:  # refused, and nothing of it is kept
                results.append(ItemResult("refused", op_id,
                                          error=TenantForgotten(record.tenant_id)))
                continue
            digest = identity.facts_digest(record)
            prior = known.get((record.tenant_id, op_id))
            reused = None if prior is None else _reuse(prior, record, op_id, batch_id, digest)
            if reused is not None:  # before anything else: nothing of the store changes
                refused.append((record, op_id, reused))
                results.append(ItemResult("refused", op_id, error=reused))
                continue
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
            result = self._apply(record, op_id, batch_id, tenant, loaded, changed)
            if (record.tenant_id, op_id) not in known:  # recorded (or an older duplicate)
                facts = digest if result.status == "recorded" else None
                batch = str(batch_id)
                known[(record.tenant_id, op_id)] = identity.Known(batch, facts)
                new_known.append((record.tenant_id, op_id, batch, facts))
            results.append(result)
        self._refuse(cursor, refused, changed)
        return results, changed, new_known

    def _refuse(
        self, cursor: Any, refused: list[tuple[PublishRecord, str, OpsledgerError]],
        changed: dict[UUID, Any],
    ) -> None:
        """Audit each refused operation once: a stream per (tenant, operation, kind of
        refusal); a refusal stored before refusals were scoped by tenant counts too."""
        if not refused:
            return
        refusal_ids = [refusal_uuid("record_publish", op_id, record.tenant_id, reason.code)
                       for record, op_id, reason in refused]
        legacy_ids = [legacy_refusal_uuid("record_publish", op_id) for _, op_id, _ in refused]
        existing = load_many(self.app, self.sql, cursor, [*refusal_ids, *legacy_ids])
        for (record, op_id, reason), rid, lid in zip(refused, refusal_ids, legacy_ids,
                                                     strict=True):
            legacy = existing.get(lid)
            if rid in existing or rid in changed or (
                    legacy is not None and legacy.tenant_id == record.tenant_id
                    and reason.code != OperationIdReused.code):
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
        operation = record.operation(op_id, self.source, tenant.mode.value)
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


@contextmanager
def _write_transaction(sql: SqlStore) -> Iterator[Any]:
    """The recording transaction. On PostgreSQL it runs as one pipeline
    (:func:`~opsledger.store.recorders_pg.pipelined_transaction`): ``BEGIN`` goes with the
    first read, and the chain links, the identity rows and ``COMMIT`` go together, so one
    record costs four round trips, not eleven; a unique violation (a racing writer) is
    raised at the commit, where the caller decides its chunk again as before."""
    if not sql.is_postgres:
        with sql.transaction(commit=True) as cursor:
            yield cursor
        return
    from opsledger.store.recorders_pg import pipelined_transaction  # (psycopg: on PG only)

    with sql.datastore.get_connection() as connection, \
            pipelined_transaction(connection) as cursor:
        yield cursor


def _reuse(
    known: identity.Known, record: PublishRecord, op_id: str, batch_id: UUID, digest: str,
) -> OperationIdReused | None:
    """The refusal of a (tenant, operation id) already recorded in another batch or with
    other facts; ``None`` for an exact duplicate."""
    if known.batch_id != str(batch_id):
        return OperationIdReused(record.tenant_id, op_id,
                                 "in another batch (other repository or idempotency key)")
    if known.facts is not None and known.facts != digest:
        return OperationIdReused(record.tenant_id, op_id, "in this batch with other facts")
    return None


@dataclass(frozen=True)
class PublishResult:
    """The outcome of ``record_publish``: recorded (first, retry or collision) or duplicate."""

    operation_id: str
    batch_id: str
    status: str
    retry: bool
    collision: bool
    key_missing: bool

    @classmethod
    def of(cls, item: ItemResult) -> PublishResult:
        """From the recording path's per-item result."""
        return cls(item.operation_id, str(item.batch_id), item.status, item.retry,
                   item.collision, item.key_missing)


class Recording:
    """Publish operations as a service: one record, or the chunked path imports use."""

    def __init__(self, store: EventStore, clock: BusinessClock, policies: Policies) -> None:
        self._store = store
        self._clock = clock
        self._policies = policies
        self._tenant_cache = EventCache()
        #: ``record_publish``'s writers, one per ``by`` (few: the API's principals)
        self._single: dict[str, ChunkWriter] = {}

    def forget_cached_tenants(self) -> None:
        """Drop the cached tenant streams (after a tenant is forgotten)."""
        self._tenant_cache = EventCache()
        self._single = {}

    def writer(self, *, source: str, by: str, register_unknown: bool = False) -> ChunkWriter:
        """The recording path (shared by ``record_publish`` and the importers)."""
        governance = None
        if register_unknown:  # only then are tenants registered, with the policy's defaults
            defaults = self._policies.policy_at().retention
            governance = Governance(retention=RetentionPolicy(**defaults.model_dump()))
        return ChunkWriter(self._store.app, self._store.sql, source=source, by=by,
                           register_unknown=register_unknown, default_governance=governance,
                           tenant_cache=self._tenant_cache)

    def record_publish(
        self, record: PublishRecord | None = None, /, *, by: str = "api", **fields: Any
    ) -> PublishResult:
        """Record one publish operation (policy §5 controls; see :class:`PublishRecord`).

        Raises the scope error after auditing the refusal; validation errors store nothing.
        """
        writer = self._single.get(by)
        if writer is None:  # (``by`` is bounded like every operator id, once per value)
            if by is not None:
                check_id("by", by)
            if len(self._single) >= _SINGLE_WRITERS:
                self._single.clear()
            writer = self._single[by] = self.writer(source="api", by=by)
        bounds = self._clock.bounds()
        if record is not None:
            bounds.check(record.occurred_at)
        rec = record if record is not None else PublishRecord.create(time_bounds=bounds,
                                                                     **fields)
        (item,) = writer.write([rec])
        if item.error is not None:
            raise item.error
        return PublishResult.of(item)
