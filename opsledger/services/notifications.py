"""The notification outbox as a service (policy §3, §4, §7): what is waiting, what was
delivered, what died; delivery steps; an operator's retry and test.

The notifications themselves are a view of the log (:mod:`opsledger.projections.outbox`);
their delivery state is :mod:`.outbox_store`'s; routing and delivery are
:mod:`.notify_delivery`'s. The in-process subscriber (``Operations.subscribe``) stays for
embedding and is best-effort; this is the reliable path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from opsledger.results import (
    DeliveryAttempt,
    DeliveryReport,
    Notification,
    NotificationDelivery,
    NotificationDetail,
    OutboxStatus,
)
from opsledger.services.notify_config import NotifyConfig
from opsledger.services.views import Views
from opsledger.store.events import EventStore

__all__ = ["Guard", "Notifications"]

#: Taken around each database step of a delivery (``serve`` passes its engine's lock, so
#: HTTP calls never hold it); default: nothing.
Guard = Callable[[], AbstractContextManager[object]]


class Notifications:
    """Reads, delivery steps and operator actions over the outbox of one store."""

    def __init__(self, store: EventStore, clock: object, views: Views) -> None:
        self._store = store
        self._clock = clock
        self._views = views

    def notifications(
        self, *, state: str | None = None, tenant_id: str | None = None,
        route: str | None = None, limit: int = 100,
    ) -> tuple[NotificationDelivery, ...]:
        """Deliveries, newest first, by state (``pending``, ``failed``, ``delivered``,
        ``dead``, ``suppressed``), tenant and route; at most ``limit`` (≤ 10,000)."""
        raise NotImplementedError

    def outbox(self, *, after: int = 0, limit: int = 1000) -> tuple[Notification, ...]:
        """The notifications derived from the log after position ``after``, in log order."""
        raise NotImplementedError

    def notification(self, delivery_id: str) -> NotificationDetail:
        """One delivery with its notification and every attempt (``NotFound`` if none)."""
        raise NotImplementedError

    def retry_notifications(self, delivery_ids: Sequence[str] = (), *, all_dead: bool = False,
                            by: str) -> tuple[NotificationDelivery, ...]:
        """Make dead (or failed) deliveries due now again, each retry recorded as an attempt
        row with the operator ``by``; returns them."""
        raise NotImplementedError

    def outbox_status(self) -> OutboxStatus:
        """Deliveries by state, failed attempts ever, notifications not yet routed."""
        raise NotImplementedError

    def deliver_notifications(self, config: NotifyConfig, *, transport: object | None = None,
                              limit: int = 500, guard: Guard | None = None) -> DeliveryReport:
        """One delivery step at the clock's now: route what the view has added since the
        last step, then attempt every due delivery (at most ``limit``) in order per route
        and subject, recording each attempt."""
        raise NotImplementedError

    def test_notification_route(self, config: NotifyConfig, route: str, *, by: str,
                                transport: object | None = None) -> DeliveryAttempt:
        """Send a marked test payload through ``route`` now (nothing is stored in the
        outbox); ``DeliveryFailed`` when the receiver does not accept it."""
        raise NotImplementedError
