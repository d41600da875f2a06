"""The alert rules (policy §4) as a pure engine over business time, per tenant.

Facts go in through :meth:`RuleEngine.ingest`; :meth:`RuleEngine.advance` evaluates each
tenant on its **own** event time: in ``occurred_at`` order, every fact of that tenant up
to its watermark (its newest ``occurred_at`` minus the policy's allowed lateness, or the
clock's ``now`` minus it when given), firing that tenant's deadlines on the way. Facts of
one instant are taken together, then the rules are evaluated at that instant over sliding
windows ``(t - W, t]``, so an alert carries the earliest moment its condition held.

A fact older than its tenant's watermark when it arrives is *late*: ``ingest`` returns
False and marks the tenant for re-evaluation; the caller then gives the tenant's stored
facts to :meth:`RuleEngine.rerun`, which evaluates the tenant again from zero to the same
watermarks and returns its whole alert history, so any arrival order ends in the same
alerts (the caller records the difference as backfilled / revised / withdrawn alerts).

The state is plain JSON (times in integer microseconds since the epoch; shape in
:mod:`opsledger.domain.rule_state`) so the process that runs the engine stores it beside
its tracking position and resumes after a crash. What the freshness rule holds until its
windows are final grows with history while a stream has no watermark; given ``fresh``
(tenant -> :class:`FreshTables`), the engine keeps it there instead of in the state.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from opsledger.domain.alert import alert_uuid
from opsledger.domain.burn_rule import burn_conditions, note_minute
from opsledger.domain.freshness_rule import (
    DictFresh,
    FreshStore,
    finalize_windows,
    note_accepted,
    note_visible,
)
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.rule_state import (
    Change,
    deadlines,
    fact_order,
    migrate,
    new_tenant,
    observe,
    windowed,
)
from opsledger.domain.time import MINUTE_US, from_us, to_us

__all__ = ["Change", "RuleEngine", "from_us", "to_us"]

MINUTE = MINUTE_US
BURN_RULES = ("availability_burn_page", "availability_burn_ticket")


class FreshTables(FreshStore, Protocol):
    """A tenant's freshness bookkeeping kept outside the JSON state."""

    def clear(self) -> None:
        """Forget everything held for the tenant (a re-run rebuilds it)."""

    def load(self, fresh: dict[str, Any]) -> None:
        """Take over a state's in-JSON bookkeeping (``windows``/``pending``/``visible``)."""


