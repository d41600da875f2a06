"""Weekly and monthly reviews (policy §7) as data: the numbers a review meeting reads.

Both, as the period stood at its end: SLO compliance per tenant (with daily series for the
charts), SLA compliance per severity, the alerts with their judgements, the incidents with
their timelines, and detection quality. Weekly adds error rate, p95 latency, freshness and
isolation events against the previous week; monthly adds threshold tuning — the policies
adopted, precision before and after each, and candidate settings replayed over the month
with a recommendation.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsledger.domain import topics
from opsledger.domain.time import iso_utc
from opsledger.projections import audit as audit_queries
from opsledger.reports.quality import (
    DaySlo,
    alert_quality,
    days_of,
    period_tenants,
    under_target_days,
)
from opsledger.reports.review_parts import adoptions, incident_timelines, precision_by_policy
from opsledger.reports.tuning import tune
from opsledger.serialize import fmt_time
from opsledger.services.slo import Period

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["monthly_review", "weekly_review"]

_VIOLATION = topics.action(topics.TENANT_BOUNDARY_VIOLATION_CONFIRMED)


def _week_numbers(ops: Operations, tenant: str, period: Period) -> dict[str, Any]:
    row = ops.slo(period, tenant_id=tenant, now=period.end)[0].to_dict()
    violations = [a for a in audit_queries.actions_named(ops.sql, _VIOLATION)
                  if a["tenant_id"] == tenant
                  and iso_utc(period.start) <= a["occurred_at"] < iso_utc(period.end)]
    return {
        "operations": row["operations"],
        "error_rate": None if not row["operations"] else row["errors"] / row["operations"],
        "latency_p95_ms": row["latency_p95_ms"], "freshness": row["freshness"],
        "isolation_blocked": row["errors_by_code"]["ISOLATION_VIOLATION"],
        "confirmed_violations": len(violations),
    }


def _daily(ops: Operations, tenant: str, month: Period, day_slo: DaySlo
           ) -> list[dict[str, Any]]:
    """Per day of ``month``: the day's SLOs and the error budget left of the period so far."""
    days = []
    for day in days_of(month):
        period = Period(day, day + timedelta(days=1))
        row = day_slo(tenant, day).to_dict()
        running = ops.slo(Period(month.start, period.end), tenant_id=tenant,
                          now=period.end)[0].to_dict()
        days.append({"day": day.date().isoformat(), "operations": row["operations"],
                     "availability": row["availability"], "latency_p95_ms": row["latency_p95_ms"],
                     "freshness": row["freshness"],
                     "budget_remaining": running["error_budget"]["remaining_failures"]})
    return days


def _review(ops: Operations, kind: str, period: Period, tenant_id: str | None,
            moment: datetime) -> tuple[dict[str, Any], Any, Any]:
    """What both reviews show of ``period`` as it stood at ``moment``; also the recorded
    alerts and the days under target, for the parts only one review has."""
    scope: dict[str, Any] = {"tenant_id": tenant_id} if tenant_id else {"all_tenants": True}
    tenants = period_tenants(ops, tenant_id, moment)
    recorded = [a for a in ops.alerts(**scope, as_of=moment)
                if period.start <= a.triggered_at < period.end]
    alerts = [a.to_dict(times=fmt_time) for a in recorded]
    incidents = [i.to_dict(times=fmt_time) for i in ops.incidents(**scope, as_of=moment)
                 if period.start <= i.opened_at < period.end]
    day_slo = DaySlo(ops, moment)
    under = under_target_days(ops, tenants, period, moment, recorded, day_slo)
    body = {
        "kind": kind, "period_start": fmt_time(period.start),
        "period_end": fmt_time(period.end),
        "tenants": [{"tenant": t, "slo": ops.slo(period, tenant_id=t,
                                                 now=moment)[0].to_dict(times=fmt_time),
                     "daily": _daily(ops, t, period, day_slo)} for t in tenants],
        "sla": [s.to_dict(times=fmt_time)
                for s in ops.sla(period.start, period.end, **scope, as_of=moment)],
        "alerts_per_rule": dict(sorted(Counter(a["rule"] for a in alerts).items())),
        "alerts": alerts,
        "incidents": [{k: i.get(k) for k in ("id", "title", "tenant", "severity", "state",
                                          "cause", "opened_at", "resolved_at")}
                      for i in incidents],
        "incident_timelines": incident_timelines(ops, incidents, moment, period.end),
        "quality": alert_quality(ops, period, tenant_id, now=moment, under_target=under),
    }
    return body, recorded, under


def weekly_review(ops: Operations, week: Period, tenant_id: str | None = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """§7 weekly review: the week as it stood at its end, each tenant against the previous
    week (error rate, p95 latency, freshness, isolation events)."""
    moment = min(now or week.end, week.end)
    previous = Period(week.start - timedelta(days=7), week.start)
    body, _, _ = _review(ops, "weekly", week, tenant_id, moment)
    for tenant in body["tenants"]:
        tenant["this_week"] = _week_numbers(ops, tenant["tenant"], week)
        tenant["last_week"] = _week_numbers(ops, tenant["tenant"], previous)
    return body


def monthly_review(ops: Operations, month: Period, tenant_id: str | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """§7 monthly review: SLO and SLA compliance, alerts, incidents, detection quality and
    threshold tuning — as it stood at the month's end (at ``now`` while the month runs), so
    a closed month's review reads the same whenever it is made, whatever was recorded
    since."""
    moment = min(now or month.end, month.end)
    body, recorded, under = _review(ops, "monthly", month, tenant_id, moment)
    adopted = adoptions(ops, month)
    body["threshold_tuning"] = adopted
    body["precision_by_policy"] = precision_by_policy(recorded, month, adopted)
    body["tuning"] = tune(ops, month, tenant_id, now=moment, under_target=under)
    return body
