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

from collections.abc import Sequence
from typing import Any, NamedTuple

from opsledger.domain import topics

__all__ = ["PUBLISH_TOPICS", "StoredPublish", "read_publish"]

#: The topics of the events that carry one publish operation.
PUBLISH_TOPICS = frozenset({topics.PUBLISH_BATCH_STARTED, topics.PUBLISH_BATCH_OPERATION_RECORDED})


_RECORDED = topics.PUBLISH_BATCH_OPERATION_RECORDED
_new = tuple.__new__


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
    #: ``occurred_at``, ``collision`` (as stored: do not change it).
    reclassified: Sequence[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """The operation succeeded."""
        return self.outcome == "success"


def read_publish(topic: str, state: dict[str, Any]) -> StoredPublish | None:
    """The publish operation a stored event carries; None for any other event."""
    if topic not in PUBLISH_TOPICS:
        return None
    op = state["operation"]
    get = op.get
    outcome = op["outcome"]
    if topic == _RECORDED:
        collision, accepted = bool(state["collision"]), bool(state["accepted"])
        reclassified = state["reclassified"]
    else:
        collision, accepted, reclassified = False, outcome == "success", ()
    # Built as the views' Fact is (``tuple.__new__``): the views read every publish event
    # through here, and the named tuple's own ``__new__`` is a Python frame.
    return _new(StoredPublish, (
        state["tenant_id"], state["repository_id"], state["idempotency_key"],
        state["occurred_at"], op["operation_id"], op["payload_hash"], outcome,
        op["attempts"], op["latency_ms"], get("error_code"), get("status"),
        get("request_id"), get("endpoint"), get("retryable"), op["source"],
        get("tenant_mode"), topic == _RECORDED, collision, accepted, reclassified,
    ))
