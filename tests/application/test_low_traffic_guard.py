"""The low-traffic guard (issue 17 point 3): ``alerts.min_operations`` — the least number of
operations a window needs before a rate rule may fire. The policy's literal rule has no
guard and stays the default, so one failure among four publishes in a quiet five minutes is
25 % > 2 %, a high alert; with a guard of 10 that window stays quiet, and a real error burst
still fires. The guard also replays in the what-if."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opsledger_test_support import saas_tenant

from opsledger import Operations, OperationsPolicy
from opsledger.reports.whatif import what_if

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
GUARDED = OperationsPolicy.from_toml("[alerts]\nmin_operations = 10\n")


def _publishes(ops: Operations, start: datetime, total: int, failed: range, key: str) -> None:
    """``total`` publishes of tenant acme, 10 s apart from ``start``, those numbered in
    ``failed`` failed (the first and the last succeed: no ``no_successful_ingestion``)."""
    for i in range(total):
        failed_now = i in failed
        ops.record_publish(
            tenant_id="acme", repository_id="web", idempotency_key=f"{key}-{i}",
            payload_hash=f"{key}-{i}".encode().hex().ljust(64, "0")[:64],
            outcome="error" if failed_now else "success",
            error_code="HTTP_STATUS" if failed_now else None, attempts=1, latency_ms=50,
            occurred_at=start + timedelta(seconds=10 * i))


def _month(ops: Operations) -> list[tuple[str, datetime]]:
    """One failure in four in a quiet window at 09:00 (the second, at 09:00:10); a burst at
    11:00 (8 of 20, from the eleventh, at 11:01:40)."""
    saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
    _publishes(ops, T0, total=4, failed=range(1, 2), key="quiet")
    _publishes(ops, T0 + timedelta(hours=2), total=20, failed=range(10, 18), key="burst")
    # a later success: the event time moves past the burst (the what-if's replay judges
    # facts up to the newest event time less the allowed lateness, as a live store would)
    _publishes(ops, T0 + timedelta(hours=3), total=1, failed=range(0), key="later")
    ops.advance(T0 + timedelta(hours=4))
    return [(a.rule, a.triggered_at)
            for a in ops.alerts(tenant_id="acme", rule="publish_error_rate")]


@pytest.mark.policy("4.high.publish_error_rate")
def test_without_a_guard_one_failure_in_four_fires_as_the_policy_reads(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        fired = _month(ops)
    assert fired == [("publish_error_rate", T0 + timedelta(seconds=10)),
                     ("publish_error_rate", T0 + timedelta(hours=2, seconds=100))]


@pytest.mark.policy("4.high.publish_error_rate")
@pytest.mark.policy("7.monthly_review")
def test_a_guarded_rule_stops_firing_on_the_quiet_window_and_still_fires_on_a_burst(
        store_url: str) -> None:
    with Operations.open(store_url, policy=GUARDED) as ops:
        fired = _month(ops)
        (burst,) = ops.alerts(tenant_id="acme", rule="publish_error_rate")
    # the burst's window holds 11 operations at its first failure: above the guard, it fires
    assert fired == [("publish_error_rate", T0 + timedelta(hours=2, seconds=100))]
    assert burst.observed == pytest.approx(1 / 11) and burst.threshold == 0.02


@pytest.mark.policy("7.monthly_review")
def test_the_what_if_replays_the_guard_over_the_recorded_month(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        _month(ops)
        report = what_if(ops, GUARDED, T0 - timedelta(hours=1), T0 + timedelta(hours=5))
    rule = report["rules"]["publish_error_rate"]
    assert (rule["fired"], rule["would_fire"]) == (2, 1)
    removed = [at for _, r, at in report["only_recorded"] if r == "publish_error_rate"]
    assert removed == ["2026-11-03T09:00:10.000000Z"]  # the quiet window, and only it
