"""The freshness rule's windows (policy §4 medium: freshness under target for two
consecutive windows), as pure functions over a tenant's JSON state.

Accepted publishes fall into fixed windows (default 15 minutes) by acceptance time. A
window is final once every publish in it is past its visibility deadline — its end plus
the freshness bound — *and* both streams have reached that point: the publish stream's
watermark its end (all its acceptances are known), the visibility stream's watermark its
final time (every visibility that could make one fresh is known). So importing the
snapshots before or after the audit gives the same windows. Empty windows are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import MINUTE_US, from_us

__all__ = ["finalize_windows", "note_accepted", "note_visible"]

MINUTE = MINUTE_US
_KEEP_UNMATCHED = 120 * MINUTE  # a visibility whose publish never shows up is dropped


def _key(fact: dict[str, Any]) -> str:
    return f"{fact['repository']}/{fact['idempotency_key']}/{fact['payload_hash']}"


def note_accepted(tenant: dict[str, Any], fact: dict[str, Any],
                  policy: OperationsPolicy) -> None:
    """An accepted publish (first success of its payload) at ``fact['at']``."""
    fresh = tenant["fresh"]
    key = _key(fact)
    if key in fresh["pending"]:
        return  # an earlier success of the same payload was accepted already
    at = fact["at"]
    width = policy.alerts.freshness_window_minutes * MINUTE
    window = str(at - at % width)
    due = at + policy.slo.freshness_bound_minutes * MINUTE
    visible = fresh["visible"].get(key)
    on_time = visible is not None and visible <= due
    fresh["pending"][key] = [at, window, on_time, due]
    counts = fresh["windows"].setdefault(window, [0, 0, width])
    counts[0] += 1
    counts[1] += int(on_time)


def note_visible(tenant: dict[str, Any], fact: dict[str, Any]) -> None:
    """A payload seen downstream at ``fact['at']`` (any arrival order)."""
    fresh = tenant["fresh"]
    key = _key(fact)
    at = fact["at"]
    known = fresh["visible"].get(key)
    if known is None or at < known:
        fresh["visible"][key] = at
    pending = fresh["pending"].get(key)
    if pending is not None and not pending[2] and at <= pending[3]:
        pending[2] = True
        fresh["windows"][pending[1]][1] += 1


def finalize_windows(
    tenant: dict[str, Any],
    publish_wm: int | None,
    visible_wm: int | None,
    policy_at: Callable[[datetime], OperationsPolicy],
) -> Iterator[tuple[int, int, int, float, bool, float]]:
    """Close every window both watermarks have passed, oldest first:
    yields (start, end, final_at, freshness, under_target, target)."""
    if publish_wm is None or visible_wm is None:
        return
    fresh = tenant["fresh"]
    for window in sorted(fresh["windows"], key=int):
        start = int(window)
        accepted, on_time, width = fresh["windows"][window]
        policy = policy_at(from_us(start))
        end = start + width
        final_at = end + policy.slo.freshness_bound_minutes * MINUTE
        if end > publish_wm or final_at > visible_wm:
            break
        del fresh["windows"][window]
        for key in [k for k, p in fresh["pending"].items() if p[1] == window]:
            del fresh["pending"][key]
            fresh["visible"].pop(key, None)
        value = on_time / accepted
        target = policy.slo.freshness_target
        yield start, end, final_at, value, value < target, target
    horizon = min(publish_wm, visible_wm) - _KEEP_UNMATCHED
    for key in [k for k, v in fresh["visible"].items()
                if v < horizon and k not in fresh["pending"]]:
        del fresh["visible"][key]
