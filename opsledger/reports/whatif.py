"""Threshold tuning by what-if replay (policy §7 monthly review): the period's facts
evaluated again, in a scratch store, under candidate thresholds; which alerts would have
fired against those that did, and how much earlier or later each incident would have been
detected."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.domain import topics
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import iso_utc
from opsledger.reports.verify import copy_events

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["what_if"]

#: Outputs of the rules and decisions of people are not facts to re-evaluate.
_NOT_FACTS = (topics.ALERT_PREFIX, topics.INCIDENT_PREFIX, topics.POLICY_LEDGER_PREFIX)


def _in(rows: list[dict[str, Any]], start: str, end: str) -> list[dict[str, Any]]:
    return [r for r in rows if start <= r["triggered_at"] < end]


def _key(alert: dict[str, Any]) -> tuple[str, str, str]:
    return alert["tenant"], alert["rule"], alert["triggered_at"]


def what_if(ops: Operations, candidate: OperationsPolicy, start: datetime, end: datetime,
            batch: int = 1000) -> dict[str, Any]:
    """Compare the recorded alerts of ``[start, end)`` with those ``candidate`` would give."""
    from opsledger.application import Operations as Ops

    ops.evaluate_alerts()
    actual = _in([a.to_dict() for a in ops.alerts(all_tenants=True)], iso_utc(start),
                 iso_utc(end))
    with Ops.open("memory://", policy=candidate) as scratch:
        copy_events(ops, scratch, batch=batch, skip=_NOT_FACTS)
        scratch.advance_by_event_time()
        would = _in([a.to_dict() for a in scratch.alerts(all_tenants=True)], iso_utc(start),
                    iso_utc(end))
    did, would_keys = {_key(a) for a in actual}, {_key(a) for a in would}
    rules = sorted({a["rule"] for a in actual + would})
    per_rule = {
        rule: {"fired": sum(1 for a in actual if a["rule"] == rule),
               "would_fire": sum(1 for a in would if a["rule"] == rule),
               "same": sum(1 for k in did & would_keys if k[1] == rule)}
        for rule in rules
    }
    detections = []
    for alert in actual:
        twins = [w for w in would if (w["tenant"], w["rule"]) == (alert["tenant"], alert["rule"])
                 and w["triggered_at"] <= (alert["resolved_at"] or "9999")
                 and (w["resolved_at"] or "9999") >= alert["triggered_at"]]
        first = min((w["triggered_at"] for w in twins), default=None)
        delta = None if first is None else (
            datetime.fromisoformat(first.replace("Z", "+00:00"))
            - datetime.fromisoformat(alert["triggered_at"].replace("Z", "+00:00"))
        ).total_seconds()
        detections.append({"tenant": alert["tenant"], "rule": alert["rule"],
                           "triggered_at": alert["triggered_at"], "would_trigger_at": first,
                           "earlier_by_s": None if delta is None else -delta})
    return {"period_start": iso_utc(start), "period_end": iso_utc(end), "rules": per_rule,
            "identical": did == would_keys, "detections": detections,
            "only_recorded": sorted(map(list, did - would_keys)),
            "only_candidate": sorted(map(list, would_keys - did)),
            "counts": dict(Counter(a["rule"] for a in would))}
