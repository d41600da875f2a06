"""The limits of everything opsledger accepts from outside: one home for the numbers.

Anything the store accepts must be applicable by every view (DESIGN.md, "Trust
boundaries"), so every record model and operator command checks its input against these
bounds at the boundary and refuses what lies outside with :class:`OutOfBounds` (naming the
field, quoting at most :data:`QUOTE_CHARS` characters of the value):

=====================  ==========================================================
integers               64-bit signed at most (:data:`INT64_MAX`), and tighter per field:
                       ``latency_ms`` 0..:data:`MAX_LATENCY_MS` (one day), ``attempts``
                       0..:data:`MAX_ATTEMPTS`, HTTP ``status`` 100..599.
business times         within :class:`TimeBounds` after normalising to UTC: by default
                       2000-01-01T00:00Z (inclusive) to 2100-01-01T00:00Z (exclusive),
                       and, once the store's clock is known (:meth:`TimeBounds.at_clock`),
                       at most :data:`MAX_AHEAD` (a day) ahead of it: a fact from the
                       future would carry its tenant's event time (and every deadline
                       swept by it) years ahead.
                       A host may pass other bounds, within :data:`OUTER_EARLIEST` ..
                       :data:`OUTER_LATEST` (deadlines and windows computed from a
                       time must still be representable).
ids                    1..:data:`MAX_ID_CHARS` characters (Unicode code points), no
                       control characters (Unicode category Cc), no lone surrogates.
operator commands      :func:`bounded` checks the ids, texts, evidence details and
                       explicit times of a command at its entry; nothing is stored when
                       one is out of bounds. Evidence details: JSON values, keys ids,
                       strings free text, at most :data:`MAX_DETAIL_ITEMS` entries per
                       level and :data:`MAX_DETAIL_DEPTH` levels.
single-line text       (URLs, labels) up to :data:`MAX_TEXT_CHARS`, no control characters.
free text              (titles, reasons, evidence) up to :data:`MAX_TEXT_CHARS`; line
                       breaks and tabs allowed, NUL and lone surrogates never (PostgreSQL
                       refuses NUL in text, and a lone surrogate cannot be encoded).
import lines           at most :data:`MAX_LINE_BYTES` bytes, checked before JSON parsing,
                       so an over-long line costs neither memory nor parse time.
=====================  ==========================================================

Why a parameter and not a policy field: ``OperationsPolicy`` is versioned by business
time (which policy applies depends on a record's ``occurred_at``), while these bounds
decide whether a time is acceptable at all; they protect the store, not the policy.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from opsledger.domain.errors import (
    QUOTE_CHARS,
    InvalidInput,
    LineTooLong,
    NaiveDatetime,
    OutOfBounds,
    quote,
)

__all__ = [
    "DEFAULT_TIME_BOUNDS",
    "INT64_MAX",
    "MAX_AHEAD",
    "MAX_ATTEMPTS",
    "MAX_ID_CHARS",
    "MAX_LATENCY_MS",
    "MAX_LINE_BYTES",
    "MAX_STATUS",
    "MAX_TEXT_CHARS",
    "MIN_STATUS",
    "OUTER_EARLIEST",
    "OUTER_LATEST",
    "QUOTE_CHARS",
    "LineTooLong",
    "OutOfBounds",
    "TimeBounds",
    "bounded",
    "check_details",
    "check_id",
    "check_int",
    "check_label",
    "check_text",
    "quote",
]

INT64_MAX = 2**63 - 1
#: A publish operation's wall time, retries and back-off included: one day at most.
MAX_LATENCY_MS = 86_400_000
#: HTTP attempts of one publish operation (Pumuki retries twice by default).
MAX_ATTEMPTS = 1_000
MIN_STATUS, MAX_STATUS = 100, 599
MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 4096
#: 128 KiB: more than twice the longest line the field bounds allow (every string field at
#: its maximum with each character written as a 12-byte escaped surrogate pair).
MAX_LINE_BYTES = 128 * 1024
MAX_DETAIL_ITEMS = 256
MAX_DETAIL_DEPTH = 8
#: How far ahead of the store's clock a business time may lie: producers' clocks drift and
#: a local time written with the wrong offset is off by up to 14 hours, but a fact from
#: further ahead would move its tenant's event time (and every deadline swept by it) there.
MAX_AHEAD = timedelta(days=1)
OUTER_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
OUTER_LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NUL_OR_SURROGATE = re.compile(r"[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class TimeBounds:
    """The business times accepted: ``earliest <= t < latest`` in UTC (defaults 2000..2100)."""

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    latest: datetime = datetime(2100, 1, 1, tzinfo=UTC)
    #: With :meth:`at_clock`: the clock's time; times after ``now + ahead`` are refused.
    now: datetime | None = None
    ahead: timedelta = MAX_AHEAD

    def __post_init__(self) -> None:
        for name in ("earliest", "latest"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise NaiveDatetime(name, value)
        if not OUTER_EARLIEST <= self.earliest < self.latest <= OUTER_LATEST:
            raise InvalidInput(
                f"time bounds must satisfy {OUTER_EARLIEST:%Y-%m-%d} <= earliest < latest "
                f"<= {OUTER_LATEST:%Y-%m-%d}")

    def check(self, value: datetime, field: str = "occurred_at") -> datetime:
        """``value`` in UTC, or :class:`NaiveDatetime` / :class:`OutOfBounds` (an offset
        that carries it past year 1 or 9999 included)."""
        if not isinstance(value, datetime):
            raise OutOfBounds(field, value, "not a date-time")
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(field, value.isoformat()[:QUOTE_CHARS])
        try:
            normalised = value.astimezone(UTC)
        except OverflowError:
            normalised = None
        if normalised is None or not self.earliest <= normalised < self.latest:
            raise OutOfBounds(field, value.isoformat(), f"outside {self.describe()}")
        if self.now is not None and normalised > self.now + self.ahead:
            raise OutOfBounds(field, value.isoformat(),
                              f"more than {self.ahead.total_seconds() / 3600:g} h ahead of "
                              "the clock "
                              f"({self.now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})")
        return normalised

    def at_clock(self, now: datetime) -> TimeBounds:
        """These bounds, refusing also times more than :attr:`ahead` after ``now``."""
        return replace(self, now=now)

    def describe(self) -> str:
        """``[2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)``."""
        return (f"[{self.earliest.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}, "
                f"{self.latest.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})")


DEFAULT_TIME_BOUNDS = TimeBounds()


def check_int(field: str, value: Any, low: int = 0, high: int = INT64_MAX) -> int:
    """An ``int`` (never a bool, float or numeric string) with ``low <= value <= high``."""
    if type(value) is not int:
        raise OutOfBounds(field, value, f"must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise OutOfBounds(field, value, f"must be between {low} and {high}")
    return value


def _check_str(field: str, value: Any, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise OutOfBounds(field, value, f"must be a string, not {type(value).__name__}")
    if not low <= len(value) <= high:
        raise OutOfBounds(field, value, f"length {len(value)} outside {low}..{high}")
    return value


def check_id(field: str, value: Any) -> str:
    """An id: 1..256 characters, no control characters, no lone surrogates."""
    _check_str(field, value, 1, MAX_ID_CHARS)
    found = _CONTROL.search(value)
    if found:
        raise OutOfBounds(field, value, f"control character {found.group()!r} in an id")
    return str(value)


def check_label(field: str, value: Any) -> str:
    """Single-line text (a URL, a label): up to 4096 characters, no control characters."""
    _check_str(field, value, 0, MAX_TEXT_CHARS)
    found = _CONTROL.search(value)
    if found:
        raise OutOfBounds(field, value, f"control character {found.group()!r}")
    return str(value)


def check_text(field: str, value: Any) -> str:
    """Free text: up to 4096 characters; line breaks allowed, NUL and lone surrogates not."""
    _check_str(field, value, 0, MAX_TEXT_CHARS)
    found = _NUL_OR_SURROGATE.search(value)
    if found:
        raise OutOfBounds(field, value, f"character {found.group()!r} not allowed in text")
    return str(value)


def check_details(field: str, value: Any, depth: int = 0) -> Any:
    """Evidence details: JSON values only, bounded in size, depth and every leaf."""
    if depth > MAX_DETAIL_DEPTH:
        raise OutOfBounds(field, "…", f"nested deeper than {MAX_DETAIL_DEPTH} levels")
    if isinstance(value, dict):
        if len(value) > MAX_DETAIL_ITEMS:
            raise OutOfBounds(field, value, f"more than {MAX_DETAIL_ITEMS} entries")
        for key, item in value.items():
            check_details(f"{field}.{check_id(field + ' key', key)}", item, depth + 1)
    elif isinstance(value, list | tuple):
        if len(value) > MAX_DETAIL_ITEMS:
            raise OutOfBounds(field, value, f"more than {MAX_DETAIL_ITEMS} items")
        for index, item in enumerate(value):
            check_details(f"{field}[{index}]", item, depth + 1)
    elif isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        check_int(field, value, -INT64_MAX - 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise OutOfBounds(field, value, "not a finite number")
    else:
        raise OutOfBounds(field, value, f"not a JSON value ({type(value).__name__})")
    return value


def _check_ref(field: str, value: Any) -> Any:
    return check_id(field, value) if isinstance(value, str) else value


def _check_ids(field: str, value: Any) -> Any:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise OutOfBounds(field, value, "must be a list of ids")
    if len(value) > MAX_DETAIL_ITEMS:
        raise OutOfBounds(field, value, f"more than {MAX_DETAIL_ITEMS} ids")
    for item in value:
        check_id(field, item)
    return value


def _check_time(field: str, value: Any) -> Any:
    return DEFAULT_TIME_BOUNDS.check(value, field)


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "id": check_id, "ref": _check_ref, "ids": _check_ids, "label": check_label,
    "text": check_text, "details": check_details, "time": _check_time,
}
P = ParamSpec("P")
R = TypeVar("R")


def bounded(**kinds: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Check a command's arguments at its entry: ``@bounded(tenant_id="id", title="text")``.

    Kinds: ``id``, ``ref`` (an id when given as text), ``ids`` (a list of ids),
    ``label``, ``text``, ``details`` (evidence), ``time`` (an explicit business time,
    within the default time bounds). Arguments left out or ``None`` are not checked.
    """
    unknown = set(kinds.values()) - _CHECKS.keys()
    if unknown:
        raise ValueError(f"unknown bound kinds {sorted(unknown)}")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            arguments = signature.bind_partial(*args, **kwargs).arguments
            for name, kind in kinds.items():
                value = arguments.get(name)
                if value is not None:
                    _CHECKS[kind](name, value)
            return func(*args, **kwargs)

        return checked

    return decorate
