"""SLO reports (policy §2): availability, exact p95, freshness, integrity, error budget.

A report covers a period — calendar month, ISO week, UTC day, rolling N days or an
explicit range, all at minute resolution — judged against the targets of the policy in
force at the period's end (or now, for a period still running).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opsledger.domain.bounds import DEFAULT_TIME_BOUNDS
from opsledger.domain.errors import InvalidInput
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.slo_math import (
    BURN_WINDOWS,
    availability_counts,
    error_budget,
    integrity_met,
    nearest_rank,
)
from opsledger.domain.time import iso_utc, utc
from opsledger.projections import slo_query as q
from opsledger.projections.slo import COUNTERS
from opsledger.store.sql import SqlStore

__all__ = ["BURN_WINDOWS", "Period", "daily_rows", "slo_row", "tenant_rows"]



def _minute(t: datetime) -> str:
    return iso_utc(t)[:16]


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC (tz-aware: a naive time is refused with ``NaiveDatetime``;
    an empty or reversed range with ``InvalidInput``)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start, "period start"))
        object.__setattr__(self, "end", utc(self.end, "period end"))
        if self.end <= self.start:
            raise InvalidInput("a period's end must be after its start")
        bounds = DEFAULT_TIME_BOUNDS
        if self.end <= bounds.earliest or self.start >= bounds.latest:
            raise InvalidInput(f"a period must overlap {bounds.earliest:%Y-%m-%d} to "
                               f"{bounds.latest:%Y-%m-%d} UTC, the times a store holds")

    @classmethod
    def month(cls, text: str) -> Period:
        """``2026-11``."""
        match = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if not match:
            raise InvalidInput(f"--month {text!r}: expected YYYY-MM")
        year, month = int(match[1]), int(match[2])
        try:
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        except ValueError:
            raise InvalidInput(f"--month {text!r}: expected YYYY-MM, a month from 0001-01 "
                               "to 9999-11") from None
        return cls(start, end)

    @classmethod
    def week(cls, text: str) -> Period:
        """``2026-W47`` (ISO week, Monday 00:00 UTC)."""
        match = re.fullmatch(r"(\d{4})-W(\d{2})", text)
        if not match:
            raise InvalidInput(f"--week {text!r}: expected YYYY-Www")
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError as exc:
            raise InvalidInput(f"--week {text!r}: {exc}") from None
        start = datetime.combine(monday, datetime.min.time(), tzinfo=UTC)
        try:
            return cls(start, start + timedelta(days=7))
        except OverflowError:
            raise InvalidInput(f"--week {text!r}: too late") from None

    @classmethod
    def day(cls, text: str) -> Period:
        """``2026-11-03`` (UTC day)."""
        try:
            start = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            raise InvalidInput(f"--day {text!r}: expected YYYY-MM-DD") from None
        try:
            return cls(start, start + timedelta(days=1))
        except OverflowError:
            raise InvalidInput(f"--day {text!r}: too late") from None

    @classmethod
    def rolling(cls, text: str, now: datetime) -> Period:
        """``30d``: the N days up to now."""
        match = re.fullmatch(r"(\d+)d", text)
        if not match or int(match[1]) == 0:
            raise InvalidInput(f"--rolling {text!r}: expected Nd, e.g. 30d")
        try:
            return cls(now - timedelta(days=int(match[1])), now)
        except OverflowError:
            raise InvalidInput(f"--rolling {text!r}: too far back") from None

    @classmethod
    def between(cls, start: datetime, end: datetime) -> Period:
        """An explicit range; refused if empty."""
        if end <= start:
            raise InvalidInput("the end must be after the start (--to after --from)")
        return cls(start, end)


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _budget(
    operations: int, failures: int, windows: dict[str, dict[str, int]], as_of: datetime,
    policy: OperationsPolicy,
) -> dict[str, Any]:
    """Error budget of the availability SLO and burn rates (the rule:
    :func:`opsledger.domain.slo_math.error_budget`) from the counts of each burn window."""
    burns = {name: availability_counts(c["operations"], c["errors"], c["client_rejections"],
                                       policy) for name, c in windows.items()}
    budget = error_budget(operations, failures, burns, as_of, policy)
    exhaustion = budget.projected_exhaustion_at
    return {
        "allowed_failures": budget.allowed_failures, "failures": budget.failures,
        "remaining_failures": budget.remaining_failures,
        "remaining_ratio": budget.remaining_ratio,
        **{f"burn_rate_{name}": budget.burn_rates[name] for name in BURN_WINDOWS},
        "projected_exhaustion_at": None if exhaustion is None else iso_utc(exhaustion),
    }


def _as_of(period: Period, now: datetime) -> datetime:
    return min(period.end, max(period.start, now))


def _minutes(period: Period, as_of: datetime) -> tuple[str, str]:
    """The minutes ``[start, end)`` a report at ``as_of`` sums."""
    return _minute(period.start), _minute(as_of if as_of < period.end else period.end)


def _windows(as_of: datetime) -> dict[str, tuple[str, str]]:
    """Each burn window's minutes ``[start, end)`` at ``as_of``."""
    return {name: (_minute(as_of - width), _minute(as_of))
            for name, width in BURN_WINDOWS.items()}


