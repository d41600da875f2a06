"""The one reader of a stored publish event's state (``PublishBatch.Started`` and
``PublishBatch.OperationRecorded``), for everything that reads the log without building
the aggregate: the views, the alert process, the operation-identity index.

The state is the JSON the library stores (see :class:`~opsledger.domain.publish.
PublishBatch`): the batch's tenant, repository and key, the business time and the
operation as Pumuki reported it; a recorded operation adds whether it is a collision,
whether it is its payload's accepted (first successful) operation, and the earlier
operations it reclassified. A batch's first operation (``Started``) is never a collision
and is accepted when it succeeded.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from opsledger.domain import topics

__all__ = ["PUBLISH_TOPICS", "StoredPublish", "read_publish"]

#: The topics of the events that carry one publish operation.
PUBLISH_TOPICS = frozenset({topics.PUBLISH_BATCH_STARTED, topics.PUBLISH_BATCH_OPERATION_RECORDED})


class StoredPublish(NamedTuple):
    """One stored publish operation. ``occurred_at`` is the stored time value as it is
    (ISO text or the library's tagged form): readers convert it as they need it."""

    tenant_id: str
    repository_id: str
    idempotency_key: str
    occurred_at: Any
    operation_id: str
    payload_hash: str
    outcome: str
    attempts: int
    latency_ms: int
    error_code: str | None
    status: int | None
    request_id: str | None
    endpoint: str | None
    retryable: bool | None
    source: str
    tenant_mode: str | None
    #: A later operation of its batch (``OperationRecorded``), not the batch's first.
    recorded: bool
    collision: bool
    accepted: bool
    #: Earlier operations whose collision flag this one changed: ``operation_id``,
    #: ``occurred_at``, ``collision``.
    reclassified: tuple[dict[str, Any], ...]

    @property
    def ok(self) -> bool:
        """The operation succeeded."""
        return self.outcome == "success"


def read_publish(topic: str, state: dict[str, Any]) -> StoredPublish | None:
    """The publish operation a stored event carries; None for any other event."""
    if topic not in PUBLISH_TOPICS:
        return None
    op = state["operation"]
    recorded = topic == topics.PUBLISH_BATCH_OPERATION_RECORDED
    outcome = op["outcome"]
    return StoredPublish(
        state["tenant_id"], state["repository_id"], state["idempotency_key"],
        state["occurred_at"], op["operation_id"], op["payload_hash"], outcome,
        op["attempts"], op["latency_ms"], op.get("error_code"), op.get("status"),
        op.get("request_id"), op.get("endpoint"), op.get("retryable"), op["source"],
        op.get("tenant_mode"), recorded,
        bool(state["collision"]) if recorded else False,
        bool(state["accepted"]) if recorded else outcome == "success",
        tuple(state.get("reclassified", ())),
    )
