"""The policy model: defaults are the policy's numbers; bad files say key, value and why."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from opsledger import InvalidPolicy, OperationsPolicy


@pytest.mark.policy("2.availability")
@pytest.mark.policy("2.latency")
@pytest.mark.policy("2.freshness")
@pytest.mark.policy("2.integrity")
def test_service_objective_defaults_are_the_policy_numbers() -> None:
    slo = OperationsPolicy().slo
    assert (slo.availability_target, slo.latency_p95_target_ms) == (0.995, 3000)
    assert (slo.freshness_target, slo.freshness_bound_minutes) == (0.95, 15)
    assert slo.integrity_max_unresolved_critical == 0


@pytest.mark.policy("3.SEV1.ack")
@pytest.mark.policy("3.SEV1.mitigation")
@pytest.mark.policy("3.SEV1.status_updates")
@pytest.mark.policy("3.SEV1.rca")
@pytest.mark.policy("3.SEV2.ack")
@pytest.mark.policy("3.SEV2.mitigation")
@pytest.mark.policy("3.SEV2.rca")
@pytest.mark.policy("3.SEV3.ack")
def test_response_defaults_are_the_policy_numbers() -> None:
    r = OperationsPolicy().response
    assert (r.sev1_ack_minutes, r.sev1_mitigation_minutes, r.sev1_status_update_minutes) == (
        15, 60, 30)
    assert r.sev1_rca_business_days == 5
    assert (r.sev2_ack_minutes, r.sev2_mitigation_minutes, r.sev2_rca_business_days) == (
        60, 240, 10)
    assert r.sev3_ack_business_days == 1


@pytest.mark.policy("4.critical.no_successful_ingestion")
@pytest.mark.policy("4.high.publish_error_rate")
@pytest.mark.policy("4.high.auth_scope_failures")
@pytest.mark.policy("4.high.idempotency_collision_rate")
@pytest.mark.policy("4.medium.publish_latency_p95")
@pytest.mark.policy("4.medium.freshness_under_target")
def test_alert_defaults_are_the_policy_numbers() -> None:
    a = OperationsPolicy().alerts
    assert a.no_success_minutes == 30
    assert (a.error_rate_threshold, a.error_rate_window_minutes) == (0.02, 5)
    assert (a.auth_failures_threshold, a.auth_failures_window_minutes) == (5, 10)
    assert (a.collision_rate_threshold, a.collision_rate_window_minutes) == (0.005, 15)
    assert (a.latency_p95_threshold_ms, a.latency_p95_window_minutes) == (3000, 15)
    assert a.freshness_consecutive_windows == 2


@pytest.mark.policy("5.retention_privacy")
@pytest.mark.policy("7.owners")
def test_retention_and_owner_defaults() -> None:
    p = OperationsPolicy()
    assert (p.retention.audit_days, p.retention.metrics_days, p.retention.contracts_days) == (
        90, 365, 30)
    assert p.ownership.primary_owner == "platform/backend maintainers"
    assert p.ownership.secondary_owner == "release operator on duty"


def test_toml_round_trip(tmp_path: Path) -> None:
    tuned = OperationsPolicy.from_toml(
        '[alerts]\nerror_rate_threshold = 0.03\n[calendar]\ntimezone = "Europe/Madrid"\n'
        'holidays = [2026-12-25]\n'
    )
    assert tuned.alerts.error_rate_threshold == 0.03
    assert tuned.calendar.holidays == (date(2026, 12, 25),)
    path = tmp_path / "policy.toml"
    path.write_text(tuned.to_toml())
    assert OperationsPolicy.from_toml(path) == tuned


def test_an_invalid_value_names_the_key_the_value_and_why() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        OperationsPolicy.from_toml("[slo]\navailability_target = 1.5\n")
    message = str(caught.value)
    assert "slo.availability_target" in message and "1.5" in message
    assert "less than or equal to 1" in message
    assert caught.value.problems[0][:2] == ("slo.availability_target", 1.5)


def test_an_unknown_key_and_a_bad_zone_are_refused() -> None:
    with pytest.raises(InvalidPolicy, match=r"alerts\.error_rate_treshold"):
        OperationsPolicy.from_toml("[alerts]\nerror_rate_treshold = 0.1\n")
    with pytest.raises(InvalidPolicy, match="Mars/Olympus"):
        OperationsPolicy.from_toml('[calendar]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(InvalidPolicy, match="not valid TOML"):
        OperationsPolicy.from_toml("[slo\n")


def test_the_policy_is_frozen() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        OperationsPolicy().slo.availability_target = 0.9  # type: ignore[misc]