def slo_row(
    sql: SqlStore,
    tenant_id: str | None,
    repository_id: str | None,
    period: Period,
    now: datetime,
    policy: OperationsPolicy,
) -> dict[str, Any]:
    """One report row (``tenant_id`` None = every tenant, operator scope)."""
    as_of = _as_of(period, now)
    start, end = _minutes(period, as_of)
    return _row(
        tenant_id, repository_id, period, as_of, policy,
        q.counts(sql, tenant_id, repository_id, start, end),
        q.latency_histogram(sql, tenant_id, repository_id, start, end),
        q.freshness(sql, tenant_id, repository_id, iso_utc(period.start), iso_utc(as_of),
                    known_at=iso_utc(now)),
        q.unresolved_isolation_incidents(sql, tenant_id, iso_utc(as_of)),
        {name: q.counts(sql, tenant_id, repository_id, *window)
         for name, window in _windows(as_of).items()})


def tenant_rows(
    sql: SqlStore,
    tenant_id: str,
    period: Period,
    now: datetime,
    policy: OperationsPolicy,
) -> list[dict[str, Any]]:
    """The tenant's total row and then one per repository with facts in the period — the
    rows :func:`slo_row` gives, from one grouped pass over each view table (the total is
    the sum of its repositories' counts, freshness and histograms: each was read twice),
    all in one read transaction."""
    as_of = _as_of(period, now)
    start, end = _minutes(period, as_of)
    scopes: q.Scopes = {}
    with sql.transaction(commit=False) as cursor:
        repositories = [r for _, r in q.repositories(
            sql, tenant_id, _minute(period.start), _minute(period.end), cursor=cursor)]
        counts = q.counts_by_repository(sql, tenant_id, start, end, cursor=cursor,
                                        scopes=scopes)
        latency = q.latency_by_repository(sql, tenant_id, start, end, cursor=cursor,
                                          scopes=scopes)
        fresh = q.freshness_by_repository(sql, tenant_id, iso_utc(period.start),
                                          iso_utc(as_of), known_at=iso_utc(now), cursor=cursor)
        unresolved = q.unresolved_isolation_incidents(sql, tenant_id, iso_utc(as_of),
                                                      cursor=cursor)
        windows = {name: q.counts_by_repository(sql, tenant_id, *window, cursor=cursor,
                                                scopes=scopes)
                   for name, window in _windows(as_of).items()}
    zero = dict.fromkeys(COUNTERS, 0)

    def row(repository_id: str | None) -> dict[str, Any]:
        def total(found: dict[str, dict[str, int]]) -> dict[str, int]:
            if repository_id is not None:
                return found.get(repository_id, zero)
            return {c: sum(x[c] for x in found.values()) for c in COUNTERS}

        if repository_id is not None:
            hist = latency.get(repository_id, [])
            f = fresh.get(repository_id, _NO_FRESHNESS)
        else:
            merged: Counter[int] = Counter()
            for pairs in latency.values():
                for value, n in pairs:
                    merged[value] += n
            hist = sorted(merged.items())
            f = q.FreshnessCounts(*(sum(getattr(x, name) for x in fresh.values())
                                    for name in _FRESHNESS_FIELDS))
        return _row(tenant_id, repository_id, period, as_of, policy, total(counts), hist, f,
                    unresolved, {name: total(w) for name, w in windows.items()})

    return [row(None), *map(row, repositories)]


