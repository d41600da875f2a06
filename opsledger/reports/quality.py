"""Detection quality per rule and tenant (issue 17 point 2; policy §7 threshold tuning): how
many of a rule's alerts were worth having, what it missed, and how long it took to see.

For a period, as it stood at the period's end (as the monthly review):

* **precision**: actionable alerts / all alerts. An alert is *actionable* when an operator
  judged it so, or — unjudged — when it opened or was linked to an incident; *noise* when
  judged noise; else *unjudged* (counted in the denominator: an alert nobody looked at is
  not evidence either way).
* **time to detect** of each actionable alert: from the start of the window that breached
  to when the alert was raised — its trigger, or when it was found for one that late facts
  revealed (median and worst, seconds): a rule's window length plus any lateness.
* **missed detections**: an incident opened by hand with no alert of a rule matching its
  cause, for its tenant, in the ``lookback`` before it (the rule its cause points to first
  missed it); and a day whose SLO fell under target with no alert of the matching rule that
  day (availability: ``publish_error_rate`` / ``no_successful_ingestion``; p95 latency:
  ``publish_latency_p95``; freshness: ``freshness_under_target``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING, Any

from opsledger.domain.bounds import DEFAULT_TIME_BOUNDS
from opsledger.serialize import fmt_time
from opsledger.services.slo import Period

if TYPE_CHECKING:
    from opsledger.application import Operations
    from opsledger.results import Alert, Incident, SloReport

__all__ = ["CAUSE_RULES", "DaySlo", "alert_quality", "days_of", "period_tenants",
           "under_target_days", "verdict_of"]

#: An incident's cause -> the rules that should have seen it (the first is charged a miss).
CAUSE_RULES: dict[str, tuple[str, ...]] = {
    "tenant_isolation_breach": ("tenant_boundary_violation",),
    "ingestion_outage": ("no_successful_ingestion", "publish_error_rate",
                         "availability_burn_page"),
    "partial_publish_failures": ("publish_error_rate", "availability_burn_page",
                                 "availability_burn_ticket"),
    "degraded_ingestion": ("publish_error_rate", "auth_scope_failures",
                           "idempotency_collision_rate", "freshness_under_target"),
    "latency": ("publish_latency_p95",),
    "data_corruption_risk": ("idempotency_collision_rate",),
}
#: A daily SLO under target -> the rules any one of whose alerts that day counts as seen.
_SLO_RULES = (
    ("availability_met", ("publish_error_rate", "no_successful_ingestion",
                          "availability_burn_page", "availability_burn_ticket")),
    ("latency_met", ("publish_latency_p95",)),
    ("freshness_met", ("freshness_under_target",)),
)


def verdict_of(alert: Alert) -> str:
    """``actionable`` (judged so, or unjudged and linked to an incident), ``noise`` or
    ``unjudged``."""
    if alert.verdict is not None:
        return str(alert.verdict)
    return "actionable" if alert.incident_id else "unjudged"


def _missed_incidents(alerts: list[Alert], incidents: list[Incident],
                      lookback: timedelta) -> list[dict[str, Any]]:
    missed = []
    for incident in incidents:
        rules = CAUSE_RULES.get(incident.cause)
        if incident.alert_ids or not rules:
            continue
        seen = [a for a in alerts if a.tenant_id == incident.tenant_id and a.rule in rules
                and incident.opened_at - lookback <= a.triggered_at <= incident.opened_at]
        if not seen:
            missed.append({"tenant": incident.tenant_id, "rule": rules[0],
                           "kind": "incident opened by hand",
                           "at": fmt_time(incident.opened_at),
                           "incident_id": str(incident.incident_id), "cause": incident.cause})
    return missed


def period_tenants(ops: Operations, tenant_id: str | None, at: datetime) -> list[str]:
    """The tenant asked for, or every tenant registered before ``at`` (sorted)."""
    return [tenant_id] if tenant_id else sorted(
        t.tenant_id for t in ops.tenants() if t.registered_at < at)


def days_of(period: Period) -> Iterator[datetime]:
    """The days of ``period`` a store can hold facts on (2000..2100 UTC): a period at the
    edge of that range (``2099-W53``) reads only its days inside it."""
    day = max(period.start, DEFAULT_TIME_BOUNDS.earliest)
    while day < min(period.end, DEFAULT_TIME_BOUNDS.latest):
        yield day
        day += timedelta(days=1)


class DaySlo:
    """Each (tenant, day)'s SLO as it stood at ``at``, read once: a review reads a day for
    its charts and again for its missed detections."""

    def __init__(self, ops: Operations, at: datetime) -> None:
        self._ops, self._at = ops, at
        self._rows: dict[tuple[str, datetime], SloReport] = {}

    def __call__(self, tenant: str, day: datetime) -> SloReport:
        """The SLO of ``[day, day + 1 day)`` for ``tenant``."""
        key = (tenant, day)
        if key not in self._rows:
            end = day + timedelta(days=1)
            self._rows[key] = self._ops.slo(Period(day, end), tenant_id=tenant,
                                            now=min(end, self._at))[0]
        return self._rows[key]


def under_target_days(ops: Operations, tenants: list[str], period: Period, at: datetime,
                      alerts: list[Alert], day_slo: DaySlo | None = None
                      ) -> list[dict[str, Any]]:
    """Each (tenant, day, SLO) under its target in ``period`` as it stood at ``at``: the
    day's ``start``/``end``, the SLO (``flag``), the ``rules`` whose alert would have seen
    it, and whether one of ``alerts`` did that day (``seen``)."""
    found = []
    day_slo = day_slo or DaySlo(ops, at)
    for tenant in tenants:
        for day in days_of(period):
            end = day + timedelta(days=1)
            slo = day_slo(tenant, day)
            fired = {a.rule for a in alerts
                     if a.tenant_id == tenant and day <= a.triggered_at < end}
            for flag, rules in _SLO_RULES:
                if getattr(slo, flag) is False:
                    found.append({"tenant": tenant, "start": day, "end": end, "flag": flag,
                                  "rules": rules, "seen": bool(fired & set(rules))})
    return found


def _missed_days(under_target: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"tenant": d["tenant"], "rule": d["rules"][0],
             "kind": f"day under target ({d['flag'].removesuffix('_met')})",
             "at": fmt_time(d["start"]), "incident_id": None, "cause": None}
            for d in under_target if not d["seen"]]


def alert_quality(ops: Operations, period: Period, tenant_id: str | None = None, *,
                  lookback: timedelta = timedelta(hours=1), now: datetime | None = None,
                  under_target: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Precision, missed detections and time to detect per (tenant, rule) for alerts
    triggered in ``period``, as it stood at its end (see the module docstring);
    ``under_target``: :func:`under_target_days` when the caller has them."""
    at = min(now or period.end, period.end)
    scope: dict[str, Any] = {"tenant_id": tenant_id} if tenant_id else {"all_tenants": True}
    alerts = [a for a in ops.alerts(**scope, as_of=at)
              if period.start <= a.triggered_at < period.end]
    incidents = [i for i in ops.incidents(**scope, as_of=at)
                 if period.start <= i.opened_at < period.end]
    tenants = period_tenants(ops, tenant_id, at)
    if under_target is None:
        under_target = under_target_days(ops, tenants, period, at, alerts)
    missed = _missed_incidents(alerts, incidents, lookback) + _missed_days(under_target)
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"alerts": 0, "actionable": 0, "noise": 0, "unjudged": 0, "missed": 0,
                 "detect_s": []})
    for alert in alerts:
        row = rows[(alert.tenant_id, alert.rule)]
        verdict = verdict_of(alert)
        row["alerts"] += 1
        row[verdict] += 1
        if verdict == "actionable":
            raised = alert.found_at or alert.triggered_at
            row["detect_s"].append((raised - alert.window_start).total_seconds())
    for miss in missed:
        rows[(miss["tenant"], miss["rule"])]["missed"] += 1
    return {
        "period_start": fmt_time(period.start), "period_end": fmt_time(period.end),
        "rules": [{"tenant": tenant, "rule": rule, "alerts": r["alerts"],
                   "actionable": r["actionable"], "noise": r["noise"],
                   "unjudged": r["unjudged"],
                   "precision": r["actionable"] / r["alerts"] if r["alerts"] else None,
                   "missed": r["missed"],
                   "time_to_detect_median_s": median(r["detect_s"]) if r["detect_s"] else None,
                   "time_to_detect_max_s": max(r["detect_s"], default=None)}
                  for (tenant, rule), r in sorted(rows.items())],
        "missed": missed,
    }
