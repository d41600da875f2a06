"""The notification delivery job of ``opsledger serve --notify-config`` (and of
``opsledger notify run``): one deliverer per store sends what the outbox holds.

Every tick (:class:`~opsledger.Periodic` in ``serve``; the CLI's own loop in ``notify run``)
the job holds the *notify* leadership (:func:`~opsledger.api.leader.leadership_for` with
``purpose="notify"``: a lock of its own, so the sweeper and the deliverer may be different
processes, and two deliverers never send at once) or tries to. The leader runs one delivery
step, ``deliver_notifications(config, guard=…)``: the step takes the engine's lock around
each database step only, so an HTTP send never holds up the API. The step itself catches
the views up first, under the lock, so what the log has recorded reaches the outbox whether
or not a sweep job runs in the process (``--no-scheduler``, ``notify run``).

Each delivery a step completes is observed in :class:`DeliveryLatency` (seconds from when it
was routed to when it was delivered), exposed on ``/metrics`` while the job runs. Log lines
carry counts only: never a URL, a secret or a payload.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

import opsledger
from opsledger.api.engine import Engine
from opsledger.api.leader import LeaderJob, Leadership
from opsledger.results import DeliveryReport
from opsledger.serialize import fmt_time

__all__ = ["LATENCY_BUCKETS", "DeliveryJob", "DeliveryLatency", "DeliveryState",
           "delivery_metrics", "describe_report", "outbox_metrics"]

log = logging.getLogger("opsledger.api.notify")

#: Seconds from routing to delivery: a healthy receiver takes under a second, a retried one
#: minutes to hours (the backoff), a dead letter retried by an operator up to a day or more.
LATENCY_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0,
                   24 * 3600.0)
#: Delivery states, each always shown on ``/metrics`` (0 when none).
_STATES = ("pending", "failed", "delivered", "dead", "suppressed")


@dataclass
class DeliveryState:
    """What ``/v1/status`` and ``/metrics`` say of this process's delivery job."""

    #: The job runs (a notify config was given).
    enabled: bool = False
    leader: bool = False
    #: The business time of the last completed step, and what it did.
    last_step_at: datetime | None = None
    last_report: DeliveryReport | None = None
    steps: int = 0
    #: The type of the last error of a step (cleared by a step that succeeds).
    last_error: str | None = None
    #: What this process's steps did since it started: delivered, failed attempts, dead.
    delivered: int = 0
    failed: int = 0
    dead: int = 0


class DeliveryLatency:
    """The histogram ``opsledger_notification_delivery_seconds`` of the deliveries this
    process made: each step's report carries, for every delivery it made, the seconds from
    its routing to its delivery."""

    def __init__(self) -> None:
        self.histogram = Histogram(
            "opsledger_notification_delivery_seconds",
            "seconds from a notification's routing to its delivery, per delivery this "
            "process made", buckets=LATENCY_BUCKETS, registry=None)

    def observe(self, report: DeliveryReport) -> int:
        """Observe the deliveries of one step; how many."""
        for seconds in report.delivery_seconds:
            self.histogram.observe(seconds)
        return len(report.delivery_seconds)

    def collect(self) -> list[Metric]:
        """The histogram's families (for a collector)."""
        return list(self.histogram.collect())


def outbox_metrics(status: Any, now: datetime) -> list[Metric]:
    """The outbox's series from ``ops.outbox_status()`` (read with the store's figures)."""
    by_state = {state: 0 for state in _STATES} | dict(status.by_state)
    deliveries = GaugeMetricFamily("opsledger_notifications", "notification deliveries (one "
                                   "per notification and route) by state", labels=["state"])
    for state, count in sorted(by_state.items()):
        deliveries.add_metric([state], count)
    metrics: list[Metric] = [
        deliveries,
        CounterMetricFamily("opsledger_notification_failed_attempts",
                            "delivery attempts that failed, ever", value=status.failed_attempts),
        GaugeMetricFamily("opsledger_notification_dead", "deliveries given up (the "
                          "dead-letter list: opsledger notify list --state dead)",
                          value=by_state["dead"]),
        GaugeMetricFamily("opsledger_notifications_unrouted",
                          "notifications the delivery worker has not routed yet",
                          value=status.unrouted),
    ]
    if status.oldest_pending_at is not None:
        age = max(0.0, (now - status.oldest_pending_at).total_seconds())
        metrics.append(GaugeMetricFamily(
            "opsledger_notification_oldest_pending_age_seconds",
            "business seconds since the oldest delivery still pending was routed", value=age))
    return metrics


def delivery_metrics(state: object, latency: object) -> list[Metric]:
    """This process's delivery job, only while it runs (``serve --notify-config``): its
    leadership, steps, and the latency histogram."""
    if not isinstance(state, DeliveryState) or not state.enabled:
        return []
    metrics: list[Metric] = [
        GaugeMetricFamily("opsledger_notification_delivery_leader", "1 if this process "
                          "holds the notify leadership and delivers", value=int(state.leader)),
        CounterMetricFamily("opsledger_notification_delivery_steps",
                            "delivery steps this process completed", value=state.steps),
    ]
    if isinstance(latency, DeliveryLatency):
        metrics += latency.collect()
    return metrics


def describe_report(report: DeliveryReport) -> str:
    """A step's counts as one line (nothing else: no URL, no payload)."""
    return (f"routed {report.routed} (suppressed {report.suppressed}), attempted "
            f"{report.attempted}: delivered {report.delivered}, failed {report.failed}, "
            f"dead {report.dead}")


class DeliveryJob(LeaderJob):
    """The delivery job: while it holds the notify leadership, one delivery step a tick."""

    what = "notify"
    thread = "opsledger-notify-tick"

    def __init__(self, engine: Engine, config: opsledger.NotifyConfig, leadership: Leadership,
                 *, every: timedelta | None = None, limit: int = 500) -> None:
        super().__init__(engine, leadership, every)
        self.config = config
        self.limit = limit
        self.state = DeliveryState(enabled=True)
        self.latency = DeliveryLatency()
        #: Called with each step's report (``notify run`` prints it).
        self.on_step: Callable[[datetime, DeliveryReport], None] | None = None
        self._stopping = threading.Event()  # a step in progress ends after its HTTP call

    def request_stop(self) -> None:
        """Ask a step in progress to end after its current HTTP call (safe from a signal
        handler)."""
        self._stopping.set()

    def stop(self) -> None:
        """End a step in progress after its current HTTP call, stop ticking, release the
        leadership."""
        self._stopping.set()
        super().stop()

    def _guard(self) -> AbstractContextManager[object]:
        return self.engine.lock

    def step(self) -> None:
        """One delivery step (it catches the views up first)."""
        engine, ops = self.engine, self.engine.ops
        started = engine.run(ops.clock.now)
        report = ops.deliver_notifications(self.config, limit=self.limit, guard=self._guard,
                                           stop=self._stopping.is_set)
        self.latency.observe(report)
        self.state.last_step_at = started
        self.state.last_report = report
        self.state.steps += 1
        self.state.delivered += report.delivered
        self.state.failed += report.failed
        self.state.dead += report.dead
        self.state.last_error = None
        if self.on_step is not None:
            self.on_step(started, report)
        if report.routed or report.attempted:
            log.info("delivery step at %s: %s", fmt_time(started), describe_report(report))
