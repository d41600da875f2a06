"""The record that a verification of the hash chain failed (tamper evidence; policy §5
audit trail): where the chain first breaks, why, and when it was found. It is what the
notification outbox pages on (``integrity.chain_failed``); finding the same break again
records nothing new (one stream per break)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.ids import NAMESPACE

__all__ = ["IntegrityAlarm", "integrity_alarm_uuid"]


def integrity_alarm_uuid(first_bad_position: int | None, reason: str) -> UUID:
    """One stream per break: the same break found twice is recorded once."""
    return uuid5(NAMESPACE, f"integrity/{first_bad_position}/{reason}")


class IntegrityAlarm(Aggregate):
    """A failed chain verification."""

    TOPIC = topics.INTEGRITY_ALARM_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.INTEGRITY_ALARM_CREATED

    @staticmethod
    def create_id(first_bad_position: int | None, reason: str, events_checked: int,
                  occurred_at: datetime) -> UUID:
        """See :func:`integrity_alarm_uuid`."""
        return integrity_alarm_uuid(first_bad_position, reason)

    @event("ChainFailed", topic=topics.INTEGRITY_ALARM_CHAIN_FAILED)
    def __init__(self, first_bad_position: int | None, reason: str, events_checked: int,
                 occurred_at: datetime) -> None:
        self.first_bad_position = first_bad_position
        self.reason = reason
        self.found_at = occurred_at
