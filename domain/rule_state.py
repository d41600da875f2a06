"""The alert engine's JSON state: its shape per tenant, the migration of the first
(store-wide) shape, the fact order and the rule observations (policy §4).

State v2 is ``{"v": 2, "tenants": {tenant: T}}``; each tenant ``T`` carries its own
event time — ``max_publish`` / ``max_visible`` (the newest fact of each stream) and
``publish_wm`` / ``visible_wm`` (how far it has been evaluated) — its queue of facts not
yet evaluated (``buffer``), its windows, and ``rerun``: facts arrived behind its watermark,
so it must be evaluated again from its stored facts (``rerun_wm``: how far it had been
evaluated then — alerts of a re-run up to there were missed, later ones were not yet due;
``rerun_from``: its earliest late fact per stream). No field is shared between tenants,
so no fact of one tenant can move the time of another. ``fresh`` holds the freshness
rule's pending acceptances, visibilities and open windows, or — in the alert process,
which keeps those in tables — only ``last_under`` and ``external: true``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsledger.domain.policy import WINDOWED_RULES, AlertRules, OperationsPolicy
from opsledger.domain.slo_math import rank
from opsledger.domain.time import MINUTE_US, from_us

__all__ = ["STATE_VERSION", "WINDOWED_RULES", "Change", "deadlines", "fact_order", "migrate",
           "new_tenant", "observe", "windowed"]

MINUTE = MINUTE_US

STATE_VERSION = 2


def new_tenant() -> dict[str, Any]:
    """An empty tenant: no time, no window, nothing open."""
    return {
        "buffer": [], "max_publish": None, "max_visible": None, "publish_wm": None,
        "visible_wm": None, "rerun": False, "rerun_wm": None,
        "rerun_from": None,
        "window": [], "ref": None, "failures": [], "last_success": None, "open": {},
        "last_fact": None, "fresh": {"windows": {}, "pending": {}, "visible": {},
                                     "last_under": None},
    }


def fact_order(fact: dict[str, Any]) -> list[Any]:
    """A heap entry whose order is total without ever comparing two dicts: time, the
    fact's tiebreak (operation id), then its canonical JSON (equal only for equal facts,
    so the dict after it is never reached by a comparison)."""
    return [fact["at"], str(fact["tiebreak"]), json.dumps(fact, sort_keys=True), fact]


def migrate(state: dict[str, Any] | None, late_tenants: Collection[str] = ()
            ) -> dict[str, Any]:
    """The v2 state for any stored state: ``None`` (never run), v2 (as is) or v1 (one
    store-wide watermark and buffer). A v1 tenant keeps the store-wide watermarks it was
    evaluated to (what is recorded stays recorded); its queued facts move to its own
    buffer; the tenants in ``late_tenants`` (facts v1 skipped as late) are marked for
    re-evaluation, so those facts are evaluated after all."""
    if not state:
        return {"v": STATE_VERSION, "tenants": {}}
    if state.get("v") == STATE_VERSION:
        return state
    tenants: dict[str, dict[str, Any]] = {}
    shared = {k: state.get(k) for k in ("max_publish", "max_visible", "publish_wm",
                                        "visible_wm")}
    names = set(state.get("tenants", {})) | set(late_tenants) | {
        entry[2]["tenant"] for entry in state.get("buffer", [])}
    for name in sorted(names):
        t = {**new_tenant(), **state.get("tenants", {}).get(name, {}), **shared}
        t["rerun"] = name in late_tenants
        t["rerun_wm"] = t["publish_wm"] if t["rerun"] else None
        tenants[name] = t
    for entry in state.get("buffer", []):
        tenants[entry[2]["tenant"]]["buffer"].append(fact_order(entry[2]))
    for t in tenants.values():
        t["buffer"].sort(key=lambda e: e[:3])
    return {"v": STATE_VERSION, "tenants": tenants}


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


def deadlines(t: dict[str, Any], policy_at: Callable[[datetime], OperationsPolicy]
              ) -> list[tuple[int, str]]:
    """A tenant's pending deadlines: (due, what) — the no-success onset, and for each open
    windowed alert when its window empties or its clear spell ends."""
    found: list[tuple[int, str]] = []
    if t["failures"] and t["ref"] is not None and "no_successful_ingestion" not in t["open"]:
        alerts = policy_at(from_us(t["failures"][-1])).alerts
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


def windowed(a: AlertRules) -> list[tuple[str, int, float]]:
    """(rule, window minutes, threshold) of the windowed rules."""
    return [
        ("publish_error_rate", a.error_rate_window_minutes, a.error_rate_threshold),
        ("auth_scope_failures", a.auth_failures_window_minutes, a.auth_failures_threshold),
        ("idempotency_collision_rate", a.collision_rate_window_minutes,
         a.collision_rate_threshold),
        ("publish_latency_p95", a.latency_p95_window_minutes, a.latency_p95_threshold_ms),
    ]


def observe(rule: str, facts: list[list[Any]], threshold: float) -> tuple[float, bool]:
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
        value = float(latencies[rank(n, 0.95) - 1])
    return value, value > threshold
