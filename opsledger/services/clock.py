"""Business time for commands and reads: the one :class:`~opsledger.domain.time.Clock`
the host passes in, and the window of business times a store accepts now."""

from __future__ import annotations

from datetime import datetime

from opsledger.domain.bounds import DEFAULT_TIME_BOUNDS, TimeBounds
from opsledger.domain.time import Clock, utc

__all__ = ["BusinessClock"]


class BusinessClock:
    """Turns an optional ``at`` into a business time, checked against the clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def now(self, at: datetime | None = None, name: str = "at", *, command: bool = True
            ) -> datetime:
        """A business time: ``at``, else the clock's time. A command's ``at`` may not lie
        more than a day ahead of the clock (:meth:`bounds`); a read's moment, or an
        explicit sweep's ``now`` (``command=False``), may."""
        if at is None:
            return utc(self.clock.now(), "clock.now()")
        moment = utc(at, name)
        if command:
            self.bounds().check(moment, name)
        return moment

    def bounds(self, bounds: TimeBounds | None = None) -> TimeBounds:
        """The business times this store accepts now: ``bounds`` (default 2000..2100 UTC)
        and at most :data:`~opsledger.domain.bounds.MAX_AHEAD` ahead of the clock."""
        return (bounds or DEFAULT_TIME_BOUNDS).at_clock(utc(self.clock.now(), "clock.now()"))
