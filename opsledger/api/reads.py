"""Reads of one tenant under ``/v1/tenants/{tenant_id}/…`` (``read`` scope; an operator token
reads every tenant): SLO, alerts, incidents, SLA and the RCA timeline. Each takes ``as_of``,
the state as it stood then (default now) — the same facade calls as the CLI's ``--as-of``.
The audit list and the export are in :mod:`opsledger.api.reads_audit`, reads by incident id
in :mod:`opsledger.api.reads_incidents`, the operator's in :mod:`opsledger.api.reads_operator`.

Every time a query takes is RFC 3339 with an offset: a naive time is a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

import opsledger
from opsledger import Alert, Incident, Period, SlaFigures, SloReport, TimelineEntry
from opsledger.api.auth import TenantRead, engine_of
from opsledger.api.engine import Engine
from opsledger.api.wire import WireJSON, reply
from opsledger.serialize import dumps_wire

__all__ = ["AsOf", "From", "To", "clamp", "locked_stream", "period_of", "router"]

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["reads"])

AsOf = Annotated[AwareDatetime | None, Query(description="the state as it stood then (RFC 3339 "
                                                     "with an offset); default now")]
From = Annotated[AwareDatetime | None, Query(alias="from", description="from this time on")]
To = Annotated[AwareDatetime | None, Query(alias="to", description="before this time")]
Name = Annotated[str | None, Query(max_length=200)]
#: Rows read under the engine's lock at a time by a streamed answer.
STREAM_BATCH = 500


def period_of(now: datetime, month: str | None, week: str | None, day: str | None,
              rolling: str | None, start: datetime | None, end: datetime | None) -> Period:
    """The one period a query names (default: the month running at ``now``)."""
    given = [p for p in (month, week, day, rolling) if p is not None]
    if start is not None or end is not None:
        if given or start is None or end is None:
            raise opsledger.InvalidInput("give from and to together, and no other period")
        return Period.between(start, end)
    if len(given) > 1:
        raise opsledger.InvalidInput("give one of month, week, day, rolling, or from and to")
    if month is not None:
        return Period.month(month)
    if week is not None:
        return Period.week(week)
    if day is not None:
        return Period.day(day)
    if rolling is not None:
        return Period.rolling(rolling, now)
    return Period.month(f"{now:%Y-%m}")


def clamp(until: datetime | None, as_of: datetime | None) -> datetime | None:
    """The end of a range read ``as_of``: nothing that happened after then."""
    if as_of is None:
        return until
    return as_of if until is None else min(until, as_of)


def locked_stream(engine: Engine, rows: Iterator[T], batch: int = STREAM_BATCH
                  ) -> Iterator[T]:
    """``rows`` pulled ``batch`` at a time under the engine's lock (never for a whole
    stream: writes and other reads go on between batches); the source is released under
    the lock when the stream ends or the client goes away."""
    source: list[Iterator[T]] = [rows]
    try:
        while True:
            with engine.lock:
                chunk = list(islice(source[0], batch))
            if not chunk:
                return
            yield from chunk
    finally:
        with engine.lock:
            close = getattr(source[0], "close", None)
            if close is not None:
                close()
            source.clear()  # a generator behind a map is finalized here, under the lock


def json_array(items: Iterable[Any]) -> Iterator[bytes]:
    """A JSON array of typed results (by attribute name) written as the items come."""
    yield b"["
    for i, item in enumerate(items):
        yield (b"," if i else b"") + dumps_wire(item)
    yield b"]"


@router.get("/tenants/{tenant_id}/slo", response_model=list[SloReport])
def slo(
    request: Request, tenant_id: str, who: TenantRead, as_of: AsOf = None,
    month: Name = None, week: Name = None, day: Name = None, rolling: Name = None,
    start: From = None, end: To = None, repository: Name = None,
) -> WireJSON:
    """The tenant's SLOs for one period (policy §2): the tenant's total first, then each
    repository (or only ``repository``)."""
    engine = engine_of(request)
    now = as_of or engine.ops.clock.now()
    period = period_of(now, month, week, day, rolling, start, end)
    return reply(engine.run(engine.ops.slo, period, tenant_id=tenant_id,
                            repository_id=repository, now=as_of))


@router.get("/tenants/{tenant_id}/alerts", response_model=list[Alert])
def alerts(
    request: Request, tenant_id: str, who: TenantRead, as_of: AsOf = None,
    rule: Name = None, open_only: Annotated[bool, Query(alias="open")] = False,
    since: From = None, until: To = None, withdrawn: bool = False,
) -> WireJSON:
    """The tenant's alert history (triggered in ``[from, to)``; ``open``: not yet resolved;
    ``withdrawn``: with alerts late facts showed never held); with ``as_of``, as it stood
    then."""
    engine = engine_of(request)
    return reply(engine.run(engine.ops.alerts, tenant_id=tenant_id, rule=rule,
                            open_only=open_only, since=since, until=until, as_of=as_of,
                            include_withdrawn=withdrawn))


State = Annotated[str | None, Query(pattern="^(open|acknowledged|mitigating|resolved|closed)$")]


@router.get("/tenants/{tenant_id}/incidents", response_model=list[Incident])
def incidents(request: Request, tenant_id: str, who: TenantRead, as_of: AsOf = None,
              state: State = None) -> WireJSON:
    """The tenant's incidents (or those in ``state``); with ``as_of``, those that existed
    then, each as it stood."""
    engine = engine_of(request)
    return reply(engine.run(engine.ops.incidents, tenant_id=tenant_id, state=state,
                            as_of=as_of))


@router.get("/tenants/{tenant_id}/sla", response_model=list[SlaFigures])
def sla(request: Request, tenant_id: str, who: TenantRead, as_of: AsOf = None,
        month: Name = None) -> WireJSON:
    """SLA compliance per severity for incidents opened in ``month`` (default: the month
    running at ``as_of`` or now); with ``as_of``, only incidents opened before then."""
    engine = engine_of(request)
    now = as_of or engine.ops.clock.now()
    period = Period.month(month or f"{now:%Y-%m}")
    end = clamp(period.end, as_of) or period.end
    return reply(engine.run(engine.ops.sla, period.start, max(end, period.start),
                            tenant_id=tenant_id))


Kinds = Annotated[list[str] | None, Query(alias="kind", max_length=50,
                                          description="only entries of these kinds")]


@router.get("/tenants/{tenant_id}/timeline", response_model=list[TimelineEntry])
def timeline(request: Request, tenant_id: str, who: TenantRead,
             since: Annotated[AwareDatetime, Query(alias="from")],
             until: Annotated[AwareDatetime, Query(alias="to")],
             as_of: AsOf = None, kinds: Kinds = None) -> StreamingResponse:
    """The tenant's RCA timeline over ``[from, to)`` (``opsledger replay``): publish
    minutes, alerts, incident transitions and deadlines, gate, mode and policy changes,
    freshness misses, ordered by time; with ``as_of``, nothing after then. Streamed as
    read (a JSON array)."""
    engine = engine_of(request)
    if until < since:
        raise opsledger.InvalidInput("to: before from")
    end = max(since, clamp(until, as_of) or until)
    rows = engine.run(engine.ops.replay_stream, tenant_id, since, end)
    return StreamingResponse(json_array(_only(locked_stream(engine, rows), kinds)),
                             media_type="application/json")


def _only(entries: Iterator[TimelineEntry], kinds: list[str] | None
          ) -> Iterator[TimelineEntry]:
    if not kinds:
        return entries
    wanted = frozenset(kinds)
    keep: Callable[[TimelineEntry], bool] = lambda e: e.kind in wanted  # noqa: E731
    return filter(keep, entries)
