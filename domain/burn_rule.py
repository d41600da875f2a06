"""SRE-workbook multiwindow burn-rate alerts on the availability error budget (beyond the
policy's minimum; off unless ``alerts.burn_rate_alerts``).

Burn rate = error rate / (1 - availability target)
(:func:`~opsledger.domain.slo_math.burn_rate`). Page when both a long and a short window burn
fast (14.4x over 1 h and 5 min, or 6x over 6 h and 30 min); ticket when 1x
over 3 d and 6 h. Counts are kept per minute for three days, in the tenant's JSON state.
"""

from __future__ import annotations

from typing import Any

from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.slo_math import burn_rate
from opsledger.domain.time import MINUTE_US

__all__ = ["burn_conditions", "note_minute"]

MINUTE = MINUTE_US
_KEEP = 3 * 24 * 60 * MINUTE
#: rule -> ((burn, long window min, short window min), ...): any pair holding fires it.
_PAIRS = {
    "availability_burn_page": (("burn_page_fast", 60, 5), ("burn_page_slow", 360, 30)),
    "availability_burn_ticket": (("burn_ticket", 4320, 360),),
}


def note_minute(tenant: dict[str, Any], at: int, ok: bool) -> None:
    """Count one operation in its minute; forget minutes older than three days."""
    minutes = tenant.setdefault("minutes", {})
    key = str(at - at % MINUTE)
    counts = minutes.setdefault(key, [0, 0])
    counts[0] += 1
    counts[1] += int(not ok)
    if len(minutes) > 4400:
        for old in [k for k in minutes if int(k) <= at - _KEEP]:
            del minutes[old]


def _burn(minutes: dict[str, list[int]], at: int, width: int,
          policy: OperationsPolicy) -> float | None:
    start = at - width * MINUTE
    ops = errors = 0
    for key, (n, bad) in minutes.items():
        if start < int(key) <= at:  # whole minutes inside (at - width, at]
            ops += n
            errors += bad
    return burn_rate(errors, ops, policy)


def burn_conditions(
    tenant: dict[str, Any], at: int, policy: OperationsPolicy
) -> list[tuple[str, bool, float | None, float, int]]:
    """(rule, holds, observed long-window burn, threshold, resolution window) per rule."""
    minutes = tenant.get("minutes", {})
    results = []
    for rule, pairs in _PAIRS.items():
        holds, observed, threshold, window = False, None, 0.0, pairs[0][2]
        for knob, long_w, short_w in pairs:
            limit = float(getattr(policy.alerts, knob))
            long_burn = _burn(minutes, at, long_w, policy)
            short_burn = _burn(minutes, at, short_w, policy)
            if observed is None:
                observed, threshold = long_burn, limit
            if long_burn is not None and short_burn is not None and (
                    long_burn > limit and short_burn > limit):
                holds, observed, threshold, window = True, long_burn, limit, short_w
                break
        results.append((rule, holds, observed, threshold, window))
    return results
