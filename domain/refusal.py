"""Refused commands are facts too: the audit trail keeps every refused publish (policy §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain.ids import NAMESPACE

__all__ = ["Refused", "RefusedCommand", "refusal_uuid"]


def refusal_uuid(command: str, subject_id: str) -> UUID:
    """One stream per refused operation, so re-importing a refused line adds nothing."""
    return uuid5(NAMESPACE, f"refusal/{command}/{subject_id}")


class RefusedCommand(Aggregate):
    """A command opsledger refused, with the reason and the claimed scope."""

    TOPIC = "opsledger.RefusedCommand"

    class Created(Aggregate.Created):
        TOPIC = "opsledger.RefusedCommand.Created"

    @staticmethod
    def create_id(command: str, subject_id: str) -> UUID:
        """Deterministic: the same refused operation maps to the same stream."""
        return refusal_uuid(command, subject_id)

    @event("Refused", topic="opsledger.RefusedCommand.Refused")
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
