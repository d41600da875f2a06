"""The live driver: APScheduler 3.x wakes at the next due time and records what fell due.

This is the one module that imports APScheduler (the live driver, and :class:`Periodic`,
the plain every-few-seconds runner ``opsledger serve`` ticks its background job with). Jobs
run with ``misfire_grace_time=None`` and ``coalesce=True``: a late wake-up still runs
(once), it is never silently skipped. At start it sweeps immediately, which records at their
original due times every deadline that fell due while no scheduler was running; the sweep
is the same ``advance(now)`` imports and replays use, so live and history share one code
path.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger

__all__ = ["Driver", "Periodic", "Sweeper"]

log = logging.getLogger("opsledger.scheduler")
JOB = "opsledger-sweep"


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Sweeper(Protocol[T_co]):
    """What the driver drives (``opsledger.Operations`` is one)."""

    def advance(self, now: datetime | None = None) -> T_co:
        """Record everything due by ``now``."""
        ...

    def next_due(self, now: datetime) -> datetime | None:
        """When the next known deadline falls due."""
        ...


class Driver(Generic[T]):
    """Sweeps now, then sleeps until the next due time (at most ``max_sleep``)."""

    def __init__(self, sweeper: Sweeper[T], clock: Callable[[], datetime], *,
                 max_sleep: timedelta = timedelta(seconds=60), blocking: bool = True,
                 on_sweep: Callable[[datetime, T], None] | None = None) -> None:
        self.sweeper = sweeper
        self.clock = clock
        self.max_sleep = max_sleep
        self.on_sweep = on_sweep
        self.job_defaults: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True,
                                             "max_instances": 1}
        self.scheduler: BaseScheduler = (BlockingScheduler if blocking else BackgroundScheduler)(
            timezone=UTC, job_defaults=self.job_defaults)
        self.sweeps = 0

    def _sweep(self) -> None:
        now = self.clock()
        recorded = self.sweeper.advance(now)
        self.sweeps += 1
        log.info("sweep at %s: %s", now.isoformat(), recorded)
        if self.on_sweep:
            self.on_sweep(now, recorded)
        wake = now + self.max_sleep
        due = self.sweeper.next_due(now)
        if due is not None:  # a deadline is missed once its due instant has passed
            wake = min(wake, max(due, now) + timedelta(milliseconds=1))
        # A fresh id per wake: APScheduler removes a spent date job after it ran, which
        # would take a re-added job of the same id with it.
        self.scheduler.add_job(self._sweep, DateTrigger(run_date=wake),
                               id=f"{JOB}-{self.sweeps}")

    def start(self) -> None:
        """Sweep at once, then keep waking at the due times (blocks if ``blocking``)."""
        self.scheduler.add_job(self._sweep, DateTrigger(run_date=self.clock()),
                               id=f"{JOB}-start")
        self.scheduler.start()

    def stop(self) -> None:
        """Stop waking up."""
        self.scheduler.shutdown(wait=False)


class Periodic:
    """Calls ``job`` in a background thread at once and then every ``every`` (wall-clock
    ticks, not business time). Each next call is scheduled when the previous one ends (at
    its start plus ``every``, or at once if it ran longer), so calls never overlap and a
    long one is never reported as a skipped tick; ``misfire_grace_time=None`` and
    ``coalesce=True`` as everywhere. :meth:`stop` waits for a running call to finish."""

    def __init__(self, job: Callable[[], object], every: timedelta, *,
                 name: str = "opsledger-tick") -> None:
        if every <= timedelta(0):
            raise ValueError("a periodic job needs a positive interval")
        self.job = job
        self.every = every
        self.name = name
        self.calls = 0
        self._stopping = False
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})

    def _call(self) -> None:
        started = datetime.now(UTC)
        try:
            self.job()
        finally:
            self.calls += 1
            if not self._stopping:
                wake = max(datetime.now(UTC), started + self.every)
                with contextlib.suppress(SchedulerNotRunningError):  # stopped meanwhile
                    self.scheduler.add_job(self._call, DateTrigger(run_date=wake),
                                           id=f"{self.name}-{self.calls}")

    def start(self) -> None:
        """Run the job now (in the background thread), then every interval."""
        self.scheduler.add_job(self._call, DateTrigger(run_date=datetime.now(UTC)),
                               id=f"{self.name}-start")
        self.scheduler.start()

    def stop(self) -> None:
        """Stop ticking; wait for a call in progress to finish."""
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
