"""The delivery worker's step: route what the outbox view added, then attempt what is due.

**Routing** reads the notifications after the ``router`` cursor in log order, 1,000 at a
time, and for each batch inserts one delivery per matching route and advances the cursor in
one transaction: a crash never routes a notification twice or skips one. A notification
older than the schedule's ``max_age`` when routed (history being imported) or inside a quiet
window is recorded ``suppressed`` and never sent; so is one that no route takes (route
``(none)``: the record that nobody was told). An escalation that no secondary route takes
goes where it would go as the primary owner's. A notification is routed once, by the config
of the step that first sees it.

**Delivery** takes the due deliveries (pending or failed, ``next_attempt_at`` reached) whose
subject has no earlier delivery on the same route still waiting, so a resolve never goes
before its trigger; renders each, POSTs it without holding the guard, then records the
attempt and the delivery's new state in one transaction. 2xx: delivered. A 4xx other than
408/429: refused for good (dead). Otherwise failed, retried after
``min(backoff_max, backoff_initial * 2**(n-1))`` with full jitter in [50 %, 100 %] — or
exactly after the receiver's ``Retry-After`` on 429/503 — unless that is past ``max_age``
from routing (or from the operator's last retry): dead. A crash between the POST and the
record sends again with the same dedup key (at-least-once). Run one worker per store (the
``serve`` leader, or ``notify run``): two would send some deliveries twice (each is still
recorded once).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opsledger.domain.time import iso_utc
from opsledger.projections.outbox import NOTIFICATION_COLUMNS
from opsledger.results import DeliveryReport, Notification
from opsledger.services.notify_channels import Outgoing, render
from opsledger.services.notify_config import NotifyConfig
from opsledger.services.notify_transport import Answer, Transport
from opsledger.services.outbox_store import ATTEMPTS, CURSOR, DELIVERIES, delivery_id
from opsledger.store.sql import SqlStore

__all__ = ["BATCH", "NO_ROUTE", "Deliverer", "Guard", "Tally", "backoff", "route_new"]

#: Taken around each database step (``serve`` passes its engine's lock).
Guard = Callable[[], AbstractContextManager[object]]
#: Notifications routed per transaction.
BATCH = 1000
#: The route and channel of a notification no route takes (recorded suppressed; no route
#: or channel can be named so).
NO_ROUTE = "(none)"
_WAITING = "('pending', 'failed')"
_COLUMNS = ", ".join(NOTIFICATION_COLUMNS)


@dataclass
class Tally:
    """What one step did (see :class:`~opsledger.results.DeliveryReport`)."""

    routed: int = 0
    suppressed: int = 0
    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    #: Seconds from routing to delivery of each delivery made.
    delivery_seconds: list[float] = field(default_factory=list)

    def report(self) -> DeliveryReport:
        """The step's counts as the typed result."""
        return DeliveryReport(**{**asdict(self),
                                 "delivery_seconds": tuple(self.delivery_seconds)})


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def route_new(sql: SqlStore, config: NotifyConfig, now: datetime, guard: Guard,
              tally: Tally) -> None:
    """Turn every notification after the router's cursor into deliveries (see above)."""
    too_old = now - config.delivery.max_age
    while True:
        with guard(), sql.transaction(commit=True) as cursor:
            after = sql.fetch_one(cursor, f"SELECT position FROM {sql.table(CURSOR)} WHERE "
                                          f"name = 'router'{sql.for_update}")["position"]
            sql.execute(cursor, f"SELECT {_COLUMNS} FROM {sql.table('notifications')} WHERE "
                                "position > ? ORDER BY position LIMIT ?", (after, BATCH))
            rows = [Notification.of(dict(r)) for r in cursor.fetchall()]
            if not rows:
                return
            stamp = iso_utc(now)
            deliveries = []
            for n in rows:
                reason = "older than max_age when routed" if n.occurred_at < too_old \
                    else config.quiet_reason(n)
                routes = [(r.name, r.channel) for r in config.routes_for(n)]
                if not routes:  # recorded: nobody was told of this one
                    routes, reason = [(NO_ROUTE, NO_ROUTE)], "no route matches it"
                for route, channel in routes:
                    deliveries.append((
                        delivery_id(n.notification_id, route), n.notification_id,
                        route, channel, n.subject, n.position, n.tenant_id, n.kind,
                        n.level, "suppressed" if reason else "pending", reason, stamp,
                        None if reason else stamp))
                    tally.routed += 1
                    tally.suppressed += reason is not None
            sql.executemany(cursor, f"INSERT INTO {sql.table(DELIVERIES)} (id, notification_id,"
                                    " route, channel, subject, position, tenant, kind, level, "
                                    "state, reason, created_at, next_attempt_at) VALUES "
                                    f"({', '.join('?' * 13)}) ON CONFLICT DO NOTHING",
                            deliveries)
            sql.execute(cursor, f"UPDATE {sql.table(CURSOR)} SET position = ? WHERE "
                                "name = 'router'", (rows[-1].position,))
        if len(rows) < BATCH:
            return


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


