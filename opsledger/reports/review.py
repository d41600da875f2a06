"""Weekly and monthly reviews (policy §7) as data: the numbers a review meeting reads.

Weekly: error rate, p95 latency, freshness and isolation events per tenant, against the
previous week. Monthly: SLO compliance and error budget per tenant, daily series for the
charts, SLA compliance per severity, alert counts per rule, the incidents, and the
threshold-tuning evidence (policies adopted in the month).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsledger.domain import topics
from opsledger.domain.time import iso_utc
from opsledger.projections import audit as audit_queries
from opsledger.reports.quality import alert_quality
from opsledger.serialize import fmt_time
from opsledger.services.slo import Period

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["monthly_review", "weekly_review"]

_VIOLATION = topics.action(topics.TENANT_BOUNDARY_VIOLATION_CONFIRMED)
_ADOPTED = topics.action(topics.POLICY_LEDGER_ADOPTED)


def _tenants(ops: Operations, tenant_id: str | None, at: datetime) -> list[str]:
    """The tenant asked for, or every tenant registered before ``at``."""
    return [tenant_id] if tenant_id else [t.tenant_id for t in ops.tenants()
                                          if t.registered_at < at]


def _text_time(stored: str) -> str:
    """A time the audit view stores as text, in the one output format."""
    return fmt_time(datetime.fromisoformat(stored.replace("Z", "+00:00")))


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


def weekly_review(ops: Operations, week: Period, tenant_id: str | None = None
                  ) -> dict[str, Any]:
    """§7 weekly review: this week against the previous one, per tenant."""
    previous = Period(week.start - timedelta(days=7), week.start)
    return {
        "kind": "weekly", "period_start": fmt_time(week.start), "period_end": fmt_time(week.end),
        "tenants": [{"tenant": t, "this_week": _week_numbers(ops, t, week),
                     "last_week": _week_numbers(ops, t, previous)}
                    for t in _tenants(ops, tenant_id, week.end)],
    }


def _daily(ops: Operations, tenant: str, month: Period) -> list[dict[str, Any]]:
    days, day = [], month.start
    while day < month.end:
        period = Period(day, day + timedelta(days=1))
        row = ops.slo(period, tenant_id=tenant, now=period.end)[0].to_dict()
        running = ops.slo(Period(month.start, period.end), tenant_id=tenant,
                          now=period.end)[0].to_dict()
        days.append({"day": day.date().isoformat(), "operations": row["operations"],
                     "availability": row["availability"], "latency_p95_ms": row["latency_p95_ms"],
                     "freshness": row["freshness"],
                     "budget_remaining": running["error_budget"]["remaining_failures"]})
        day += timedelta(days=1)
    return days


def monthly_review(ops: Operations, month: Period, tenant_id: str | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """§7 monthly review: SLO and SLA compliance, alerts, incidents, threshold tuning —
    as it stood at the month's end (at ``now`` while the month runs), so a closed month's
    review reads the same whenever it is made, whatever was recorded since."""
    moment = min(now or month.end, month.end)
    scope: dict[str, Any] = {"tenant_id": tenant_id} if tenant_id else {"all_tenants": True}
    alerts = [a.to_dict(times=fmt_time) for a in ops.alerts(**scope, as_of=moment)
              if month.start <= a.triggered_at < month.end]
    incidents = [i.to_dict(times=fmt_time) for i in ops.incidents(**scope, as_of=moment)
                 if month.start <= i.opened_at < month.end]
    adoptions = [{"at": _text_time(a["occurred_at"]), "by": a["actor"], "details": a["details"]}
                 for a in audit_queries.actions_named(ops.sql, _ADOPTED)
                 if iso_utc(month.start) <= a["occurred_at"] < iso_utc(month.end)]
    return {
        "kind": "monthly", "period_start": fmt_time(month.start),
        "period_end": fmt_time(month.end),
        "tenants": [{"tenant": t, "slo": ops.slo(month, tenant_id=t,
                                                 now=moment)[0].to_dict(times=fmt_time),
                     "daily": _daily(ops, t, month)} for t in _tenants(ops, tenant_id, moment)],
        "sla": [s.to_dict(times=fmt_time)
                for s in ops.sla(month.start, month.end, **scope, as_of=moment)],
        "alerts_per_rule": dict(sorted(Counter(a["rule"] for a in alerts).items())),
        "alerts": alerts,
        "incidents": [{k: i.get(k) for k in ("id", "title", "tenant", "severity", "state",
                                          "cause", "opened_at", "resolved_at")}
                      for i in incidents],
        "threshold_tuning": adoptions,
        "quality": alert_quality(ops, month, tenant_id, now=moment),
    }
