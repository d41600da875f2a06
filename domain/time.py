"""Business time: the injected clock, UTC normalisation and the business-day calendar.

Every policy decision uses ``occurred_at`` — timezone-aware UTC business time given
by the caller or read from the one injected :class:`Clock`. Nothing in the domain or
the projections reads the wall clock itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from opsledger.domain.errors import InvalidInput, NaiveDatetime

__all__ = [
    "MINUTE_US",
    "BusinessCalendar",
    "Clock",
    "FrozenClock",
    "SystemClock",
    "fmt_time",
    "from_us",
    "iso_utc",
    "to_us",
    "utc",
]

#: A minute in microseconds: the alert rules keep business time as integers.
MINUTE_US = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(t: datetime) -> int:
    """Microseconds since the epoch."""
    return (t - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    """Inverse of :func:`to_us`."""
    return _EPOCH + timedelta(microseconds=us)


def utc(value: datetime, field: str = "occurred_at") -> datetime:
    """Return ``value`` in UTC; refuse a naive datetime with :class:`NaiveDatetime`."""
    if not isinstance(value, datetime):
        raise NaiveDatetime(field, value)
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetime(field, value)
    return value.astimezone(UTC)


def fmt_time(value: datetime) -> str:
    """The one time form of every output (JSON and text): RFC 3339 in UTC with ``Z`` and
    exactly milliseconds (Pumuki's own precision), ``2026-11-03T07:00:00.123Z``; finer is cut,
    never rounded up. (A naive time is taken as UTC: the stores hand back UTC.) Stored and
    compared times use :func:`iso_utc`."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def iso_utc(value: datetime) -> str:
    """``2026-11-03T07:03:03.583000Z``: fixed-width UTC text, so text order is time order."""
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
        f"{v.second:02d}.{v.microsecond:06d}Z"
    )


@runtime_checkable
class Clock(Protocol):
    """Where "now" comes from. Inject one; never call ``datetime.now`` in policy code."""

    def now(self) -> datetime:
        """The current business time, tz-aware UTC."""
        ...


class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> datetime:
        """The wall-clock time in UTC."""
        return datetime.now(tz=UTC)


class FrozenClock:
    """A clock that only moves when told to: the test double shipped with the API."""

    def __init__(self, at: datetime) -> None:
        self._now = utc(at, "at")

    def now(self) -> datetime:
        """The frozen time."""
        return self._now

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (tz-aware)."""
        self._now = utc(at, "at")

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        self._now = self._now + delta
        return self._now


class BusinessCalendar:
    """Monday to Friday in a time zone, minus holidays (a ``holidays`` country and explicit dates).

    "N business days after t" is the same local wall time on the N-th business day after
    t's local date, converted back to UTC (DST-safe: the offset of the target day applies).
    """

    def __init__(
        self,
        timezone: str = "UTC",
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        extra_holidays: Iterable[date] = (),
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.holiday_country = holiday_country
        self.holiday_subdivision = holiday_subdivision
        self.extra_holidays = frozenset(extra_holidays)

    @cached_property
    def _country_holidays(self) -> object | None:
        if not self.holiday_country:
            return None
        import holidays

        return holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)

    def is_business_day(self, day: date) -> bool:
        """True for a weekday that is not a holiday."""
        if day.weekday() >= 5 or day in self.extra_holidays:
            return False
        country = self._country_holidays
        return not (country is not None and day in country)  # type: ignore[operator]

    def add_business_days(self, at: datetime, days: int) -> datetime:
        """The same local time on the ``days``-th business day after ``at``'s local date."""
        if days < 0:
            raise InvalidInput("days must be >= 0")
        local = utc(at, "at").astimezone(self.tz)
        day = local.date()
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        target = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=self.tz)
        return target.astimezone(UTC)