_FRESHNESS_FIELDS = ("accepted", "fresh", "stale", "pending", "visible_late")
_NO_FRESHNESS = q.FreshnessCounts(0, 0, 0, 0, 0)


def _row(
    tenant_id: str | None, repository_id: str | None, period: Period, as_of: datetime,
    policy: OperationsPolicy, c: dict[str, int], histogram: list[tuple[int, int]],
    f: q.FreshnessCounts, unresolved: int, windows: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """A report row from what the views gave for its scope."""
    operations, failures = availability_counts(c["operations"], c["errors"],
                                               c["client_rejections"], policy)
    successful = c["successes"]
    availability = _ratio(successful, operations)
    p95 = nearest_rank(histogram, 0.95)
    decided = f.fresh + f.stale
    freshness = _ratio(f.fresh, decided)
    slo = policy.slo
    budget = _budget(operations, failures, windows, as_of, policy)
    return {
        "tenant": tenant_id, "repository": repository_id,
        "period_start": iso_utc(period.start), "period_end": iso_utc(period.end),
        "as_of": iso_utc(as_of),
        "operations": operations, "successful": successful, "errors": c["errors"],
        "errors_by_code": {
            "AUTH_POLICY_VIOLATION": c["auth_failures"],
            "ISOLATION_VIOLATION": c["isolation_blocked"], "TIMEOUT": c["err_timeout"],
            "ABORTED": c["err_aborted"], "NETWORK": c["err_network"],
            "HTTP_STATUS": c["err_http_status"],
        },
        "client_rejections": c["client_rejections"], "collisions": c["collisions"],
        "local_only_excluded": c["local_only"],
        "availability": availability, "availability_target": slo.availability_target,
        "availability_met": None if availability is None
        else availability >= slo.availability_target,
        "latency_p95_ms": p95, "latency_p95_target_ms": slo.latency_p95_target_ms,
        "latency_met": None if p95 is None else p95 <= slo.latency_p95_target_ms,
        "accepted": f.accepted, "fresh": f.fresh, "stale": f.stale, "pending": f.pending,
        "visible_late": f.visible_late, "freshness": freshness,
        "freshness_target": slo.freshness_target,
        "freshness_met": None if freshness is None else freshness >= slo.freshness_target,
        "unresolved_critical_isolation_incidents": unresolved,
        "integrity_met": integrity_met(unresolved, policy),
        "error_budget_remaining": budget["remaining_ratio"], "error_budget": budget,
    }


def daily_rows(sql: SqlStore, tenant_id: str, period: Period, now: datetime,
               policy: OperationsPolicy) -> list[dict[str, Any]]:
    """The period's UTC days up to ``now`` (three grouped queries, not one report a day):
    each day's operations, availability, exact p95 and freshness as known at ``now``, and
    the error budget left from the period's start to the day's end — the figures of the
    monthly review's daily rows, judged by ``policy`` (the one in force at ``now``)."""
    as_of = min(period.end, max(period.start, now))
    start, end = _minute(period.start), _minute(as_of)
    counts = q.daily_counts(sql, tenant_id, None, start, end)
    latency = q.daily_latency(sql, tenant_id, None, start, end)
    fresh = q.daily_freshness(sql, tenant_id, None, iso_utc(period.start), iso_utc(as_of),
                              known_at=iso_utc(now))
    rows: list[dict[str, Any]] = []
    budget_rate = 1 - policy.slo.availability_target
    total_operations = total_failures = 0
    day = period.start
    while day < as_of:
        key = day.date().isoformat()
        c = counts.get(key)
        operations, failures = (0, 0) if c is None else availability_counts(
            c["operations"], c["errors"], c["client_rejections"], policy)
        total_operations, total_failures = total_operations + operations, \
            total_failures + failures
        f = fresh.get(key)
        rows.append({
            "day": key, "operations": operations,
            "availability": None if c is None else _ratio(c["successes"], operations),
            "latency_p95_ms": nearest_rank(latency.get(key, []), 0.95),
            "freshness": None if f is None else _ratio(f.fresh, f.fresh + f.stale),
            "budget_remaining": budget_rate * total_operations - total_failures,
        })
        day += timedelta(days=1)
    return rows
