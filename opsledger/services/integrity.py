"""Tamper evidence as a service: the hash chain's walk and its signed checkpoints."""

from __future__ import annotations

import contextlib

from eventsourcing.persistence import IntegrityError

from opsledger.domain.integrity_alarm import IntegrityAlarm
from opsledger.domain.time import Clock
from opsledger.store import chain
from opsledger.store.chain_verify import verify_chain
from opsledger.store.events import EventStore

__all__ = ["Integrity"]


class Integrity:
    """Verifies the chain over the stored events and signs its head."""

    def __init__(self, store: EventStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def verify_chain(
        self, from_position: int | None = None, checkpoint: chain.Checkpoint | None = None
    ) -> chain.ChainReport:
        """Check the hash chain over the stored events (from ``from_position``, trusting
        the link before it) and, given a verified ``checkpoint``, the history up to it.

        A failed verification is recorded (an ``IntegrityAlarm``, once per break, found at
        the clock's now), so the notification outbox pages on it."""
        report = verify_chain(self._store.sql, from_position=from_position,
                              checkpoint=checkpoint)
        if not report.ok:
            alarm = IntegrityAlarm(first_bad_position=report.first_bad_position,
                                   reason=(report.reason or "unknown")[:200],
                                   events_checked=report.events_checked,
                                   occurred_at=self._clock.now())
            with contextlib.suppress(IntegrityError):  # the same break, recorded before
                self._store.app.save(alarm)
        return report

    def checkpoint(self, key: bytes) -> chain.Checkpoint:
        """The chain's head ``(n, h_n)`` signed with ``key`` (HMAC-SHA256)."""
        sql = self._store.sql
        rows = sql.fetch(f"SELECT notification_id, hash FROM {sql.table(chain.CHAIN_TABLE)} "
                         "ORDER BY notification_id DESC LIMIT 1")
        n, digest = (int(rows[0]["notification_id"]), bytes(rows[0]["hash"])) if rows else \
            (0, chain.GENESIS)
        return chain.Checkpoint.signed(n, digest, key)
