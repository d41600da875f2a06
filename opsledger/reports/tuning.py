"""Threshold tuning from the period's own false positives and negatives (policy §7 monthly
review; issue 17 point 3).

For each windowed rule that raised alerts nobody found worth having (judged noise, or
never judged nor linked to an incident), candidate settings — a low-traffic guard (at
least N operations in the window, for that rule only: 5, 10, 15, 20, 30, 50 in turn), a
higher threshold (in steps), each ladder climbed until a step loses an actionable alert or
a detection; its window doubled; the best guard with that window — are
replayed over the period's stored rule facts with the rule engine itself, each as if it
had been in force all period. The baseline is the policy in force at the period's end
replayed the same way (a tuning adopted inside the period has already removed some of the
alerts recorded before it: no candidate claims them again); each candidate is compared with
the recorded alerts the baseline also raises, and their judgements at the period's end:

* **removed**: recorded alerts with no alert of the same tenant and rule overlapping them
  under the candidate — counted apart as *noise* (judged so) and *not judged*;
* **lost**: actionable alerts removed that way (judged actionable, or linked to an
  incident) — a candidate that loses one is never recommended;
* **added**: candidate alerts no baseline alert overlaps;
* **missed days**: days under an SLO target whose matching alert the candidate removes.

The recommendation is the candidate that removes the most alerts judged noise, net of the
alerts it adds, and loses no actionable alert and no detection (among equals: the one
removing fewer unjudged alerts, which nobody called noise); the per-rule winners are also
tried together. Without judgements there is no recommendation: unjudged alerts are not
evidence of noise. For a team that changes one thing at a time, ``one_change`` is the best
single-rule candidate. Its policy (the policy in force at the period's end with the change)
is given as TOML for ``opsledger policy adopt --effective-at``.

The replay is exact: the policy in force, replayed, gives the recorded alerts (tested). A
candidate replays only the rules it changes (each rule's alerts depend on its own settings
alone; the others are the baseline's), and with several noisy rules each rule's ladders run
in a process of their own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing import get_all_start_methods, get_context
from typing import TYPE_CHECKING, Any

from opsledger.domain.policy import AlertRules, OperationsPolicy
from opsledger.domain.rule_state import WINDOWED_RULES
from opsledger.domain.rules import RuleEngine, from_us, to_us
from opsledger.reports.quality import period_tenants, under_target_days, verdict_of
from opsledger.results import Alert
from opsledger.serialize import fmt_time
from opsledger.services.alert_backfill import facts_between
from opsledger.services.slo import Period

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["MAX_RATE_THRESHOLD", "Candidate", "ReplayedAlert", "guard_candidate", "replay_alerts",
           "threshold_candidates", "tune", "window_candidate"]

#: How much history before the period the replay reads to warm each rule's state up: the
#: longest window a rule reads (the opt-in burn-rate ticket's three days).
WARMUP = timedelta(days=3)
_HOUR = 3_600_000_000
_WINDOW_FIELD = {
    "publish_error_rate": "error_rate_window_minutes",
    "auth_scope_failures": "auth_failures_window_minutes",
    "idempotency_collision_rate": "collision_rate_window_minutes",
    "publish_latency_p95": "latency_p95_window_minutes",
}
#: The guards tried, smallest first, above the rule's own: the first that loses an actionable
#: alert or a detection ends the ladder (a larger one only removes more).
_GUARDS = (5, 10, 15, 20, 30, 50)


@dataclass(frozen=True)
class ReplayedAlert:
    """An alert the replay raised: tenant, rule, [triggered, resolved) (None: still open)."""

    tenant: str
    rule: str
    triggered_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class Candidate:
    """A candidate setting: a name people read and the ``[alerts]`` changes it makes."""

    name: str
    rules: tuple[str, ...]
    changes: tuple[tuple[str, Any], ...]

    def policy(self, base: OperationsPolicy) -> OperationsPolicy:
        """``base`` with this candidate's changes to its alert rules (guards merged)."""
        update = dict(self.changes)
        if "min_operations_by_rule" in update:
            update["min_operations_by_rule"] = tuple(sorted(
                {**dict(base.alerts.min_operations_by_rule),
                 **dict(update["min_operations_by_rule"])}.items()))
        alerts = AlertRules.model_validate({**base.alerts.model_dump(), **update})
        return base.model_copy(update={"alerts": alerts})

    def merged(self, other: Candidate) -> Candidate:
        """This candidate and ``other`` (of other rules) together."""
        mine, theirs = dict(self.changes), dict(other.changes)
        guards = (*mine.pop("min_operations_by_rule", ()),
                  *theirs.pop("min_operations_by_rule", ()))
        changes = {**mine, **theirs}
        if guards:
            changes["min_operations_by_rule"] = tuple(sorted(guards))
        return Candidate(f"{self.name}; {other.name}", self.rules + other.rules,
                         tuple(sorted(changes.items())))


