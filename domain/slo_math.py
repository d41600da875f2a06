"""The service-objective arithmetic (policy §2), once, as pure functions.

The views count, the services report and the alert rules judge; all of them take these
rules from here so one number never has two definitions:

* :func:`nearest_rank` / :func:`nearest_rank_sorted`: the nearest-rank percentile
  (``sorted[ceil(q * n) - 1]``), computed in binary floating point exactly as Pumuki's
  JavaScript does (``Math.ceil(0.95 * n)``), so the two agree on every n;
* :func:`freshness_due_us`: when an accepted publish must be visible downstream;
* :func:`availability_counts`, :func:`burn_rate` and :func:`error_budget`: the
  availability error budget and its burn rates (SRE workbook);
* :func:`counts_against_integrity` and :func:`integrity_met`: the integrity objective
  (no unresolved critical tenant-isolation incident).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import MINUTE_US

__all__ = [
    "BURN_WINDOWS",
    "ErrorBudget",
    "availability_counts",
    "burn_rate",
    "counts_against_integrity",
    "error_budget",
    "freshness_due_us",
    "integrity_met",
    "nearest_rank",
    "nearest_rank_sorted",
    "rank",
]

#: The windows the error budget's burn rates are reported over (name -> width).
BURN_WINDOWS = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "3d": timedelta(days=3)}
#: The burn window the budget's exhaustion is projected from, and its width in hours.
_PROJECT_FROM, _PROJECT_HOURS = "6h", 6


def rank(n: int, quantile: float) -> int:
    """The 1-based nearest rank of ``quantile`` among ``n`` values (``n`` > 0)."""
    return max(1, math.ceil(quantile * n))


def nearest_rank_sorted(values: Sequence[float], quantile: float) -> float | None:
    """The nearest-rank ``quantile`` of ascending ``values``; None if there are none."""
    if not values:
        return None
    return values[rank(len(values), quantile) - 1]


def nearest_rank(histogram: Sequence[tuple[int, int]], quantile: float) -> int | None:
    """The nearest-rank ``quantile`` over an ascending ``(value, count)`` histogram;
    None if it is empty."""
    total = sum(n for _, n in histogram)
    if total == 0:
        return None
    wanted = rank(total, quantile)
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= wanted:
            return value
    return histogram[-1][0]


def freshness_due_us(accepted_us: int, bound_minutes: int) -> int:
    """When a publish accepted at ``accepted_us`` (microseconds since the epoch) must be
    visible downstream: the freshness bound of the policy in force at acceptance later."""
    return accepted_us + bound_minutes * MINUTE_US


def availability_counts(operations: int, errors: int, client_rejections: int,
                        policy: OperationsPolicy) -> tuple[int, int]:
    """(operations, failures) the availability objective counts: client-side rejections
    drop out of both when the policy says so."""
    excluded = client_rejections if policy.slo.availability_excludes_client_rejections else 0
    return operations - excluded, errors - excluded


def burn_rate(failures: int, operations: int, policy: OperationsPolicy) -> float | None:
    """Error rate over the error budget (1 - availability target); None without
    operations or without a budget."""
    budget = 1 - policy.slo.availability_target
    if operations == 0 or budget <= 0:
        return None
    return (failures / operations) / budget


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """The availability error budget over a period, as it stood at ``as_of``."""

    allowed_failures: float
    failures: int
    remaining_failures: float
    remaining_ratio: float | None
    #: Burn rate per :data:`BURN_WINDOWS` name (None: no operations in the window).
    burn_rates: Mapping[str, float | None]
    projected_exhaustion_at: datetime | None


def error_budget(operations: int, failures: int, windows: Mapping[str, tuple[int, int]],
                 as_of: datetime, policy: OperationsPolicy) -> ErrorBudget:
    """The budget of ``operations`` with ``failures`` in the period, with the burn rates
    of ``windows`` (name -> (operations, failures) over the window ending at ``as_of``).

    Exhaustion: now if nothing remains; else, while the last six hours burn faster than
    the budget allows, when the remainder runs out at that pace; else None.
    """
    budget_rate = 1 - policy.slo.availability_target
    allowed = budget_rate * operations
    remaining = allowed - failures
    exhaustion: datetime | None = None
    ops6, bad6 = windows[_PROJECT_FROM]
    if remaining <= 0 and operations:
        exhaustion = as_of
    elif ops6 and bad6 / ops6 > budget_rate:
        future_ops = remaining / (bad6 / ops6 - budget_rate)
        exhaustion = as_of + timedelta(hours=future_ops / (ops6 / _PROJECT_HOURS))
    return ErrorBudget(
        allowed_failures=allowed, failures=failures, remaining_failures=remaining,
        remaining_ratio=None if allowed == 0 else remaining / allowed,
        burn_rates={name: burn_rate(bad, ops, policy) for name, (ops, bad) in windows.items()},
        projected_exhaustion_at=exhaustion,
    )


def counts_against_integrity(severity: str, cause: str) -> bool:
    """Whether an incident counts against the integrity objective: a critical (SEV1)
    tenant-isolation breach."""
    return severity == "SEV1" and cause == "tenant_isolation_breach"


def integrity_met(unresolved_critical: int, policy: OperationsPolicy) -> bool:
    """The integrity objective: at most the policy's number of unresolved critical
    tenant-isolation incidents (zero by default)."""
    return unresolved_critical <= policy.slo.integrity_max_unresolved_critical
