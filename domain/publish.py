"""The PublishBatch aggregate: every publish operation of one (tenant, repository, key).

One stream per batch, id = uuid5 of ``tenant/repository/key``, so two writers racing the
same idempotency key conflict in the store instead of creating two batches. An operation
whose payload hash equals the batch's is a retry; a different hash is an idempotency
collision (policy §4 high alert). "The batch's hash" is the hash of its *earliest*
operation by ``occurred_at`` — not the first to arrive — so arrival order never changes
which operation is the collision: a late-arriving earlier operation reclassifies.

Pumuki writes the literal key ``unknown`` when it failed before deriving one; such an
operation is accepted, flagged ``key_missing`` and given a batch of its own (keyed by the
operation id) so unrelated failures are never counted as collisions.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.ids import NAMESPACE

__all__ = [
    "UNKNOWN_KEY",
    "OperationRecorded",
    "PublishBatch",
    "Relation",
    "Started",
    "batch_uuid",
]

UNKNOWN_KEY = "unknown"
Relation = Literal["original", "retry", "collision"]


@lru_cache(maxsize=8192)
def batch_uuid(tenant_id: str, repository_id: str, key: str, operation_id: str) -> UUID:
    """The batch stream id for an operation (``unknown`` keys get one per operation).

    Ids without a ``/`` keep the name they always had (``batch/tenant/repo/key``), which
    reads back unambiguously; any ``/`` in them switches to a name with each part
    length-prefixed (``batch2/…``, a prefix no older name has), so two tenants can never
    share a stream however they choose their ids."""
    parts = [tenant_id, repository_id, key]
    if key == UNKNOWN_KEY:
        parts.append(operation_id)
    if any("/" in part for part in parts):
        name = "batch2/" + "/".join(f"{len(part)}:{part}" for part in parts)
    else:
        name = "batch/" + "/".join(parts)
    return uuid5(NAMESPACE, name)


class PublishBatch(Aggregate):
    """All publish operations that carried one idempotency key in one repository."""

    TOPIC = topics.PUBLISH_BATCH_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.PUBLISH_BATCH_CREATED

    @staticmethod
    def create_id(
        tenant_id: str, repository_id: str, idempotency_key: str, operation: dict[str, Any]
    ) -> UUID:
        """The stream id: see :func:`batch_uuid`."""
        return batch_uuid(tenant_id, repository_id, idempotency_key, operation["operation_id"])

    @event("Started", topic=topics.PUBLISH_BATCH_STARTED)
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
        op_id = operation["operation_id"]
        # operation id -> (occurred_at, payload_hash, is_collision)
        self.operations: dict[str, tuple[datetime, str, bool]] = {
            op_id: (occurred_at, operation["payload_hash"], False)
        }
        # payload hash -> (occurred_at, operation id) of its first success: the accepted one.
        self.accepted: dict[str, tuple[datetime, str]] = {}
        if operation["outcome"] == "success":
            self.accepted[operation["payload_hash"]] = (occurred_at, op_id)
        self.original: tuple[datetime, str] = (occurred_at, op_id)

    @property
    def payload_hash(self) -> str:
        """The hash of the batch's earliest operation."""
        return self.operations[self.original[1]][1]

    def has_operation(self, operation_id: str) -> bool:
        """True if this exact operation is already recorded (an exact duplicate)."""
        return operation_id in self.operations

    def record(self, occurred_at: datetime, operation: dict[str, Any]) -> Relation:
        """Record one more operation and say what it is to the batch.

        ``original`` (it is now the batch's earliest operation), ``retry`` (same payload
        hash as the original) or ``collision`` (a different hash under the same key).

        Raises ``ValueError`` for an operation already recorded: callers check
        :meth:`has_operation` first and count it as a duplicate.
        """
        op_id = operation["operation_id"]
        if op_id in self.operations:
            raise ValueError(f"operation {op_id} already recorded in this batch")
        new_hash = operation["payload_hash"]
        earliest = (occurred_at, op_id) < self.original
        if earliest and new_hash != self.payload_hash:
            # An earlier operation arrived late: it is the original; flip the others.
            reclassified = [
                {"operation_id": oid, "occurred_at": at.isoformat(), "collision": h != new_hash}
                for oid, (at, h, was) in sorted(self.operations.items())
                if was != (h != new_hash)
            ]
            collision = False
        else:
            reclassified = []
            collision = not earliest and new_hash != self.payload_hash
        # Freshness counts a payload once: from its first success by business time.
        first = self.accepted.get(new_hash)
        accepted = operation["outcome"] == "success" and (
            first is None or (occurred_at, op_id) < first
        )
        superseded = first[1] if accepted and first is not None else None
        self._record(
            tenant_id=self.tenant_id,
            repository_id=self.repository_id,
            idempotency_key=self.idempotency_key,
            occurred_at=occurred_at,
            operation=operation,
            collision=collision,
            reclassified=reclassified,
            accepted=accepted,
            superseded_acceptance=superseded,
        )
        if collision:
            return "collision"
        return "original" if earliest else "retry"

    @event("OperationRecorded", topic=topics.PUBLISH_BATCH_OPERATION_RECORDED)
    def _record(
        self,
        tenant_id: str,
        repository_id: str,
        idempotency_key: str,
        occurred_at: datetime,
        operation: dict[str, Any],
        collision: bool,
        reclassified: list[dict[str, Any]],
        accepted: bool,
        superseded_acceptance: str | None,
    ) -> None:
        op_id = operation["operation_id"]
        for change in reclassified:
            at, h, _ = self.operations[change["operation_id"]]
            self.operations[change["operation_id"]] = (at, h, change["collision"])
        self.operations[op_id] = (occurred_at, operation["payload_hash"], collision)
        if (occurred_at, op_id) < self.original:
            self.original = (occurred_at, op_id)
        if accepted:
            self.accepted[operation["payload_hash"]] = (occurred_at, op_id)


#: The event classes the decorators define, named for importers (and for type checkers).
Started: type[Any] = vars(PublishBatch)["Started"]
OperationRecorded: type[Any] = vars(PublishBatch)["OperationRecorded"]
