"""Parts of the §7 reviews that read more than one query: policy adoptions and what they
changed, alert precision before and after each, and each incident's own timeline."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import orjson

from opsledger.domain import topics
from opsledger.domain.time import iso_utc
from opsledger.projections import audit as audit_queries
from opsledger.reports.quality import verdict_of
from opsledger.reports.review_tables import parse_time as _t
from opsledger.reports.review_tables import when
from opsledger.serialize import fmt_time
from opsledger.services.slo import Period

if TYPE_CHECKING:
    from opsledger.application import Operations
    from opsledger.results import Alert

__all__ = ["adoptions", "incident_timelines", "precision_by_policy"]

_ADOPTED = topics.action(topics.POLICY_LEDGER_ADOPTED)


def adoptions(ops: Operations, period: Period) -> list[dict[str, Any]]:
    """Policies adopted (recorded) in ``period``: when, by whom, why, from when, and what
    they changed against the policy in force just before they took effect."""
    found = []
    for row in audit_queries.actions_named(ops.sql, _ADOPTED):
        if not iso_utc(period.start) <= row["occurred_at"] < iso_utc(period.end):
            continue
        raw = row["details"] or {}
        details = dict(orjson.loads(raw) if isinstance(raw, str | bytes) else raw)
        stored = details["effective_at"]  # a time as the event's transcoder wrote it
        effective = _t(str(stored["_data_"] if isinstance(stored, dict) else stored))
        before = ops.policy_at(effective - timedelta(microseconds=1)).model_dump(mode="json")
        after = details.get("policy") or {}
        changes = {f"{section}.{key}": [before.get(section, {}).get(key), value]
                   for section, values in sorted(after.items()) if isinstance(values, dict)
                   for key, value in sorted(values.items())
                   if before.get(section, {}).get(key) != value}
        found.append({"at": fmt_time(_t(row["occurred_at"])), "by": row["actor"],
                      "effective_at": fmt_time(effective), "reason": details.get("reason"),
                      "changes": changes})
    return found


def precision_by_policy(alerts: list[Alert], period: Period,
                         adoptions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alert precision per rule in each stretch of ``period`` between the adoptions that
    took effect inside it: the same rules before and after a tuning."""
    cuts = sorted({_t(a["effective_at"]) for a in adoptions
                   if period.start < _t(a["effective_at"]) < period.end})
    edges = [period.start, *cuts, period.end]
    stretches = []
    for start, end in pairwise(edges):
        rows: dict[str, Counter[str]] = {}
        for alert in alerts:
            if start <= alert.triggered_at < end:
                rows.setdefault(alert.rule, Counter())[verdict_of(alert)] += 1
        stretches.append({"from": fmt_time(start), "to": fmt_time(end), "rules": [
            {"rule": rule, "alerts": sum(c.values()), "actionable": c["actionable"],
             "noise": c["noise"], "unjudged": c["unjudged"],
             "precision": c["actionable"] / sum(c.values())}
            for rule, c in sorted(rows.items())]})
    return stretches


def incident_timelines(ops: Operations, incidents: list[dict[str, Any]], moment: datetime,
                       end: datetime) -> list[dict[str, Any]]:
    """Each incident's own timeline up to ``moment``, before the period's ``end`` (what
    happens at the end belongs to the next period): its events and its alerts' (the
    per-minute publish figures stay in ``opsledger incident timeline``)."""
    found = []
    for incident in incidents:
        entries = []
        for entry in ops.incident_timeline(incident["id"]):
            if entry.kind == "publish_minute" or entry.at > moment or entry.at >= end:
                continue
            row = entry.to_dict(times=fmt_time)
            detail = [f"{k}: {_shown(k, v)}" for k, v in sorted(row.items())
                      if k not in ("at", "kind", "by") and k not in _TIMELINE_HIDDEN
                      and v not in (None, "") and not isinstance(v, dict | list)]
            entries.append({"at": row["at"], "what": row["kind"], "by": row.get("by"),
                            "detail": ", ".join(detail)})
        found.append({"id": incident["id"], "title": incident["title"], "entries": entries})
    return found


def _shown(key: str, value: Any) -> str:
    """A timeline detail as read: a time to the second, anything else as it is."""
    if key.endswith("_at") and isinstance(value, str):
        return when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


#: Timeline fields that repeat the incident (shown above its entries) or are ids.
_TIMELINE_HIDDEN = frozenset({"key", "tenant_id", "alert_ids", "alert_id", "title"})