class RuleEngine:
    """Evaluates the rules for every tenant, each on its own time; ``state`` is JSON-ready
    (any earlier stored shape is migrated on load). With ``fresh``, each tenant's
    freshness bookkeeping lives in ``fresh(tenant)`` (its JSON keeps ``external``). With
    ``evaluated``, only those windowed and burn-rate rules are evaluated (a what-if replay
    of some rules' settings; the live process evaluates every rule)."""

    def __init__(self, state: dict[str, Any] | None,
                 policy_at: Callable[[datetime], OperationsPolicy],
                 fresh: Callable[[str], FreshTables] | None = None,
                 evaluated: frozenset[str] | None = None) -> None:
        self.state = migrate(state)
        self.policy_at = policy_at
        self.fresh = fresh
        self.evaluated = evaluated
        self.changes: list[Change] = []

    def _store(self, name: str, t: dict[str, Any]) -> FreshStore:
        """The tenant's freshness store; a tenant still keeping it in JSON moves it out."""
        if self.fresh is None:
            return DictFresh(t["fresh"])
        tables = self.fresh(name)
        if not t["fresh"].get("external"):
            tables.load(t["fresh"])
            t["fresh"] = {"last_under": t["fresh"]["last_under"], "external": True}
        return tables

    # ---- input ------------------------------------------------------------------------
    def _lateness(self, at: int) -> int:
        return self.policy_at(from_us(at)).alerts.allowed_lateness_seconds * 1_000_000

    def ingest(self, fact: dict[str, Any]) -> bool:
        """Queue one fact (``kind`` publish | visible | violation | incident_resolved);
        False if it is late for its tenant (the tenant is then marked for a re-run)."""
        t = self._tenant(fact["tenant"])
        at, stream = fact["at"], "visible" if fact["kind"] == "visible" else "publish"
        newest = t[f"max_{stream}"]
        t[f"max_{stream}"] = at if newest is None else max(newest, at)
        watermark = t[f"{stream}_wm"]
        if watermark is not None and at <= watermark:
            self._mark_rerun(t, stream, at)
            return False
        if not t["rerun"]:  # else the re-run reads it from the stored facts
            self._queue(fact["tenant"], t, fact)
        return True

    def _queue(self, name: str, t: dict[str, Any], fact: dict[str, Any]) -> None:
        if fact["kind"] == "visible":
            note_visible(self._store(name, t), fact)
        else:
            heapq.heappush(t["buffer"], fact_order(fact))

    def reclassify(self, tenant: str, operation_id: str, collision: bool) -> None:
        """A late-arriving earlier operation moved a batch's original: fix the queued fact,
        or re-run the tenant if that fact was evaluated already."""
        t = self._tenant(tenant)
        if t["rerun"]:
            return
        for entry in t["buffer"]:
            if entry[3].get("tiebreak") == operation_id:
                entry[3]["collision"] = collision
                return
        self._mark_rerun(t)

    @staticmethod
    def _mark_rerun(t: dict[str, Any], stream: str | None = None, at: int = 0) -> None:
        """Note the earliest late fact per stream (None: re-run from zero)."""
        if not t["rerun"]:
            t["rerun"], t["rerun_wm"] = True, t["publish_wm"]
            t["rerun_from"] = {"publish": None, "visible": None, "zero": False}
        since = t["rerun_from"]
        if stream is None:
            since["zero"] = True
        elif since[stream] is None or at < since[stream]:
            since[stream] = at

    def forget_tenant(self, tenant: str) -> None:
        """Drop everything held about a forgotten tenant: its time, windows and queue."""
        self.state["tenants"].pop(tenant, None)

    def pending_reruns(self) -> list[str]:
        """Tenants with facts behind their watermark, waiting for :meth:`rerun`."""
        return sorted(n for n, t in self.state["tenants"].items() if t["rerun"])

    def missed_until(self, tenant: str) -> int | None:
        """For a tenant waiting for a re-run: how far it had been evaluated when its first
        late fact came (a re-run's alert triggered by then was missed: it is backfilled)."""
        found: int | None = self._tenant(tenant).get("rerun_wm")
        return found

    def rerun_from(self, tenant: str) -> dict[str, Any]:
        """For a tenant waiting for a re-run: its earliest late fact per stream
        (``publish``, ``visible``; None if none) and ``zero``: no checkpoint may serve."""
        found: dict[str, Any] = self._tenant(tenant).get("rerun_from") or {
            "publish": None, "visible": None, "zero": True}
        return found

    def checkpoint(self, tenant: str) -> dict[str, Any] | None:
        """A copy of a tenant's state to re-run from later (None while it awaits a re-run).
        A freshness bookkeeping kept outside the state is not in it (``external``): the
        caller adds it before it can serve as a re-run's base."""
        t = self._tenant(tenant)
        return None if t["rerun"] else copy.deepcopy(t)

    def _tenant(self, tenant: str) -> dict[str, Any]:
        tenants: dict[str, dict[str, Any]] = self.state["tenants"]
        found = tenants.get(tenant)  # (not setdefault: a new tenant's state costs to build)
        return found if found is not None else tenants.setdefault(tenant, new_tenant())

    # ---- evaluation -------------------------------------------------------------------
    def advance(self, now: int | None = None) -> list[Change]:
        """Evaluate each tenant up to its own watermarks (moved to ``now - lateness`` when
        ``now`` is given, as the live clock does); returns the alert changes, in time
        order. Tenants waiting for a re-run only move their watermarks."""
        for name, t in sorted(self.state["tenants"].items()):
            for stream in ("publish", "visible"):
                candidates = [x - self._lateness(x) for x in (t[f"max_{stream}"], now)
                              if x is not None]
                current = t[f"{stream}_wm"]
                if current is not None:
                    candidates.append(current)
                if candidates:
                    t[f"{stream}_wm"] = max(candidates)
            if not t["rerun"]:
                self._run(name, t)
        changes, self.changes = self.changes, []
        return sorted(changes, key=lambda c: (c.at, c.tenant, c.rule, c.kind))

    def rerun(self, tenant: str, facts: Iterable[dict[str, Any]],
              base: dict[str, Any] | None = None) -> list[Change]:
        """Evaluate ``tenant`` again from ``base`` (a :meth:`checkpoint` older than every
        late fact; None: from zero) over every ``facts`` that came after it (any order),
        to the watermarks it has reached; returns the alert changes from ``base`` on, and
        leaves its state as if the facts had arrived in time order."""
        old = self._tenant(tenant)
        t = copy.deepcopy(base) if base is not None else new_tenant()
        for key in ("max_publish", "max_visible", "publish_wm", "visible_wm"):
            t[key] = old[key]
        t["rerun"], t["rerun_wm"], t["rerun_from"] = False, None, None
        if self.fresh is not None:
            if t["fresh"].get("external"):  # the tables hold today's, not the base's
                raise ValueError("a re-run base must carry its freshness bookkeeping")
            self.fresh(tenant).clear()
        for fact in sorted(facts, key=lambda f: fact_order(f)[:3]):
            self._queue(tenant, t, fact)
        self.state["tenants"][tenant] = t
        saved, self.changes = self.changes, []
        self._run(tenant, t)
        history, self.changes = self.changes, saved
        return sorted(history, key=lambda c: (c.at, c.rule, c.kind))

    def _run(self, tenant: str, t: dict[str, Any]) -> None:
        watermark = t["publish_wm"]
        buffer = t["buffer"]
        fired: tuple[int, str] | None = None
        while watermark is not None:
            next_fact = buffer[0][0] if buffer and buffer[0][0] <= watermark else None
            deadline = self._next_deadline(t)
            if deadline and deadline[0] <= watermark and (
                    next_fact is None or deadline[0] < next_fact):
                if deadline == fired:  # a deadline must change the state it was due for
                    raise RuntimeError(f"deadline {deadline} did not advance the rule state")
                fired = deadline
                self._fire(tenant, *deadline)
                continue
            if next_fact is None:
                break
            while buffer and buffer[0][0] == next_fact:
                self._apply(tenant, heapq.heappop(buffer)[3])
            self._evaluate(tenant, next_fact)
        self._freshness(tenant)

    def _apply(self, tenant: str, fact: dict[str, Any]) -> None:
        t = self._tenant(tenant)
        at = fact["at"]
        if fact["kind"] == "incident_resolved":
            opened = t["open"].get("tenant_boundary_violation")
            if opened is not None and str(alert_uuid(
                    tenant, "tenant_boundary_violation",
                    from_us(opened["triggered_at"]))) in fact["alert_ids"]:
                self._resolve(tenant, "tenant_boundary_violation", at,
                              "its incident was resolved")
            return
        if fact["kind"] == "violation":
            if "tenant_boundary_violation" not in t["open"]:
                self._trigger(tenant, "tenant_boundary_violation", at, None, None,
                              at, at, fact.get("repository"))
            return
        if fact.get("local_only"):
            return
        t["last_fact"] = at
        policy = self.policy_at(from_us(at))
        if policy.alerts.burn_rate_alerts:
            note_minute(t, at, fact["ok"])
        t["window"].append([at, fact["ok"], fact["latency_ms"], fact.get("error_code"),
                            fact.get("collision", False), fact["repository"]])
        if fact["ok"]:
            if "no_successful_ingestion" in t["open"]:
                self._resolve(tenant, "no_successful_ingestion", at, "a publish succeeded")
            t["ref"], t["failures"], t["last_success"] = at, [], at
            if fact.get("accepted"):
                note_accepted(self._store(tenant, t), fact, policy)
        else:
            if t["ref"] is None:
                t["ref"] = at
            if len(t["failures"]) < policy.alerts.min_failed_attempts:
                t["failures"].append(at)

    def _evaluate(self, tenant: str, at: int, only: str | None = None) -> None:
        t = self._tenant(tenant)
        alerts = self.policy_at(from_us(at)).alerts
        rules = windowed(alerts)
        widest = max(w for _, w, _ in rules) * MINUTE
        t["window"] = [f for f in t["window"] if f[0] > at - widest]
        chosen = self.evaluated
        for rule, minutes, threshold in rules:
            if (only is not None and rule != only) or (chosen is not None and
                                                       rule not in chosen):
                continue
            facts = [f for f in t["window"] if f[0] > at - minutes * MINUTE]
            if len(facts) < max(1, alerts.guard(rule)):
                holds, value = False, None
            else:
                value, holds = observe(rule, facts, threshold)
            repos = {f[5] for f in facts}
            self._update(tenant, rule, at, holds, value, threshold, minutes,
                         repos.pop() if len(repos) == 1 else None)
        if only in (None, *BURN_RULES) and alerts.burn_rate_alerts and (
                chosen is None or not chosen.isdisjoint(BURN_RULES)):
            policy = self.policy_at(from_us(at))
            for rule, holds, burn, limit, minutes in burn_conditions(t, at, policy):
                if (only is None or rule == only) and (chosen is None or rule in chosen):
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
    def _next_deadline(self, t: dict[str, Any]) -> tuple[int, str] | None:
        found = deadlines(t, self.policy_at)
        return min(found) if found else None

    def _fire(self, tenant: str, at: int, what: str) -> None:
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
        t = self._tenant(tenant)
        for w_start, w_end, final_at, value, under, target in finalize_windows(
                self._store(tenant, t), t["publish_wm"], t["visible_wm"], self.policy_at):
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
