"""Refused commands are facts too: the audit trail keeps every refused publish (policy §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.ids import NAMESPACE

__all__ = ["OWN_STREAM_REASONS", "Refused", "RefusedCommand", "legacy_refusal_uuid",
           "refusal_uuid"]


#: Refusal reasons that get a stream of their own beside the operation's scope refusal:
#: an operation refused for reusing an id says so even if it was once refused for scope.
OWN_STREAM_REASONS = frozenset({"operation_id_reused"})


def refusal_uuid(command: str, subject_id: str, tenant_id: str, reason: str = "") -> UUID:
    """One stream per refused operation of a tenant — an operation's identity is (tenant,
    operation id) — so re-importing a refused line adds nothing, and the same id refused
    under two tenants is two refusals (reasons in :data:`OWN_STREAM_REASONS` get their own)."""
    kind = f"refusal#{reason}" if reason in OWN_STREAM_REASONS else "refusal"
    return uuid5(NAMESPACE, f"{kind}/{command}/{len(tenant_id)}:{tenant_id}/{subject_id}")


def legacy_refusal_uuid(command: str, subject_id: str) -> UUID:
    """The stream id stores written before refusals were scoped by tenant gave a refused
    operation (still looked up, so a line refused then is not refused again)."""
    return uuid5(NAMESPACE, f"refusal/{command}/{subject_id}")


class RefusedCommand(Aggregate):
    """A command opsledger refused, with the reason and the claimed scope."""

    TOPIC = topics.REFUSED_COMMAND_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.REFUSED_COMMAND_CREATED

    @staticmethod
    def create_id(command: str, subject_id: str, tenant_id: str, reason: str) -> UUID:
        """Deterministic: the same refused operation of a tenant maps to the same stream."""
        return refusal_uuid(command, subject_id, tenant_id, reason)

    @event("Refused", topic=topics.REFUSED_COMMAND_REFUSED)
    def __init__(
        self,
        command: str,
        subject_id: str,
        tenant_id: str,
        repository_id: str | None,
        reason: str,
        message: str,
        occurred_at: datetime,
        details: dict[str, Any],
    ) -> None:
        self.command = command
        self.subject_id = subject_id
        self.tenant_id = tenant_id
        self.repository_id = repository_id
        self.reason = reason
        self.message = message
        self.occurred_at = occurred_at
        self.details = details


#: The creation event class, named for importers (and for type checkers).
Refused: type[Any] = vars(RefusedCommand)["Refused"]
