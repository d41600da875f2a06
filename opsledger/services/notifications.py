"""The notification outbox as a service (policy §3, §4, §7): what is waiting, what was
delivered, what died; delivery steps; an operator's retry and test.

The notifications themselves are a view of the log (:mod:`opsledger.projections.outbox`);
their delivery state is :mod:`.outbox_store`'s; routing and delivery are
:mod:`.notify_delivery`'s. The in-process subscriber (``Operations.subscribe``) stays for
embedding and is best-effort; this is the reliable path.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from datetime import datetime
from typing import Any

from opsledger.domain.bounds import bounded
from opsledger.domain.errors import DeliveryFailed, InvalidInput, NotFound
from opsledger.domain.time import Clock, iso_utc
from opsledger.projections.outbox import NOTIFICATION_COLUMNS
from opsledger.results import (
    DeliveryAttempt,
    DeliveryReport,
    Notification,
    NotificationDelivery,
    NotificationDetail,
    OutboxStatus,
)
from opsledger.services.notify_channels import render_test
from opsledger.services.notify_config import NotifyConfig
from opsledger.services.notify_delivery import Deliverer, Guard, Tally, route_new
from opsledger.services.notify_transport import HttpTransport, Transport
from opsledger.services.outbox_store import ATTEMPTS, CURSOR, DELIVERIES, STATES
from opsledger.services.views import Views
from opsledger.store.events import EventStore

__all__ = ["Guard", "Notifications"]

#: The most rows one list may ask for.
MAX_LIMIT = 10_000
_DELIVERY_ID = re.compile(r"[0-9a-f]{12}")
_DELIVERY_COLUMNS = ("id", "notification_id", "route", "channel", "subject", "position",
                     "tenant", "kind", "level", "state", "attempts", "last_status",
                     "last_error", "reason", "created_at", "next_attempt_at", "delivered_at")
_ATTEMPT_COLUMNS = ("delivery_id", "attempt", "at", "outcome", "status", "error",
                    "duration_ms", "next_attempt_at", "by")


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must lie between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def _delivery(row: Any) -> NotificationDelivery:
    return NotificationDelivery.of({k: row[k] for k in _DELIVERY_COLUMNS})


def _attempt(row: Any) -> DeliveryAttempt:
    return DeliveryAttempt.of({k: row[k] for k in _ATTEMPT_COLUMNS})


def _checked_id(delivery_id: str) -> str:
    if not isinstance(delivery_id, str) or not _DELIVERY_ID.fullmatch(delivery_id):
        raise InvalidInput(f"a delivery id is 12 hex digits, not {str(delivery_id)[:20]!r}")
    return delivery_id


class Notifications:
    """Reads, delivery steps and operator actions over the outbox of one store. Its time
    is ``clock``'s (a frozen clock drives the worker in tests); ``rng`` draws the backoff
    jitter (seed it for repeatable schedules)."""

    def __init__(self, store: EventStore, clock: Clock, views: Views,
                 rng: random.Random | None = None) -> None:
        self._store = store
        self._clock = clock
        self._views = views
        self._rng = rng or random.Random()

    @bounded(tenant_id="id", route="id")
    def notifications(
        self, *, state: str | None = None, tenant_id: str | None = None,
        route: str | None = None, limit: int = 100,
    ) -> tuple[NotificationDelivery, ...]:
        """Deliveries, newest first, by state (``pending``, ``failed``, ``delivered``,
        ``dead``, ``suppressed``), tenant and route; at most ``limit`` (≤ 10,000)."""
        if state is not None and state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}, not {state[:20]!r}")
        given = [(c, v) for c, v in (("state", state), ("tenant", tenant_id), ("route", route))
                 if v is not None]
        where = " WHERE " + " AND ".join(f"{c} = ?" for c, _ in given) if given else ""
        sql = self._store.sql
        rows = sql.fetch(f"SELECT * FROM {sql.table(DELIVERIES)}{where} ORDER BY created_at "
                         "DESC, position DESC, route LIMIT ?",
                         [v for _, v in given] + [_limit(limit)])
        return tuple(map(_delivery, rows))

    @bounded(tenant_id="id")
    def outbox(self, *, after: int = 0, limit: int = 1000,
               tenant_id: str | None = None) -> tuple[Notification, ...]:
        """The notifications derived from the log after position ``after``, in log order
        (only ``tenant_id``'s when given)."""
        self._views.catch_up()
        sql = self._store.sql
        where: list[str] = ["position > ?"]
        params: list[object] = [int(after)]
        if tenant_id is not None:
            where.append("tenant = ?")
            params.append(tenant_id)
        rows = sql.fetch(f"SELECT {', '.join(NOTIFICATION_COLUMNS)} FROM "
                         f"{sql.table('notifications')} WHERE {' AND '.join(where)} ORDER BY "
                         "position LIMIT ?", [*params, _limit(limit)])
        return tuple(Notification.of(r) for r in rows)

    def notification(self, delivery_id: str) -> NotificationDetail:
        """One delivery with its notification and every attempt (``NotFound`` if none)."""
        sql = self._store.sql
        with sql.transaction(commit=False) as cursor:
            row = sql.fetch_one(cursor, f"SELECT * FROM {sql.table(DELIVERIES)} WHERE id = ?",
                                (_checked_id(delivery_id),))
            if row is None:
                raise NotFound(f"no notification delivery {delivery_id!r}")
            delivery = _delivery(row)
            note = sql.fetch_one(cursor, f"SELECT {', '.join(NOTIFICATION_COLUMNS)} FROM "
                                         f"{sql.table('notifications')} WHERE id = ?",
                                 (delivery.notification_id,))
            sql.execute(cursor, f"SELECT * FROM {sql.table(ATTEMPTS)} WHERE delivery_id = ? "
                                "ORDER BY attempt", (delivery_id,))
            attempts = tuple(map(_attempt, cursor.fetchall()))
        return NotificationDetail(delivery=delivery, attempts=attempts,
                                  notification=Notification.of(dict(note)) if note else None)

    @bounded(delivery_ids="ids", by="id")
    def retry_notifications(self, delivery_ids: Sequence[str] = (), *, all_dead: bool = False,
                            by: str, guard: Guard | None = None
                            ) -> tuple[NotificationDelivery, ...]:
        """Make dead (or failed) deliveries due now again, each retry recorded as an attempt
        row with the operator ``by``; returns them. Every id must name a dead or failed
        delivery (else nothing changes); ``all_dead`` adds every dead one."""
        ids = [_checked_id(i) for i in delivery_ids]
        if not ids and not all_dead:
            raise InvalidInput("give the ids of the deliveries to retry, or all_dead")
        sql, now = self._store.sql, iso_utc(self._clock.now())
        table = sql.table(DELIVERIES)
        with (guard or nullcontext)(), sql.transaction(commit=True) as cursor:
            for i in ids:
                row = sql.fetch_one(cursor, f"SELECT state FROM {table} WHERE id = ?", (i,))
                if row is None:
                    raise NotFound(f"no notification delivery {i!r}")
                if row["state"] not in ("dead", "failed"):
                    raise InvalidInput(f"delivery {i} is {row['state']}: only a dead or failed "
                                       "one is retried")
            if all_dead:
                sql.execute(cursor, f"SELECT id FROM {table} WHERE state = 'dead' ORDER BY id")
                ids += [r["id"] for r in cursor.fetchall() if r["id"] not in ids]
            for i in ids:
                sql.execute(cursor, f"UPDATE {table} SET state = 'pending', reason = NULL, "
                                    "next_attempt_at = ? WHERE id = ?", (now, i))
                number = sql.fetch_one(cursor, f"SELECT COALESCE(MAX(attempt), 0) + 1 AS n "
                                               f"FROM {sql.table(ATTEMPTS)} WHERE "
                                               "delivery_id = ?", (i,))["n"]
                sql.execute(cursor, f"INSERT INTO {sql.table(ATTEMPTS)} (delivery_id, attempt, "
                                    "at, outcome, next_attempt_at, by) VALUES "
                                    "(?, ?, ?, 'retried', ?, ?)", (i, number, now, now, by))
            found = []
            for i in ids:
                found.append(_delivery(sql.fetch_one(cursor, f"SELECT * FROM {table} WHERE "
                                                             "id = ?", (i,))))
        return tuple(found)

    def outbox_status(self) -> OutboxStatus:
        """Deliveries by state, failed attempts ever (sends that were not accepted),
        notifications the view holds that are not yet routed, and the oldest waiting
        (pending or failed) delivery's creation time. Reads only (no catch-up)."""
        sql = self._store.sql
        with sql.transaction(commit=False) as cursor:
            sql.execute(cursor, f"SELECT state, COUNT(*) AS n FROM {sql.table(DELIVERIES)} "
                                "GROUP BY state")
            by_state = dict.fromkeys(STATES, 0) | {r["state"]: int(r["n"])
                                                   for r in cursor.fetchall()}
            failed = sql.fetch_one(cursor, f"SELECT COUNT(*) AS n FROM {sql.table(ATTEMPTS)} "
                                           "WHERE outcome IN ('failed', 'dead') AND "
                                           "duration_ms IS NOT NULL")["n"]
            unrouted = sql.fetch_one(cursor, f"SELECT COUNT(*) AS n FROM "
                                             f"{sql.table('notifications')} WHERE position > "
                                             f"(SELECT position FROM {sql.table(CURSOR)} WHERE "
                                             "name = 'router')")["n"]
            oldest = sql.fetch_one(cursor, f"SELECT MIN(created_at) AS t FROM "
                                           f"{sql.table(DELIVERIES)} WHERE state IN "
                                           "('pending', 'failed')")["t"]
        return OutboxStatus(by_state=by_state, failed_attempts=int(failed),
                            unrouted=int(unrouted),
                            oldest_pending_at=datetime.fromisoformat(oldest) if oldest else None)

    def deliver_notifications(self, config: NotifyConfig, *, transport: Transport | None = None,
                              limit: int = 500, guard: Guard | None = None,
                              rng: random.Random | None = None,
                              stop: Callable[[], bool] | None = None) -> DeliveryReport:
        """One delivery step at the clock's now: route what the view has added since the
        last step, then attempt every due delivery (at most ``limit``) in order per route
        and subject, recording each attempt. ``guard`` is taken around each database step
        and never around an HTTP call; ``transport`` defaults to HTTP (one client per
        step); ``rng`` overrides the service's jitter source; ``stop`` (checked before each
        attempt) ends the step early, for a shutdown."""
        guard = guard or nullcontext
        tally = Tally()
        with guard():
            self._views.catch_up()
        route_new(self._store.sql, config, self._clock.now(), guard, tally)
        with ExitStack() as stack:
            sender = transport if transport is not None else \
                stack.enter_context(HttpTransport(self._clock.now))
            Deliverer(self._store.sql, config, sender, self._clock.now, rng or self._rng,
                      guard).run(_limit(limit), tally, stop or (lambda: False))
        return tally.report()

    @bounded(route="id", by="id")
    def test_notification_route(self, config: NotifyConfig, route: str, *, by: str,
                                transport: Transport | None = None) -> DeliveryAttempt:
        """Send a marked test payload through ``route`` now (nothing is stored in the
        outbox); ``DeliveryFailed`` when the receiver does not accept it."""
        chosen = next((r for r in config.routes if r.name == route), None)
        if chosen is None:
            raise InvalidInput(f"no route {route!r} in the notify config")
        channel = config.channels[chosen.channel]
        now, schedule = self._clock.now(), config.delivery
        status, spent = None, 0.0
        with ExitStack() as stack:
            sender = transport if transport is not None else \
                stack.enter_context(HttpTransport(self._clock.now))
            for outgoing in render_test(channel, route=chosen.name, now=now, schedule=schedule,
                                        audience=chosen.owner):
                answer = sender.post(outgoing, schedule.timeout.total_seconds())
                status, spent = answer.status, spent + answer.duration_ms
                if answer.status is None or not 200 <= answer.status < 300:
                    why = answer.error or f"HTTP {answer.status}"
                    raise DeliveryFailed(f"the test through route {route!r} was not accepted: "
                                         f"{why}")
        return DeliveryAttempt(delivery_id="test", attempt=1, at=now, outcome="delivered",
                               status=status, error=None, duration_ms=round(spent, 3),
                               next_attempt_at=None, by=by)
