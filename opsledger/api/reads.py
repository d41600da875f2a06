"""Reads (``read`` scope; an operator token reads every tenant): each takes ``as_of``, the
state as it stood then (default now)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

import opsledger
from opsledger import Period, SloReport
from opsledger.api.auth import TenantRead, engine_of
from opsledger.api.wire import WireJSON, reply

__all__ = ["period_of", "router"]

router = APIRouter(prefix="/v1", tags=["reads"])

AsOf = Annotated[datetime | None, Query(description="the state as it stood then (RFC 3339 "
                                              "with an offset); default now")]


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


@router.get("/tenants/{tenant_id}/slo", response_model=list[SloReport])
def slo(
    request: Request, tenant_id: str, who: TenantRead, as_of: AsOf = None,
    month: str | None = None, week: str | None = None, day: str | None = None,
    rolling: str | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    repository: str | None = None,
) -> WireJSON:
    """The tenant's SLOs for one period (policy §2): the tenant's total first, then each
    repository (or only ``repository``)."""
    engine = engine_of(request)
    now = as_of or engine.ops.clock.now()
    period = period_of(now, month, week, day, rolling, start, end)
    return reply(engine.run(engine.ops.slo, period, tenant_id=tenant_id,
                            repository_id=repository, now=as_of))
