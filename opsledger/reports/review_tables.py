"""A review's summary cards and tables, as text cells people read: met / not met in words,
times to the second in UTC, ratios as percentages, each incident linked to its timeline.

A table is a :class:`Table`; a cell is text, or a :class:`Link` (the page renders it as a
link in HTML and markdown alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Link", "Table", "cards", "cell", "parse_time", "tables", "when"]


@dataclass(frozen=True)
class Link:
    """A cell that links to a section of the page (``href`` is ``#<anchor>``)."""

    text: str
    href: str


@dataclass(frozen=True)
class Table:
    """A titled table; ``anchor`` names its section for links; ``note`` says how to read
    it (shown above it)."""

    name: str
    header: list[str]
    rows: list[list[Any]]
    anchor: str | None = None
    note: str | None = None


def parse_time(text: str) -> datetime:
    """A time as the results write it (``…Z``), tz-aware."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def when(value: Any) -> str:
    """A stored time to the second, UTC (``2026-11-03 07:03:03Z``)."""
    if not value:
        return "-"
    return parse_time(str(value)).strftime("%Y-%m-%d %H:%M:%SZ")


def _met(value: Any) -> str:
    return "-" if value is None else ("met" if value else "not met")


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _minutes(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value:.0%}"


def cell(value: Any) -> Any:
    """One cell as shown: links kept, booleans as met / not met, floats to 4 places."""
    if isinstance(value, Link):
        return value
    if isinstance(value, bool):
        return _met(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def anchor(incident_id: str) -> str:
    """The section id of an incident's timeline (only an id's letters, digits and dashes:
    safe in HTML and markdown alike)."""
    return "incident-" + "".join(c for c in str(incident_id) if c.isalnum() or c == "-")[:64]


def cards(review: dict[str, Any]) -> list[dict[str, str]]:
    """The summary first: per tenant, each SLO's value against its target, met or not."""
    found: list[dict[str, str]] = []
    for t in review.get("tenants", []):
        slo = t["slo"]
        for name, value, target, met in (
                ("availability", slo["availability"], slo["availability_target"],
                 slo["availability_met"]),
                ("p95 latency (ms)", slo["latency_p95_ms"], slo["latency_p95_target_ms"],
                 slo["latency_met"]),
                ("freshness", slo["freshness"], slo["freshness_target"], slo["freshness_met"]),
                ("integrity", slo["unresolved_critical_isolation_incidents"], 0,
                 slo["integrity_met"])):
            found.append({"tenant": str(t["tenant"]), "name": name,
                          "value": str(cell(value)), "target": str(cell(target)),
                          "met": _met(met),
                          "state": "none" if met is None else ("met" if met else "missed")})
    return found


def tables(review: dict[str, Any]) -> list[Table]:
    """Every table of the review, in reading order."""
    found: list[Table] = []
    if review["kind"] == "weekly":
        found.append(Table("This week against last week", [
            "tenant", "week", "operations", "error rate", "p95 ms", "freshness",
            "blocked crossings", "confirmed violations"],
            [[t["tenant"], w.replace("_", " "),
              *[t[w][k] for k in ("operations", "error_rate", "latency_p95_ms", "freshness",
                                  "isolation_blocked", "confirmed_violations")]]
             for t in review["tenants"] for w in ("this_week", "last_week")]))
    found.append(Table("SLO compliance", [
        "tenant", "availability", "target", "p95 ms", "target", "freshness", "target",
        "integrity", "error budget left"],
        [[t["tenant"], t["slo"]["availability"], _met(t["slo"]["availability_met"]),
          t["slo"]["latency_p95_ms"], _met(t["slo"]["latency_met"]), t["slo"]["freshness"],
          _met(t["slo"]["freshness_met"]), _met(t["slo"]["integrity_met"]),
          _percent(t["slo"]["error_budget_remaining"])] for t in review["tenants"]]))
    found.append(Table("SLA compliance", [
        "severity", "incidents", "deadlines met", "MTTA min", "mitigation min", "MTTR min",
        "SEV1 status cadence"],
        [[s["severity"], s["incidents"],
          ", ".join(f"{k} {v['met']}/{v['met'] + v['missed']}"
                    for k, v in s["deadlines"].items()),
          _minutes(s["mtta_minutes"]), _minutes(s["time_to_mitigation_minutes"]),
          _minutes(s["mttr_minutes"]),
          "-" if s["status_cadence_kept"] is None else
          ("kept" if s["status_cadence_kept"] else "not kept")] for s in review["sla"]]))
    found.append(Table("Alerts per rule", ["rule", "alerts"],
                       [[k, v] for k, v in review["alerts_per_rule"].items()]))
    found.append(Table("Alerts", [
        "triggered", "tenant", "rule", "level", "observed", "threshold", "resolved",
        "judgement"],
        [[when(a["triggered_at"]), a["tenant"], a["rule"], a["level"], _number(a["observed"]),
          _number(a["threshold"]), when(a.get("resolved_at")), _judgement(a)]
         for a in review["alerts"]]))
    found.append(Table("Incidents", [
        "id", "title", "tenant", "severity", "state", "cause", "opened", "resolved"],
        [[Link(i["id"], "#" + anchor(i["id"])), i.get("title") or "-",
          i["tenant"] or "(platform)", i["severity"], i["state"], i["cause"],
          when(i["opened_at"]), when(i.get("resolved_at"))] for i in review["incidents"]],
        note="Each id links to the incident's timeline below."))
    found += _quality(review.get("quality"))
    if review["kind"] == "monthly":
        found += _tuning(review)
    found += _what_if(review.get("what_if"))
    found += [Table(f"Incident {t['id']}: {t['title']}", ["at", "what", "by", "detail"],
                    [[when(e["at"]), e["what"], e["by"] or "-", e["detail"] or "-"]
                     for e in t["entries"]], anchor=anchor(t["id"]))
              for t in review.get("incident_timelines", [])]
    return found


