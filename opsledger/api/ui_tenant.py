"""What the dashboard's tenant and timeline pages show (read under the engine's lock, as
:mod:`opsledger.api.ui_views`): the month's SLOs per repository, the last 24 hours per
minute from the RCA replay, the month's daily figures, alerts with observed against
threshold, incidents, and the replay itself filtered by kind."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from markupsafe import Markup

import opsledger
from opsledger import (
    Alert,
    Incident,
    Operations,
    Period,
    Principal,
    PublishMinute,
    SloReport,
    TenantState,
    TimelineEntry,
)
from opsledger.api.ui_charts import Chart, svg
from opsledger.api.ui_views import Figure, figures

__all__ = ["MAX_ENTRIES", "MAX_RANGE", "TenantPage", "TimelinePage", "summary", "tenant_page",
           "timeline_page"]

#: The longest replay range the timeline page reads, and the most entries it shows.
MAX_RANGE = timedelta(days=31)
MAX_ENTRIES = 1000
#: Entries the timeline page reads at most (to count kinds) before it stops.
MAX_READ = 20_000
#: Alerts listed on the tenant page (open ones first, then the most recent).
MAX_ALERTS = 50


@dataclass(frozen=True)
class TenantPage:
    """A tenant as it stood: its SLO figures for the month, per repository, its charts,
    alerts and incidents."""

    tenant: TenantState
    period: Period
    figures: tuple[Figure, ...]
    total: SloReport
    repositories: tuple[SloReport, ...]
    charts: tuple[Markup, ...]
    alerts: tuple[Alert, ...]
    incidents: tuple[Incident, ...]


@dataclass(frozen=True)
class TimelinePage:
    """A tenant's replay over ``[start, end)``: the entries shown (``kinds`` chosen), the
    count of each kind found, and whether the list was cut."""

    tenant: TenantState
    start: datetime
    end: datetime
    entries: tuple[TimelineEntry, ...]
    kinds: dict[str, int]
    chosen: frozenset[str]
    cut: bool


def visible_tenant(ops: Operations, who: Principal, tenant_id: str,
                   as_of: datetime | None) -> TenantState:
    """The tenant as it stood ``as_of``; another tenant's (for a tenant token) is exactly
    the unknown id's :class:`~opsledger.UnknownTenant`."""
    if who.tenant_id is not None and who.tenant_id != tenant_id:
        raise opsledger.UnknownTenant(tenant_id)
    return ops.tenant(tenant_id, as_of=as_of)


def _minute_charts(ops: Operations, tenant_id: str, moment: datetime,
                   target_ms: int) -> tuple[Markup, ...]:
    """The last 24 hours per minute: availability, p95 against its target, freshness
    misses (from the replay's publish minutes and freshness misses)."""
    start = moment - timedelta(hours=24)
    available: list[tuple[datetime, float | None]] = []
    p95: list[tuple[datetime, float | None]] = []
    misses: Counter[datetime] = Counter()
    for entry in ops.replay_stream(tenant_id, start, moment):
        if isinstance(entry, PublishMinute):
            available.append((entry.at, entry.successes / entry.operations * 100
                              if entry.operations else None))
            p95.append((entry.at, entry.latency_p95_ms))
        elif entry.kind == "freshness_missed":
            misses[entry.at.replace(second=0, microsecond=0)] += 1
    minutes = [start.replace(second=0, microsecond=0) + timedelta(minutes=m)
               for m in range(0, 24 * 60 + 1, 10)]
    stale = [(m, float(sum(misses[m + timedelta(minutes=k)] for k in range(10))))
             for m in minutes]
    return (
        svg(Chart("Availability per minute, last 24 h (%)", available, unit=" %", high=100.0)),
        svg(Chart("p95 latency per minute, last 24 h (ms)", p95, target=float(target_ms),
                  unit=" ms", low=0.0, digits=0)),
        svg(Chart("Freshness misses per 10 minutes, last 24 h", stale, low=0.0, digits=0)),
    )


