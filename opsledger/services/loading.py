"""Reading many aggregates at once, for the recording path and the processes that follow
the log: one query for all the streams a chunk touches, and a cache of small hot streams
(tenants) that never hides a change another process committed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from opsledger.store.sql import SqlStore

__all__ = ["EventCache", "load_many"]


class EventCache:
    """Decoded, committed events of small hot streams (tenants).

    A write then reads only the events stored after the cached version, inside its own
    transaction, so the cache can never hide a change another process committed.
    """

    def __init__(self) -> None:
        self._events: dict[UUID, list[Any]] = {}
        self._built: dict[UUID, tuple[int, Any]] = {}

    def versions(self, ids: Iterable[UUID]) -> dict[UUID, int]:
        """The cached version of each of ``ids`` that is cached."""
        return {i: self._events[i][-1].originator_version for i in ids if i in self._events}

    def events(self, oid: UUID) -> list[Any]:
        """The cached events of one stream (empty if none)."""
        return self._events.get(oid, [])

    def extend(self, oid: UUID, events: Sequence[Any]) -> None:
        """Add committed events of ``oid`` (in version order)."""
        if events:
            self._events.setdefault(oid, []).extend(events)

    def read_only(self, oid: UUID) -> Any:
        """The aggregate at its cached version, built once per version: never mutate it."""
        events = self._events[oid]
        version = events[-1].originator_version
        built = self._built.get(oid)
        if built is None or built[0] != version:
            aggregate = None
            for domain_event in events:
                aggregate = domain_event.mutate(aggregate)
            built = self._built[oid] = (version, aggregate)
        return built[1]


def load_many(
    app: Application[UUID],
    sql: SqlStore,
    cursor: Any,
    ids: Iterable[UUID],
    cache: EventCache | None = None,
    cacheable: Iterable[UUID] = (),
    read_only: bool = False,
) -> dict[UUID, Any]:
    """Reconstruct many aggregates with one query (missing ids are absent from the result).

    Streams held in ``cache`` are read only from their cached version on; the cache learns
    the committed events this read found for the ``cacheable`` streams. With
    ``read_only`` the cached streams come back as shared objects the caller must not change.
    """
    wanted = sorted(set(ids))
    known = cache.versions(wanted) if cache else {}
    grouped: dict[UUID, list[Any]] = defaultdict(list)
    rows = sql.select_stored_events(cursor, [i for i in wanted if i not in known], known)
    for row in rows:
        raw = row["originator_id"]
        oid = raw if isinstance(raw, UUID) else UUID(raw)
        grouped[oid].append(
            app.mapper.to_domain_event(
                StoredEvent(oid, row["originator_version"], row["topic"], bytes(row["state"]))
            )
        )
    loaded: dict[UUID, Any] = {}
    if cache:
        for oid in set(cacheable) | known.keys():
            cache.extend(oid, grouped.pop(oid, []))
            if cache.events(oid) and read_only:
                loaded[oid] = cache.read_only(oid)
            elif cache.events(oid):
                grouped[oid] = cache.events(oid)
    for oid, events in grouped.items():
        aggregate = None
        for domain_event in events:
            aggregate = domain_event.mutate(aggregate)
        loaded[oid] = aggregate
    return loaded