def _quality(quality: dict[str, Any] | None) -> list[Table]:
    """Detection quality (``alerts quality``): per tenant and rule, and what was missed."""
    if not quality:
        return []
    return [
        Table("Detection quality per rule", [
            "tenant", "rule", "alerts", "actionable", "noise", "not judged", "precision",
            "missed", "time to detect (median s)"],
            [[r["tenant"], r["rule"], r["alerts"], r["actionable"], r["noise"], r["unjudged"],
              _percent(r["precision"]), r["missed"], _number(r["time_to_detect_median_s"])]
             for r in quality["rules"]],
            note="Precision: actionable / all alerts (an alert that opened or was linked to "
                 "an incident is actionable unless judged noise)."),
        Table("Missed detections", ["tenant", "rule", "what", "when", "incident"],
              [[m["tenant"] or "(platform)", m["rule"], m["kind"], when(m["at"]),
                m["incident_id"] or "-"] for m in quality["missed"]]),
    ]


def _tuning(review: dict[str, Any]) -> list[Table]:
    """Threshold tuning: adoptions, precision around them, candidates, recommendation."""
    found = [Table("Threshold tuning: policies adopted this month", [
        "recorded", "by", "in force from", "reason", "changes"],
        [[when(a["at"]), a["by"], when(a["effective_at"]), a["reason"] or "-",
          "; ".join(f"{k}: {_value(old)} → {_value(new)}"
                    for k, (old, new) in a["changes"].items()) or "-"]
         for a in review.get("threshold_tuning", [])])]
    stretches = review.get("precision_by_policy", [])
    found.append(Table("Alert precision per rule, before and after each adoption", [
        "from", "to", "rule", "alerts", "actionable", "noise", "not judged", "precision"],
        [[when(s["from"]), when(s["to"]), r["rule"], r["alerts"], r["actionable"], r["noise"],
          r["unjudged"], _percent(r["precision"])] for s in stretches for r in s["rules"]]))
    tuning = review.get("tuning") or {}
    found.append(Table("Threshold tuning: candidates replayed over the month", [
        "candidate", "alerts before → after", "noise removed", "not judged removed",
        "actionable lost", "added", "days under target missed"],
        [[c["name"], f"{c['alerts_before']} → {c['alerts_after']}", c["removed_noise"],
          c["removed_unjudged"], c["lost_actionable"], c["added"], c["missed_days_added"]]
         for c in tuning.get("candidates", [])],
        note=f"Each candidate replayed over the month's facts with the rule engine, as if in "
             f"force all month, against the policy in force at the month's end replayed the "
             f"same way ({tuning.get('baseline', 0)} alerts of the {tuning.get('recorded', 0)} "
             f"recorded) and the judgements of those alerts."))
    rows = []
    for label, key in (("recommended", "recommendation"), ("one change at a time",
                                                           "one_change")):
        chosen = tuning.get(key)
        rows.append([label, chosen["name"], f"{chosen['alerts_before']} → "
                     f"{chosen['alerts_after']}", chosen["removed_noise"],
                     chosen["removed_unjudged"]] if chosen else [
            label, "none: no candidate removes more alerts judged noise than it adds without "
                   "losing an actionable alert or a detection", "-", "-", "-"])
    found.append(Table("Threshold tuning: recommendation", [
        "choice", "candidate", "alerts before → after", "noise removed", "not judged removed"],
        rows,
        note="The recommended policy is written as tuned-policy.toml in the folder of this "
             "page (the JSON review carries it as policy_toml). Adopt it with: opsledger "
             "policy adopt <that folder>/tuned-policy.toml --effective-at <when> --by <you> "
             "--reason <why>. Each candidate names the setting in force → the one tried."))
    return found


def _value(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, list) and len(v) == 2 for v in value):
        return "{" + ", ".join(f"{k} = {v}" for k, v in value) + "}"
    return "-" if value is None else str(value)


def _judgement(alert: dict[str, Any]) -> str:
    """An alert's judgement: the operator's verdict (and why), else actionable when it is
    linked to an incident, else not judged."""
    verdict = alert.get("verdict")
    if verdict is not None:
        reason = alert.get("verdict_reason")
        return f"{verdict} ({reason})" if reason else str(verdict)
    return "actionable (incident)" if alert.get("incident_id") else "not judged"


def _what_if(what_if: dict[str, Any] | None) -> list[Table]:
    """The candidate thresholds of ``--what-if`` replayed over the month: per rule, and the
    alerts each side alone raised."""
    if not what_if:
        return []
    return [
        Table("What-if: candidate thresholds, per rule", ["rule", "fired", "would fire", "same"],
              [[rule, r["fired"], r["would_fire"], r["same"]]
               for rule, r in what_if["rules"].items()]),
        Table("What-if: alerts the candidate would not raise (removed)",
              ["tenant", "rule", "triggered"],
              [[tenant, rule, when(at)] for tenant, rule, at in what_if.get("only_recorded", [])]),
        Table("What-if: alerts only the candidate raises (added)",
              ["tenant", "rule", "triggered"],
              [[tenant, rule, when(at)] for tenant, rule, at in what_if.get("only_candidate", [])]),
    ]