def _daily_charts(ops: Operations, tenant_id: str, period: Period, moment: datetime,
                  total: SloReport) -> tuple[Markup, ...]:
    """The month's daily availability, p95, freshness and error budget burn-down."""
    days = ops.services.slo.daily(period, tenant_id=tenant_id, now=moment)
    at = [datetime.combine(d.day, datetime.min.time(), tzinfo=period.start.tzinfo)
          for d in days]

    def series(values: list[float | None]) -> list[tuple[datetime, float | None]]:
        return list(zip(at, values, strict=True))

    return (
        svg(Chart("Availability per day (%)", series(
            [None if d.availability is None else d.availability * 100 for d in days]),
            target=total.availability_target * 100, unit=" %", digits=2)),
        svg(Chart("p95 latency per day (ms)", series(
            [None if d.latency_p95_ms is None else float(d.latency_p95_ms) for d in days]),
            target=float(total.latency_p95_target_ms), unit=" ms", low=0.0, digits=0)),
        svg(Chart("Freshness per day (%)", series(
            [None if d.freshness is None else d.freshness * 100 for d in days]),
            target=total.freshness_target * 100, unit=" %", digits=2)),
        svg(Chart("Error budget remaining (failures)", series(
            [d.budget_remaining for d in days]), target=0.0, digits=0)),
    )


def tenant_page(ops: Operations, who: Principal, tenant_id: str,
                as_of: datetime | None) -> TenantPage:
    """The tenant page's data as it stood ``as_of`` (or now)."""
    tenant = visible_tenant(ops, who, tenant_id, as_of)
    moment = as_of or ops.clock.now()
    period = Period.month(f"{moment:%Y-%m}")
    rows = ops.slo(period, tenant_id=tenant_id, now=as_of)
    total = rows[0]
    alerts = ops.alerts(tenant_id=tenant_id, as_of=as_of)
    alerts.sort(key=lambda a: (a.resolved_at is not None, -a.triggered_at.timestamp()))
    incidents = ops.incidents(tenant_id=tenant_id, as_of=as_of)
    incidents.sort(key=lambda i: i.opened_at, reverse=True)
    charts = (*_minute_charts(ops, tenant_id, moment, total.latency_p95_target_ms),
              *_daily_charts(ops, tenant_id, period, moment, total))
    return TenantPage(tenant, period, figures(total), total, tuple(rows[1:]), charts,
                      tuple(alerts[:MAX_ALERTS]), tuple(incidents))


def timeline_page(ops: Operations, who: Principal, tenant_id: str, start: datetime | None,
                  end: datetime | None, kinds: frozenset[str],
                  as_of: datetime | None) -> TimelinePage:
    """The tenant's replay over ``[start, end)`` (default: the 24 hours up to ``as_of`` or
    now; never after ``as_of``), only ``kinds`` when some are chosen."""
    tenant = visible_tenant(ops, who, tenant_id, as_of)
    moment = as_of or ops.clock.now()
    until = min(end or moment, moment) if as_of is not None else (end or moment)
    since = start or until - timedelta(hours=24)
    if until < since:
        raise opsledger.InvalidInput("to: before from")
    if until - since > MAX_RANGE:
        raise opsledger.InvalidInput("from: the range is longer than 31 days")
    found: Counter[str] = Counter()
    shown: list[TimelineEntry] = []
    for entry in islice(ops.replay_stream(tenant_id, since, until), MAX_READ):
        found[entry.kind] += 1
        if (not kinds or entry.kind in kinds) and len(shown) <= MAX_ENTRIES:
            shown.append(entry)
    return TimelinePage(tenant, since, until, tuple(shown[:MAX_ENTRIES]),
                        dict(sorted(found.items())), kinds, len(shown) > MAX_ENTRIES)


def summary(entry: TimelineEntry, limit: int = 240) -> str:
    """An entry's fields other than its time and kind, as ``name=value`` text (cut)."""
    fields = {k: v for k, v in entry.to_dict().items() if k not in ("at", "kind")}
    text = ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    return text if len(text) <= limit else text[:limit] + "…"