def guard_candidate(rule: str, guard: int, now: int = 0) -> Candidate:
    """``rule`` holds only over at least ``guard`` operations in its window (``now``: the
    guard in force)."""
    return Candidate(f"{rule}: at least {now} → {guard} operations per window", (rule,),
                     (("min_operations_by_rule", ((rule, guard),)),))


_THRESHOLD_FIELD = {
    "publish_error_rate": "error_rate_threshold",
    "auth_scope_failures": "auth_failures_threshold",
    "idempotency_collision_rate": "collision_rate_threshold",
    "publish_latency_p95": "latency_p95_threshold_ms",
}
#: A rate alert that stays quiet while more than this share of publishes fails is no alert:
#: no candidate raises a rate threshold above it.
MAX_RATE_THRESHOLD = 0.3


def threshold_candidates(policy: OperationsPolicy, rule: str) -> list[Candidate]:
    """``rule``'s threshold raised step by step: a rate 2, 5, 10 and 15 times (up to
    :data:`MAX_RATE_THRESHOLD`), a count by 5, 10 and 20, a latency by a third, two thirds
    and double — never above twice the p95 SLO target (so adopting a candidate does not
    make the next review's ladder climb on)."""
    field = _THRESHOLD_FIELD[rule]
    now = getattr(policy.alerts, field)
    if rule == "auth_scope_failures":
        values: list[float] = [now + step for step in (5, 10, 20)]
    elif rule == "publish_latency_p95":
        ceiling = 2 * policy.slo.latency_p95_target_ms
        values = [v for v in (round(now * f) for f in (4 / 3, 5 / 3, 2)) if v <= ceiling]
    else:
        values = [v for v in (round(now * f, 6) for f in (2, 5, 10, 15))
                  if v <= MAX_RATE_THRESHOLD]
    unit = " ms" if rule == "publish_latency_p95" else ""
    return [Candidate(f"{rule}: threshold {now:g} → {value:g}{unit}", (rule,),
                      ((field, value),)) for value in values]


def window_candidate(rules: AlertRules, rule: str, guard: int | None = None) -> Candidate:
    """``rule``'s window doubled (and, with ``guard``, that guard too)."""
    field, now = _WINDOW_FIELD[rule], getattr(rules, _WINDOW_FIELD[rule])
    name = f"{rule}: window {now} → {now * 2} min"
    if guard is None:
        return Candidate(name, (rule,), ((field, now * 2),))
    return Candidate(f"{name}, at least {rules.guard(rule)} → {guard} operations", (rule,),
                     tuple(sorted(((field, now * 2),
                                  ("min_operations_by_rule", ((rule, guard),))))))


def replay_alerts(facts: Sequence[dict[str, Any]],
                  policy_at: Callable[[datetime], OperationsPolicy], end: datetime,
                  rules: Sequence[str] | None = None) -> list[ReplayedAlert]:
    """The alerts the rules raise over ``facts`` (time order) under ``policy_at``, evaluated
    an hour of facts at a time as the live process would, then up to ``end`` (with
    ``rules``: only those rules' alerts, the other windowed and burn-rate rules not
    evaluated — each rule's alerts depend on its own settings alone)."""
    engine = RuleEngine(None, policy_at, evaluated=None if rules is None else frozenset(rules))
    changes, hour = [], None
    for fact in facts:
        if hour is not None and fact["at"] // _HOUR != hour:
            changes += engine.advance()
        hour = fact["at"] // _HOUR
        engine.ingest(fact)
    changes += engine.advance(now=to_us(end + timedelta(days=1)))
    ends: dict[tuple[str, str, int], int | None] = {}
    for change in changes:
        key = (change.tenant, change.rule, change.triggered_at)
        ends[key] = None if change.kind == "triggered" else change.at
    return [ReplayedAlert(tenant, rule, from_us(at), None if e is None else from_us(e))
            for (tenant, rule, at), e in sorted(ends.items())
            if rules is None or rule in rules]


