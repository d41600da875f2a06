"""Point-in-time state: an aggregate as it stood at business time T (its events with
``occurred_at <= T``; an event without a business time, like a stream's opening, counts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application

__all__ = ["as_of", "evaluated_by"]


def as_of(app: Application[UUID], aggregate_id: UUID, moment: datetime) -> Any | None:
    """The aggregate rebuilt from its events up to ``moment`` (None if it did not exist)."""
    aggregate: Any = None
    for event in app.events.get(aggregate_id):
        occurred = vars(event).get("occurred_at")
        if occurred is not None and occurred > moment:
            continue
        aggregate = cast(Any, event).mutate(aggregate)
    return aggregate


def evaluated_by(moment: datetime, lateness_seconds: int) -> datetime:
    """How far the alert rules had evaluated at ``moment``: alerts (and the incidents they
    open) wait behind the watermark, ``moment`` minus the allowed lateness."""
    return moment - timedelta(seconds=lateness_seconds)
