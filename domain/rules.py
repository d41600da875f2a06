"""The alert rules (policy §4) as a pure engine over business time.

Facts go in through :meth:`RuleEngine.ingest`; :meth:`RuleEngine.advance` evaluates, in
``occurred_at`` order, every fact up to the watermark (the newest ``occurred_at`` seen minus
the policy's allowed lateness) and fires the deadlines due on the way. Facts of one instant
are taken together, then the rules are evaluated at that instant over sliding windows
``(t - W, t]``, so an alert carries the earliest moment its condition held. A fact older
than the watermark when it arrives is *late*: it is not evaluated (the views still count it).

The state is plain JSON (times in integer microseconds since the epoch) so the process
that runs the engine stores it beside its tracking position and resumes after a crash.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsledger.domain.alert import alert_uuid
from opsledger.domain.burn_rule import burn_conditions, note_minute
from opsledger.domain.freshness_rule import finalize_windows, note_accepted, note_visible
from opsledger.domain.policy import AlertRules, OperationsPolicy
from opsledger.domain.time import MINUTE_US, from_us, to_us

__all__ = ["Change", "RuleEngine", "from_us", "to_us"]

MINUTE = MINUTE_US
BURN_RULES = ("availability_burn_page", "availability_burn_ticket")


@dataclass(frozen=True)
class Change:
    """An alert triggered or resolved at ``at`` (microseconds)."""

    kind: str  # "triggered" | "resolved"
    tenant: str
    rule: str
    at: int
    triggered_at: int
    repository: str | None = None
    observed: float | None = None
    threshold: float | None = None
    window_start: int | None = None
    window_end: int | None = None
    reason: str | None = None


def _windowed(a: AlertRules) -> list[tuple[str, int, float]]:
    return [
        ("publish_error_rate", a.error_rate_window_minutes, a.error_rate_threshold),
        ("auth_scope_failures", a.auth_failures_window_minutes, a.auth_failures_threshold),
        ("idempotency_collision_rate", a.collision_rate_window_minutes,
         a.collision_rate_threshold),
        ("publish_latency_p95", a.latency_p95_window_minutes, a.latency_p95_threshold_ms),
    ]


def _observe(rule: str, facts: list[list[Any]], threshold: float) -> tuple[float, bool]:
    """The rule's observed value over a window's facts, and whether it exceeds the threshold.

    A fact is ``[at, ok, latency_ms, error_code, collision, repository]``.
    """
    n = len(facts)
    if rule == "publish_error_rate":
        value = sum(1 for f in facts if not f[1]) / n
    elif rule == "auth_scope_failures":
        value = float(sum(1 for f in facts if f[3] == "AUTH_POLICY_VIOLATION"))
    elif rule == "idempotency_collision_rate":
        value = sum(1 for f in facts if f[4]) / n
    else:  # nearest-rank p95, as Pumuki computes it
        latencies = sorted(f[2] for f in facts)
        value = float(latencies[max(1, math.ceil(0.95 * n)) - 1])
    return value, value > threshold


class RuleEngine:
    """Evaluates the rules for every tenant; ``state`` is JSON-ready."""

    def __init__(self, state: dict[str, Any] | None,
                 policy_at: Callable[[datetime], OperationsPolicy]) -> None:
        self.state = state or {"buffer": [], "max_publish": None, "max_visible": None,
                               "publish_wm": None, "visible_wm": None, "tenants": {}}
        self.policy_at = policy_at
        self.changes: list[Change] = []

    # ---- input ------------------------------------------------------------------------
    def _lateness(self, at: int) -> int:
        return self.policy_at(from_us(at)).alerts.allowed_lateness_seconds * 1_000_000

    def ingest(self, fact: dict[str, Any]) -> bool:
        """Queue one fact (``kind`` publish | visible | violation); False if it is late."""
        at, stream = fact["at"], "visible" if fact["kind"] == "visible" else "publish"
        watermark = self.state[f"{stream}_wm"]
        if watermark is not None and at <= watermark:
            return False
        newest = self.state[f"max_{stream}"]
        self.state[f"max_{stream}"] = at if newest is None else max(newest, at)
        if stream == "visible":
            note_visible(self._tenant(fact["tenant"]), fact)
            return True
        heapq.heappush(self.state["buffer"], [at, fact["tiebreak"], fact])
        return True

    def reclassify(self, operation_id: str, collision: bool) -> None:
        """A late-arriving earlier operation moved a batch's original: fix a queued fact."""
        for _, _, fact in self.state["buffer"]:
            if fact.get("tiebreak") == operation_id:
                fact["collision"] = collision

    def forget_tenant(self, tenant: str) -> None:
        """Drop everything held about a forgotten tenant: its windows and queued facts."""
        self.state["tenants"].pop(tenant, None)
        buffer = [entry for entry in self.state["buffer"] if entry[2].get("tenant") != tenant]
        heapq.heapify(buffer)
        self.state["buffer"] = buffer

    def _tenant(self, tenant: str) -> dict[str, Any]:
        tenants: dict[str, dict[str, Any]] = self.state["tenants"]
        return tenants.setdefault(tenant, {
            "window": [], "ref": None, "failures": [], "last_success": None, "open": {},
            "last_fact": None, "fresh": {"windows": {}, "pending": {}, "visible": {},
                                         "last_under": None},
        })

    # ---- evaluation -------------------------------------------------------------------
    def advance(self, now: int | None = None) -> list[Change]:
        """Evaluate up to the watermarks (moved to ``now - lateness`` when ``now`` is given,
        as the live clock does); returns the alert changes, in time order."""
        for stream in ("publish", "visible"):
            newest = self.state[f"max_{stream}"]
            candidates = [t - self._lateness(t) for t in (newest, now) if t is not None]
            if candidates:
                current = self.state[f"{stream}_wm"]
                self.state[f"{stream}_wm"] = max(candidates + ([current] if current else []))
        watermark = self.state["publish_wm"]
        buffer = self.state["buffer"]
        fired: tuple[int, str, str] | None = None
        while watermark is not None:
            next_fact = buffer[0][0] if buffer and buffer[0][0] <= watermark else None
            deadline = self._next_deadline()
            if deadline and deadline[0] <= watermark and (
                    next_fact is None or deadline[0] < next_fact):
                if deadline == fired:  # a deadline must change the state it was due for
                    raise RuntimeError(f"deadline {deadline} did not advance the rule state")
                fired = deadline
                self._fire(*deadline)
                continue
            if next_fact is None:
                break
            touched: set[str] = set()
            while buffer and buffer[0][0] == next_fact:
                fact = heapq.heappop(buffer)[2]
                touched.add(fact["tenant"])
                self._apply(fact)
            for tenant in sorted(touched):
                self._evaluate(tenant, next_fact)
        for tenant in sorted(self.state["tenants"]):
            self._freshness(tenant)
        changes, self.changes = self.changes, []
        return sorted(changes, key=lambda c: (c.at, c.tenant, c.rule, c.kind))

    def _apply(self, fact: dict[str, Any]) -> None:
        t = self._tenant(fact["tenant"])
        at = fact["at"]
        if fact["kind"] == "incident_resolved":
            opened = t["open"].get("tenant_boundary_violation")
            if opened is not None and str(alert_uuid(
                    fact["tenant"], "tenant_boundary_violation",
                    from_us(opened["triggered_at"]))) in fact["alert_ids"]:
                self._resolve(fact["tenant"], "tenant_boundary_violation", at,
                              "its incident was resolved")
            return
        if fact["kind"] == "violation":
            if "tenant_boundary_violation" not in t["open"]:
                self._trigger(fact["tenant"], "tenant_boundary_violation", at, None, None,
                              at, at, fact.get("repository"))
            return
        if fact.get("local_only"):
            return
        t["last_fact"] = at
        if self.policy_at(from_us(at)).alerts.burn_rate_alerts:
            note_minute(t, at, fact["ok"])
        t["window"].append([at, fact["ok"], fact["latency_ms"], fact.get("error_code"),
                            fact.get("collision", False), fact["repository"]])
        if fact["ok"]:
            if "no_successful_ingestion" in t["open"]:
                self._resolve(fact["tenant"], "no_successful_ingestion", at,
                              "a publish succeeded")
            t["ref"], t["failures"], t["last_success"] = at, [], at
            if fact.get("accepted"):
                note_accepted(t, fact, self.policy_at(from_us(at)))
        else:
            if t["ref"] is None:
                t["ref"] = at
            if len(t["failures"]) < self.policy_at(from_us(at)).alerts.min_failed_attempts:
                t["failures"].append(at)

    def _evaluate(self, tenant: str, at: int, only: str | None = None) -> None:
        t = self._tenant(tenant)
        alerts = self.policy_at(from_us(at)).alerts
        rules = _windowed(alerts)
        widest = max(w for _, w, _ in rules) * MINUTE
        t["window"] = [f for f in t["window"] if f[0] > at - widest]
        for rule, minutes, threshold in rules:
            if only is not None and rule != only:
                continue
            facts = [f for f in t["window"] if f[0] > at - minutes * MINUTE]
            if len(facts) < max(1, alerts.min_operations):
                holds, value = False, None
            else:
                value, holds = _observe(rule, facts, threshold)
            repos = {f[5] for f in facts}
            self._update(tenant, rule, at, holds, value, threshold, minutes,
                         repos.pop() if len(repos) == 1 else None)
        if only in (None, *BURN_RULES) and alerts.burn_rate_alerts:
            policy = self.policy_at(from_us(at))
            for rule, holds, burn, limit, minutes in burn_conditions(t, at, policy):
                if only is None or rule == only:
                    self._update(tenant, rule, at, holds, burn, limit, minutes, None)

    def _update(self, tenant: str, rule: str, at: int, holds: bool, value: float | None,
                threshold: float, minutes: int, repository: str | None) -> None:
        """Trigger, keep open, or start clearing one rule's alert."""
        opened = self._tenant(tenant)["open"].get(rule)
        if holds and opened is None:
            self._trigger(tenant, rule, at, value, threshold, at - minutes * MINUTE, at,
                          repository)
            self._tenant(tenant)["open"][rule]["window"] = minutes
        elif holds and opened is not None:
            opened["clear_since"] = None
            opened["window"] = minutes  # the window that holds it now
        elif opened is not None and opened["clear_since"] is None:
            opened["clear_since"] = at

    # ---- deadlines --------------------------------------------------------------------
    def _next_deadline(self) -> tuple[int, str, str] | None:
        best: tuple[int, str, str] | None = None
        for tenant, t in self.state["tenants"].items():
            for due, what in self._deadlines(t):
                if best is None or (due, tenant, what) < best:
                    best = (due, tenant, what)
        return best

    def _deadlines(self, t: dict[str, Any]) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        if t["failures"] and t["ref"] is not None and "no_successful_ingestion" not in t["open"]:
            alerts = self.policy_at(from_us(t["failures"][-1])).alerts
            if len(t["failures"]) >= alerts.min_failed_attempts:
                due = max(t["ref"] + alerts.no_success_minutes * MINUTE, t["failures"][-1])
                found.append((due, "no_successful_ingestion"))
        if t["last_fact"] is None:
            return found
        for rule, opened in sorted(t["open"].items()):
            minutes = opened.get("window")  # windowed and burn-rate rules
            if minutes is None:
                continue
            if opened["clear_since"] is None:  # the window empties: evaluate once more then
                found.append((t["last_fact"] + minutes * MINUTE, f"empty:{rule}"))
            else:
                found.append((opened["clear_since"] + minutes * MINUTE, f"resolve:{rule}"))
        return found

    def _fire(self, at: int, tenant: str, what: str) -> None:
        t = self._tenant(tenant)
        if what == "no_successful_ingestion":
            last = t["last_success"]
            self._trigger(tenant, what, at, None if last is None else (at - last) / MINUTE,
                          float(self.policy_at(from_us(at)).alerts.no_success_minutes),
                          t["ref"], at, None)
        elif what.startswith("empty:"):
            self._evaluate(tenant, at, only=what.removeprefix("empty:"))
        else:
            self._resolve(tenant, what.removeprefix("resolve:"), at)

    def _freshness(self, tenant: str) -> None:
        policy_at = self.policy_at
        for w_start, w_end, final_at, value, under, target in finalize_windows(
                self._tenant(tenant), self.state["publish_wm"], self.state["visible_wm"],
                policy_at):
            t = self._tenant(tenant)
            fresh = t["fresh"]
            opened = t["open"].get("freshness_under_target")
            if under and fresh["last_under"] and opened is None:
                self._trigger(tenant, "freshness_under_target", final_at, value, target,
                              w_start, w_end, None)
            elif not under and opened is not None:
                self._resolve(tenant, "freshness_under_target", final_at)
            fresh["last_under"] = under

    # ---- lifecycle --------------------------------------------------------------------
    def _trigger(self, tenant: str, rule: str, at: int, observed: float | None,
                 threshold: float | None, start: int | None, end: int | None,
                 repository: str | None) -> None:
        self._tenant(tenant)["open"][rule] = {"triggered_at": at, "clear_since": None}
        self.changes.append(Change("triggered", tenant, rule, at, at, repository, observed,
                                   threshold, start, end))

    def _resolve(self, tenant: str, rule: str, at: int,
                 reason: str = "clear for a full window") -> None:
        opened = self._tenant(tenant)["open"].pop(rule)
        self.changes.append(Change("resolved", tenant, rule, at, opened["triggered_at"],
                                   reason=reason))