def _span(alert: Alert) -> ReplayedAlert:
    return ReplayedAlert(alert.tenant_id, alert.rule, alert.triggered_at, alert.resolved_at)


def _overlapping(alert: ReplayedAlert, others: Sequence[ReplayedAlert], end: datetime) -> bool:
    """Whether an alert of ``others`` (same tenant and rule) overlaps ``alert`` in time."""
    until = alert.resolved_at or end
    return any(o.tenant == alert.tenant and o.rule == alert.rule
               and o.triggered_at <= until and (o.resolved_at or end) >= alert.triggered_at
               for o in others)


def _outcome(candidate: Candidate, would: list[ReplayedAlert], baseline: list[ReplayedAlert],
             kept: list[Alert], under_target: list[dict[str, Any]], end: datetime
             ) -> dict[str, Any]:
    removed = [a for a in kept if not _overlapping(_span(a), would, end)]
    verdicts = [verdict_of(a) for a in removed]
    added = [w for w in would if not _overlapping(w, baseline, end)]
    missed = [d for d in under_target if d["seen"] and not any(
        w.tenant == d["tenant"] and w.rule in d["rules"]
        and d["start"] <= w.triggered_at < d["end"] for w in would)]
    return {"name": candidate.name, "rules": list(candidate.rules),
            "changes": {k: dict(v) if k == "min_operations_by_rule" else v
                        for k, v in candidate.changes},
            "alerts_before": len(baseline), "alerts_after": len(would),
            "removed_noise": verdicts.count("noise"),
            "removed_unjudged": verdicts.count("unjudged"),
            "lost_actionable": verdicts.count("actionable"), "added": len(added),
            "missed_days_added": len(missed),
            "lost": [{"tenant": a.tenant_id, "rule": a.rule,
                      "triggered_at": fmt_time(a.triggered_at)}
                     for a in removed if verdict_of(a) == "actionable"]}


def _loses(outcome: dict[str, Any]) -> bool:
    """Loses an actionable alert or a detection (a stricter setting only loses more)."""
    return bool(outcome["lost_actionable"] or outcome["missed_days_added"])


def _safe(outcome: dict[str, Any]) -> bool:
    """Removes more alerts judged noise than it adds, and no actionable alert nor
    detection."""
    return (outcome["removed_noise"] > outcome["added"] and not outcome["lost_actionable"]
            and not outcome["missed_days_added"])


def _rank(outcome: dict[str, Any]) -> tuple[int, int]:
    """The most noise removed net of the alerts it adds (as likely noise as the rest);
    then fewer unjudged alerts removed (nobody said they were noise)."""
    return outcome["removed_noise"] - outcome["added"], -outcome["removed_unjudged"]


@dataclass(frozen=True)
class _Trial:
    """What every candidate is replayed and judged against (picklable: each rule's ladders
    may run in a process of their own)."""

    facts: list[dict[str, Any]]
    base: OperationsPolicy
    baseline: list[ReplayedAlert]
    kept: list[Alert]
    under_target: list[dict[str, Any]]
    period: Period
    at: datetime

    def replayed(self, policy: OperationsPolicy, rules: Sequence[str] | None = None
                 ) -> list[ReplayedAlert]:
        period = self.period
        return [a for a in replay_alerts(self.facts, lambda _t: policy, self.at, rules)
                if period.start <= a.triggered_at < period.end]

    def tried(self, candidate: Candidate) -> tuple[Candidate, dict[str, Any]]:
        # only the rules it changes are replayed: the others raise the baseline's alerts
        would = sorted([*self.replayed(candidate.policy(self.base), candidate.rules),
                        *(a for a in self.baseline if a.rule not in candidate.rules)],
                       key=lambda a: (a.tenant, a.rule, a.triggered_at))
        return candidate, _outcome(candidate, would, self.baseline, self.kept,
                                   self.under_target, self.period.end)

    def ladders(self, rule: str) -> tuple[list[tuple[Candidate, dict[str, Any]]],
                                          Candidate | None]:
        """``rule``'s candidates, tried in order (each ladder until a step loses), and the
        best of those that are safe (None: none is)."""
        base = self.base
        for_rule: list[tuple[Candidate, dict[str, Any]]] = []
        best_guard: int | None = None
        for guard in (g for g in _GUARDS if g > base.alerts.guard(rule)):
            for_rule.append(self.tried(guard_candidate(rule, guard, base.alerts.guard(rule))))
            if _loses(for_rule[-1][1]):
                break
            best_guard = guard
        for candidate in threshold_candidates(base, rule):
            for_rule.append(self.tried(candidate))
            if _loses(for_rule[-1][1]):
                break
        for_rule.append(self.tried(window_candidate(base.alerts, rule)))
        if best_guard is not None:
            for_rule.append(self.tried(window_candidate(base.alerts, rule, best_guard)))
        safe = [pair for pair in for_rule if _safe(pair[1])]
        return for_rule, max(safe, key=lambda pair: _rank(pair[1]))[0] if safe else None


