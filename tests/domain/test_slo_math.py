"""The service-objective arithmetic, once in the domain (policy §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.slo_math import (
    availability_counts,
    burn_rate,
    counts_against_integrity,
    error_budget,
    freshness_due_us,
    integrity_met,
    nearest_rank,
    nearest_rank_sorted,
)
from opsledger.domain.time import MINUTE_US

AT = datetime(2026, 11, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize("n", [1, 2, 19, 20, 21, 40, 100, 101])
def test_nearest_rank_of_a_histogram_equals_that_of_the_sorted_values(n: int) -> None:
    values = sorted((i * 7) % 13 for i in range(n))
    histogram = sorted({v: values.count(v) for v in values}.items())
    assert nearest_rank(histogram, 0.95) == nearest_rank_sorted(values, 0.95)


def test_p95_of_twenty_values_is_the_nineteenth_as_pumuki_computes_it() -> None:
    assert nearest_rank_sorted(list(range(1, 21)), 0.95) == 19
    assert nearest_rank([], 0.95) is None
    assert nearest_rank_sorted([], 0.95) is None


def test_freshness_is_due_the_policy_bound_after_acceptance() -> None:
    assert freshness_due_us(0, 15) == 15 * MINUTE_US


def test_client_rejections_leave_availability_only_when_the_policy_says_so() -> None:
    strict = OperationsPolicy()
    lenient = OperationsPolicy.model_validate(
        {"slo": {"availability_excludes_client_rejections": True}})
    assert availability_counts(100, 10, 4, strict) == (100, 10)
    assert availability_counts(100, 10, 4, lenient) == (96, 6)


def test_burn_rate_is_the_error_rate_over_the_budget() -> None:
    policy = OperationsPolicy()  # 99.5 %: a budget of 0.5 %
    assert burn_rate(1, 100, policy) == pytest.approx(2.0)
    assert burn_rate(0, 0, policy) is None


def test_budget_spent_is_exhausted_now_and_a_fast_burn_projects_its_end() -> None:
    policy = OperationsPolicy()
    spent = error_budget(1000, 10, {"1h": (10, 1), "6h": (60, 1), "3d": (1000, 10)}, AT,
                         policy)
    assert spent.remaining_failures == pytest.approx(-5)
    assert spent.projected_exhaustion_at == AT
    burning = error_budget(1000, 2, {"1h": (10, 1), "6h": (60, 6), "3d": (1000, 2)}, AT,
                           policy)
    # 3 failures left at 0.095 failures over budget per operation, 10 operations an hour.
    hours = (5 - 2) / (6 / 60 - 0.005) / 10
    assert burning.projected_exhaustion_at == AT + timedelta(hours=hours)
    assert burning.burn_rates["6h"] == pytest.approx(20.0)
    idle = error_budget(0, 0, {"1h": (0, 0), "6h": (0, 0), "3d": (0, 0)}, AT, policy)
    assert idle.remaining_ratio is None and idle.projected_exhaustion_at is None


def test_only_a_critical_isolation_breach_counts_against_integrity() -> None:
    assert counts_against_integrity("SEV1", "tenant_isolation_breach")
    assert not counts_against_integrity("SEV2", "tenant_isolation_breach")
    assert not counts_against_integrity("SEV1", "ingestion_outage")
    assert integrity_met(0, OperationsPolicy())
    assert not integrity_met(1, OperationsPolicy())
