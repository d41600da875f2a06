"""How a rendered notification leaves: one HTTP POST, and what came back.

:class:`Transport` is what the delivery worker needs (tests and embedders may pass their
own); :class:`HttpTransport` is the real one, over one ``httpx.Client`` that follows no
redirect and reads no proxy settings from the environment (``trust_env=False``). An answer
never carries the URL or the body of the request: a Slack webhook URL is itself a secret,
so a connection error is named by its exception type only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from opsledger.services.notify_channels import Outgoing

if TYPE_CHECKING:  # imported when a transport is made: a read command never needs it
    import httpx

__all__ = ["MAX_RETRY_AFTER", "RETRY_AFTER_STATUSES", "Answer", "HttpTransport", "Transport",
           "retry_after_seconds"]

#: The statuses whose ``Retry-After`` is honoured.
RETRY_AFTER_STATUSES = (429, 503)
#: The longest ``Retry-After`` taken as given (longer than any ``max_age``: the delivery
#: goes dead either way; the bound keeps the arithmetic of times in range).
MAX_RETRY_AFTER = 366 * 24 * 3600.0


@dataclass(frozen=True)
class Answer:
    """What one POST came to: the HTTP status (``None`` when nothing answered), the delay
    the receiver asked for (``Retry-After`` on 429/503, in seconds), an error without
    secrets (``timeout``, an exception type name) and how long it took."""

    status: int | None
    retry_after: float | None
    error: str | None
    duration_ms: float


class Transport(Protocol):
    """Sends one rendered notification."""

    def post(self, outgoing: Outgoing, timeout: float) -> Answer:
        """POST ``outgoing`` and wait at most ``timeout`` seconds; never raises for what the
        receiver or the network did (that is the answer's ``status``/``error``)."""
        ...


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header as seconds from ``now`` (delta-seconds or an HTTP-date; a
    date in the past is 0; at most :data:`MAX_RETRY_AFTER`); ``None`` when absent or
    unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        return None
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


class HttpTransport:
    """The real transport: one ``httpx.Client`` (close it, or use ``with``). ``now`` gives
    the time an HTTP-date ``Retry-After`` is measured from (the worker's clock)."""

    def __init__(self, now: Callable[[], datetime], client: httpx.Client | None = None) -> None:
        import httpx  # (here, not at the top: see the TYPE_CHECKING import)

        self._httpx = httpx
        self._now = now
        self._client = client or httpx.Client(follow_redirects=False, trust_env=False,
                                                headers={"User-Agent": "opsledger"})

    def post(self, outgoing: Outgoing, timeout: float) -> Answer:
        """POST ``outgoing`` (its response body is never read)."""
        started, httpx = time.perf_counter(), self._httpx
        try:
            with self._client.stream("POST", outgoing.url, content=outgoing.body,
                                     headers=dict(outgoing.headers), timeout=timeout) as reply:
                status = reply.status_code
                delay = retry_after_seconds(reply.headers.get("retry-after"), self._now()) \
                    if status in RETRY_AFTER_STATUSES else None
        except httpx.TimeoutException:
            return Answer(None, None, "timeout", _since(started))
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            # the type only: str(exc) may quote the URL
            return Answer(None, None, type(exc).__name__, _since(started))
        return Answer(status, delay, None, _since(started))

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