def _each_rule(trial: _Trial, rules: list[str]
               ) -> list[tuple[list[tuple[Candidate, dict[str, Any]]], Candidate | None]]:
    """Each rule's ladders, in ``rules`` order: with several rules and cores, in forked
    processes side by side, else here. Forked only from a single-threaded process (a fork
    of threads may copy a lock held mid-use); the workers touch no connection and leave
    with ``os._exit``. Not spawned: a spawned worker imports the caller's ``__main__``
    again, which an embedding script without a main guard cannot survive."""
    workers = min(len(rules), os.cpu_count() or 1)
    if workers < 2 or threading.active_count() > 1 or "fork" not in get_all_start_methods():
        return [trial.ladders(rule) for rule in rules]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        return list(pool.map(trial.ladders, rules))


def tune(ops: Operations, period: Period, tenant_id: str | None = None, *,
         under_target: list[dict[str, Any]] | None = None,
         now: datetime | None = None) -> dict[str, Any]:
    """Candidates replayed over ``period`` and the recommendation (module docstring), as it
    stood at the period's end; ``under_target``: the days under an SLO target
    (:func:`~opsledger.reports.quality.under_target_days`), computed when not given."""
    at = min(now or period.end, period.end)
    scope: dict[str, Any] = {"tenant_id": tenant_id} if tenant_id else {"all_tenants": True}
    recorded = [a for a in ops.alerts(**scope, as_of=at)
                if period.start <= a.triggered_at < period.end and not a.withdrawn]
    base = ops.policy_at(at - timedelta(microseconds=1))  # one effective at the end: next
    if under_target is None:
        under_target = under_target_days(ops, period_tenants(ops, tenant_id, at), period, at,
                                         recorded)
    facts = facts_between(ops.sql, to_us(period.start - WARMUP), to_us(at), tenant_id)
    # the baseline: the policy in force at the end, as if in force all period (an adoption
    # inside the period already removed some alerts: not a candidate's to claim again)
    trial = _Trial(facts, base, [], [], under_target, period, at)
    baseline = trial.replayed(base)
    kept = [a for a in recorded if _overlapping(_span(a), baseline, period.end)]
    trial = _Trial(facts, base, baseline, kept, under_target, period, at)
    noisy = sorted({a.rule for a in kept
                    if a.rule in WINDOWED_RULES and verdict_of(a) != "actionable"})
    outcomes: list[tuple[Candidate, dict[str, Any]]] = []
    winners: list[Candidate] = []
    for for_rule, winner in _each_rule(trial, noisy):
        outcomes += for_rule
        if winner is not None:
            winners.append(winner)
    if len(winners) > 1:
        together = winners[0]
        for other in winners[1:]:
            together = together.merged(other)
        outcomes.append(trial.tried(together))
    safe = [pair for pair in outcomes if _safe(pair[1])]
    single = [pair for pair in safe if len(pair[0].rules) == 1]
    return {"period_start": fmt_time(period.start), "period_end": fmt_time(period.end),
            "recorded": len(recorded), "baseline": len(baseline), "noisy_rules": noisy,
            "candidates": [o for _, o in outcomes],
            "recommendation": _chosen(safe, base), "one_change": _chosen(single, base)}


def _chosen(safe: list[tuple[Candidate, dict[str, Any]]], base: OperationsPolicy
            ) -> dict[str, Any] | None:
    """The best of ``safe`` (the first of equals: the simplest, tried first) with the policy
    that adopts it, as TOML."""
    if not safe:
        return None
    candidate, outcome = max(safe, key=lambda pair: _rank(pair[1]))
    chosen = {key: outcome[key] for key in ("name", "changes", "removed_noise",
                                             "removed_unjudged", "alerts_before",
                                             "alerts_after")}
    return {**chosen, "policy_toml": candidate.policy(base).to_toml()}
