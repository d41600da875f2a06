"""What the incident service reads and writes in bulk: the sweep's saves (the missed
deadlines of many incidents in one transaction) and an incident's stored events as
timeline entries (its timeline and the compliance export read them)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from opsledger.domain.incident import Incident
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import iso_utc
from opsledger.store.events import EventStore

__all__ = ["SAVE_EVENTS", "event_entries", "record_all"]

#: The most missed deadlines the sweep saves in one transaction (memory stays bounded).
SAVE_EVENTS = 10_000


def record_all(store: EventStore, due: Iterable[tuple[Incident, datetime]],
               escalation: Callable[[datetime], tuple[str, OperationsPolicy]],
               one_by_one: Callable[[str, datetime], int]) -> int:
    """Record each incident's deadlines overdue at its time (``due``: loaded incidents)
    and save them together, in the order given, up to :data:`SAVE_EVENTS` events a
    transaction. Should a save conflict with another writer, nothing of it is kept and
    each of its incidents is decided again by ``one_by_one`` (reload, record, save)."""
    recorded = pending = 0
    batch: list[tuple[Incident, datetime, int]] = []
    escalation = functools.cache(escalation)

    def save() -> int:
        try:
            store.save(*(incident for incident, _, _ in batch))
        except IntegrityError:
            return sum(one_by_one(str(incident.id), now) for incident, now, _ in batch)
        return sum(n for _, _, n in batch)

    for incident, now in due:
        n = incident.record_overdue(now, *escalation(now))
        if n:
            batch.append((incident, now, n))
            pending += n
        if pending >= SAVE_EVENTS:
            recorded += save()
            batch, pending = [], 0
    return recorded + (save() if batch else 0)


def event_entries(events: Iterable[Any]) -> list[dict[str, Any]]:
    """An incident's stored events as timeline entries, in log order: ``at``, ``kind``
    (``Incident.<Event>``) and the event's own fields (a missed deadline's ``kind`` as
    ``deadline``; not the deadlines it carries)."""
    entries: list[dict[str, Any]] = []
    for e in events:
        data = {k: v for k, v in vars(e).items()
                if k not in ("originator_id", "originator_version", "timestamp",
                             "originator_topic", "deadlines", "occurred_at")}
        if "kind" in data:  # a missed deadline's kind
            data["deadline"] = data.pop("kind")
        entries.append({"at": iso_utc(vars(e)["occurred_at"]),
                        "kind": type(e).__qualname__, **data})
    return entries