def backoff(schedule_initial: timedelta, schedule_max: timedelta, tries: int,
            rng: random.Random) -> timedelta:
    """The wait after the ``tries``-th failed attempt (1, 2, …): the doubled initial wait,
    capped, with full jitter in [50 %, 100 %]."""
    ceiling = min(schedule_max, schedule_initial * (1 << min(tries - 1, 40)))
    return ceiling * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class _Due:
    """A due delivery, with when its age is counted from and its sends since then."""

    row: dict[str, Any]
    since: datetime
    tries: int


class Deliverer:
    """Attempts the due deliveries of one step (see the module docstring)."""

    def __init__(self, sql: SqlStore, config: NotifyConfig, transport: Transport,
                 now: Callable[[], datetime], rng: random.Random, guard: Guard) -> None:
        self._sql, self._config, self._transport = sql, config, transport
        self._now, self._rng, self._guard = now, rng, guard

    def run(self, limit: int, tally: Tally, stop: Callable[[], bool] = lambda: False) -> None:
        """Attempt due deliveries until none is due, ``limit`` were attempted or ``stop()``
        says so (checked before each attempt: a shutdown waits for one HTTP call at most);
        after a delivery succeeds, the next of its subject may go in the same step."""
        seen: set[str] = set()
        while tally.attempted + tally.dead < limit and not stop():
            due, notes = self._due(limit - tally.attempted - tally.dead, seen)
            if not due:
                return
            for d in due:
                seen.add(d.row["id"])
                note = notes.get(d.row["notification_id"])
                if stop():
                    return
                if note is not None:  # else the view is being rebuilt: next step
                    self._attempt(d, note, tally)

    def _due(self, limit: int, seen: set[str]
             ) -> tuple[list[_Due], dict[str, Notification]]:
        sql, now = self._sql, iso_utc(self._now())
        d, a = sql.table(DELIVERIES), sql.table(ATTEMPTS)
        last_retry = f"(SELECT MAX(attempt) FROM {a} r WHERE r.delivery_id = d.id AND " \
                     "r.outcome = 'retried')"
        with self._guard(), sql.transaction(commit=False) as cursor:
            sql.execute(cursor, f"SELECT d.*, (SELECT MAX(at) FROM {a} r WHERE r.delivery_id "
                                "= d.id AND r.outcome = 'retried') AS retried_at, (SELECT "
                                f"COUNT(*) FROM {a} s WHERE s.delivery_id = d.id AND "
                                f"s.outcome <> 'retried' AND s.attempt > COALESCE({last_retry},"
                                f" 0)) AS tries FROM {d} d WHERE d.state IN {_WAITING} AND "
                                f"d.next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM {d} e "
                                "WHERE e.route = d.route AND e.subject = d.subject AND "
                                f"e.position < d.position AND e.state IN {_WAITING}) "
                                "ORDER BY d.next_attempt_at, d.position LIMIT ?",
                        (now, limit + len(seen)))
            rows = [dict(r) for r in cursor.fetchall() if r["id"] not in seen][:limit]
            notes: dict[str, Notification] = {}
            if rows:
                ids = sorted({r["notification_id"] for r in rows})
                sql.execute(cursor, f"SELECT {_COLUMNS} FROM {sql.table('notifications')} "
                                    f"WHERE id IN ({', '.join('?' * len(ids))})", ids)
                notes = {n.notification_id: n
                         for n in (Notification.of(dict(r)) for r in cursor.fetchall())}
        return [_Due(r, max(_when(r["created_at"]), _when(r["retried_at"] or r["created_at"])),
                     int(r["tries"])) for r in rows], notes

    def _attempt(self, d: _Due, note: Notification, tally: Tally) -> None:
        schedule, at = self._config.delivery, self._now()
        deadline = d.since + schedule.max_age
        route = next((r for r in self._config.routes if r.name == d.row["route"]), None)
        channel = self._config.channels.get(route.channel) if route else None
        if route is None or channel is None:
            tally.dead += self._record(d, at, "dead", None, reason=(
                f"route {d.row['route']!r} is not in the config (or its channel is not)"))
            return
        if at > deadline:
            tally.dead += self._record(d, at, "dead", None, reason=(
                f"max_age exceeded after {_attempts(d.row['attempts'])}"))
            return
        outgoing: Outgoing = render(channel, note, route=route.name, now=at, schedule=schedule)
        answer = self._transport.post(outgoing, schedule.timeout.total_seconds())
        tally.attempted += 1
        status = answer.status
        if status is not None and 200 <= status < 300:
            if self._record(d, at, "delivered", answer):
                tally.delivered += 1
                tally.delivery_seconds.append(
                    max(0.0, (at - _when(d.row["created_at"])).total_seconds()))
        elif status is not None and 400 <= status < 500 and status not in (408, 429):
            tally.dead += self._record(d, at, "dead", answer, reason=f"refused: HTTP {status}")
        else:
            wait = timedelta(seconds=answer.retry_after) if answer.retry_after is not None \
                else backoff(schedule.backoff_initial, schedule.backoff_max, d.tries + 1,
                             self._rng)
            if at + wait > deadline:
                asked = "the receiver's Retry-After" if answer.retry_after is not None \
                    else "the next retry"
                tally.dead += self._record(d, at, "dead", answer, reason=(
                    f"{asked} ({wait.total_seconds():g} s) is past max_age, after "
                    f"{_attempts(d.row['attempts'] + 1)}"))
            else:
                tally.failed += self._record(d, at, "failed", answer, next_at=at + wait)

    def _record(self, d: _Due, at: datetime, outcome: str, answer: Answer | None, *,
                next_at: datetime | None = None, reason: str | None = None) -> bool:
        """The attempt row and the delivery's new state, in one transaction; False (nothing
        recorded) when another worker or an operator changed the delivery meanwhile."""
        sql, row = self._sql, d.row
        status = None if answer is None else answer.status
        if answer is None:
            error = reason
        elif answer.error is not None or outcome == "delivered":
            error = answer.error
        else:
            error = f"HTTP {status}"
        with self._guard(), sql.transaction(commit=True) as cursor:
            sql.execute(cursor, f"UPDATE {sql.table(DELIVERIES)} SET attempts = attempts + ?, "
                                "last_status = COALESCE(?, last_status), last_error = ?, "
                                "state = ?, reason = ?, next_attempt_at = ?, delivered_at = ? "
                                f"WHERE id = ? AND attempts = ? AND state IN {_WAITING}",
                        (int(answer is not None), status, error, outcome, reason,
                         iso_utc(next_at) if next_at else None,
                         iso_utc(at) if outcome == "delivered" else None, row["id"],
                         row["attempts"]))
            if sql.rowcount(cursor) != 1:
                return False
            number = sql.fetch_one(cursor, f"SELECT COALESCE(MAX(attempt), 0) + 1 AS n FROM "
                                           f"{sql.table(ATTEMPTS)} WHERE delivery_id = ?",
                                   (row["id"],))["n"]
            sql.execute(cursor, f"INSERT INTO {sql.table(ATTEMPTS)} VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (row["id"], number, iso_utc(at), outcome, status, error,
                         None if answer is None else answer.duration_ms,
                         iso_utc(next_at) if next_at else None, None))
        return True

