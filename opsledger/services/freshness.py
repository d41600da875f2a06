"""Freshness (policy §2): downstream visibility records and the 15-minute deadlines.

An accepted publish is fresh when visible downstream within the policy's bound. One not
visible by then is stale *at that moment*: a ``FreshnessMissed`` deadline fact recorded
with ``occurred_at = due_at``. On import, deadlines are driven by the visibility
stream's event time (the newest ``visible_at`` minus the allowed lateness: until then a
snapshot may still arrive); live, by the clock. Either way they go through the same
deadline queue and are recorded once (the stream's version check stops a second writer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from opsledger import results as rs
from opsledger.domain.bounds import TimeBounds
from opsledger.domain.errors import (
    InvalidInput,
    OpsledgerError,
    RepositoryOutOfScope,
    UnknownTenant,
)
from opsledger.domain.time import iso_utc, utc
from opsledger.domain.visibility import Visibility, visibility_uuid
from opsledger.projections import slo_query
from opsledger.projections._facts import moment
from opsledger.scheduler import Deadline, DeadlineQueue
from opsledger.services.clock import BusinessClock
from opsledger.services.lines import (
    checked_inputs,
    numbered_lines,
    parse_line,
    rejection,
)
from opsledger.services.policies import Policies
from opsledger.services.recording import load_many
from opsledger.services.records import SnapshotRecord
from opsledger.services.tenants import Tenants
from opsledger.services.views import Views
from opsledger.store.events import EventStore

__all__ = ["Freshness"]

#: The events that record an observation (``Seen``: a stream created by its first one).
_OBSERVATIONS = ("Observed", "Seen")

def _as_dict(record: SnapshotRecord) -> dict[str, Any]:
    return {"tenant_id": record.tenant_id, "repository_id": record.repository_id,
            "idempotency_key": record.idempotency_key, "payload_hash": record.payload_hash,
            "visible_at": record.visible_at.astimezone(UTC)}


def _parse_snapshot(raw: bytes | None, time_bounds: TimeBounds | None) -> dict[str, Any]:
    return _as_dict(SnapshotRecord.create(parse_line(raw), time_bounds))


class Freshness:
    """The freshness process as a service: visibility records and the deadlines they
    settle (policy §2)."""

    def __init__(self, store: EventStore, clock: BusinessClock, policies: Policies,
                 tenants: Tenants, views: Views) -> None:
        self._store = store
        self._clock = clock
        self._policies = policies
        self._tenants = tenants
        self._views = views

    def _load_or_track(self, tenant_id: str, repository_id: str, key: str,
                       payload_hash: str) -> Visibility:
        try:
            found: Visibility = self._store.app.repository.get(
                visibility_uuid(tenant_id, repository_id, key, payload_hash))
            return found
        except AggregateNotFoundError:
            return Visibility(tenant_id=tenant_id, repository_id=repository_id,
                              idempotency_key=key, payload_hash=payload_hash)

    def record_visibility(self, tenant_id: str, repository_id: str,
                          idempotency_key: str, payload_hash: str, visible_at: datetime) -> bool:
        """Record when a payload became visible downstream; False if already known.

        Bounded like an imported snapshot line
        (:class:`~opsledger.services.records.SnapshotRecord`)."""
        utc(visible_at, "visible_at")
        if not idempotency_key:
            raise InvalidInput("a visibility record needs the publish's idempotency key")
        checked = SnapshotRecord.create({
            "tenant_id": tenant_id, "repository_id": repository_id,
            "idempotency_key": idempotency_key, "payload_hash": payload_hash,
            "visible_at": visible_at}, self._clock.bounds())
        # UnknownTenant if unknown:
        if repository_id not in self._tenants.tenant(tenant_id).repositories:
            raise RepositoryOutOfScope(tenant_id, repository_id)
        return self._observe_chunk([_as_dict(checked)]) == 1

    def freshness_deadlines(self) -> DeadlineQueue:
        """Every accepted publish not yet visible in time and not yet recorded as missed."""
        self._views.catch_up()
        rows = slo_query.pending_freshness(self._store.sql, "9999-12-31T23:59:59.999999Z")
        return DeadlineQueue(
            Deadline(moment(r["due_at"]), "freshness",
                     (r["tenant_id"], r["repository_id"], r["idempotency_key"], r["payload_hash"]),
                     {"accepted_at": r["accepted_at"]})
            for r in rows
        )

    def advance_freshness(self, until: datetime) -> int:
        """Record every freshness deadline due by ``until``; returns how many were missed."""
        due = self.freshness_deadlines().due(utc(until, "until"))
        return sum(self._record_missed(deadline) for deadline in due)

    def _record_missed(self, deadline: Deadline) -> bool:
        tenant_id, repository_id, key, payload_hash = deadline.key
        accepted_at = moment(deadline.data["accepted_at"])
        missed: bool = self._store.update(
            lambda: self._load_or_track(tenant_id, repository_id, key, payload_hash),
            lambda v: v.miss(accepted_at, deadline.due_at))
        return missed

    def _visibility_watermarks(self) -> dict[str, datetime]:
        """Each tenant's visibility event time: its newest ``visible_at`` known, minus the
        allowed lateness. Per tenant, so no tenant's snapshots ever move another's
        freshness deadlines (a snapshot a day ahead passes the bounds)."""
        self._views.catch_up()
        sql = self._store.sql
        with sql.transaction(commit=False) as cursor:
            sql.execute(cursor, f"SELECT tenant_id, MAX(visible_at) AS v FROM "
                                f"{sql.table('slo_freshness')} WHERE visible_at IS NOT NULL "
                                "GROUP BY tenant_id")
            newest = {str(row["tenant_id"]): moment(row["v"]) for row in cursor.fetchall()}
        marks = {}
        for tenant, seen in newest.items():
            lateness = self._policies.policy_at(seen).alerts.allowed_lateness_seconds
            marks[tenant] = seen - timedelta(seconds=lateness)
        return marks

    def advance_freshness_by_event_time(self) -> tuple[int, datetime | None]:
        """Record each tenant's freshness deadlines due by its own visibility event time;
        returns how many were missed and the newest of those times (``None``: no
        visibility yet)."""
        marks = self._visibility_watermarks()
        if not marks:
            return 0, None
        queue = self.freshness_deadlines()
        due = [d for d in queue.due(max(marks.values()))
               if d.key[0] in marks and d.due_at <= marks[d.key[0]]]
        return sum(self._record_missed(deadline) for deadline in due), max(marks.values())

    def _observe_chunk(self, records: list[dict[str, Any]]) -> int:
        """Record a chunk of visibilities in one transaction (re-decided on a conflict)."""
        for attempt in range(8):
            try:
                with self._store.sql.transaction(commit=True) as cursor:
                    keys = [(r["tenant_id"], r["repository_id"], r["idempotency_key"],
                             r["payload_hash"].lower()) for r in records]
                    streams = load_many(self._store.app, self._store.sql, cursor,
                                        [visibility_uuid(*k) for k in keys])
                    changed: dict[Any, Visibility] = {}
                    for key, record in zip(keys, records, strict=True):
                        stream = visibility_uuid(*key)
                        aggregate = streams.get(stream)
                        if aggregate is None:  # one event, not Tracked then Observed
                            aggregate = streams[stream] = Visibility.seen(
                                *key, record["visible_at"])
                        else:
                            aggregate.observe(record["visible_at"])
                        if aggregate.pending_events:
                            changed[stream] = aggregate
                    events = [e for a in changed.values() for e in a.collect_events()]
                    self._store.sql.insert_stored_events(
                        cursor, [self._store.app.mapper.to_stored_event(e) for e in events])
                return sum(1 for e in events if type(e).__name__ in _OBSERVATIONS)
            except self._store.sql.unique_violations:
                if attempt == 7:
                    raise
        raise AssertionError("unreachable")

    def import_snapshots(self, sources: Iterable[Iterable[bytes]], *,
                         strict: bool = False, names: Sequence[str] | None = None,
                         time_bounds: TimeBounds | None = None) -> rs.SnapshotImportSummary:
        """Import downstream-snapshot NDJSON; then advance freshness deadlines by event time.

        Lines are bounded and reported like the audit import's (file, line, field); the input
        is streamed in chunks of 1,000 (``strict``: a first pass validates everything)."""
        time_bounds = self._clock.bounds(time_bounds)
        with checked_inputs(sources, names, strict,
                            lambda raw: _parse_snapshot(raw, time_bounds)) as (inputs, labels):
            summary = self._import_lines(inputs, labels, time_bounds)
        missed, watermark = self.advance_freshness_by_event_time()
        if watermark is not None:
            summary["missed"] = missed
            summary["watermark"] = iso_utc(watermark)
        return rs.SnapshotImportSummary.of(summary)

    def _import_lines(self, inputs: list[Iterable[bytes]], labels: list[str],
                      time_bounds: TimeBounds | None) -> dict[str, Any]:
        summary: dict[str, Any] = {"lines": 0, "recorded": 0, "duplicates": 0,
                                   "rejected": [], "missed": 0}
        scopes: dict[str, frozenset[str] | None] = {}
        for source, name in zip(inputs, labels, strict=True):
            valid: list[dict[str, Any]] = []
            for number, raw in numbered_lines(source):
                summary["lines"] += 1
                try:
                    data = _parse_snapshot(raw, time_bounds)
                    self._check_scope(scopes, data)
                except OpsledgerError as error:
                    summary["rejected"].append(rejection(name, number, error))
                    continue
                valid.append(data)
                if len(valid) >= 1000:
                    self._record(valid, summary)
            self._record(valid, summary)
        return summary

    def _check_scope(self, scopes: dict[str, frozenset[str] | None],
                     data: dict[str, Any]) -> None:
        tenant_id = data["tenant_id"]
        if tenant_id not in scopes:
            try:
                scopes[tenant_id] = frozenset(self._tenants.tenant(tenant_id).repositories)
            except UnknownTenant:
                scopes[tenant_id] = None
        scope = scopes[tenant_id]
        if scope is None:
            raise UnknownTenant(tenant_id)
        if data["repository_id"] not in scope:
            raise RepositoryOutOfScope(tenant_id, data["repository_id"])

    def _record(self, valid: list[dict[str, Any]], summary: dict[str, Any]) -> None:
        if valid:
            new = self._observe_chunk(valid)
            summary["recorded"] += new
            summary["duplicates"] += len(valid) - new
            valid.clear()

