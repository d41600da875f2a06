"""The alert rules (policy §4) at their exact boundaries, on the pure engine."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsledger.domain.rules import Change, RuleEngine, from_us, to_us

from opsledger import OperationsPolicy

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
FAR = T0 + timedelta(days=1)


def fact(seconds: float, *, ok: bool = True, latency: int = 100, code: str | None = None,
         collision: bool = False, tenant: str = "acme", n: int = 0,
         accepted: bool = False) -> dict[str, Any]:
    return {"kind": "publish", "at": to_us(T0 + timedelta(seconds=seconds)),
            "tiebreak": f"op{n:06d}", "tenant": tenant, "repository": "web",
            "idempotency_key": f"k{n}", "payload_hash": f"h{n}", "ok": ok, "latency_ms": latency,
            "error_code": code if not ok else None, "collision": collision,
            "accepted": accepted and ok, "local_only": False}


def run(facts: list[dict[str, Any]], policy: OperationsPolicy | None = None,
        until: datetime = FAR) -> list[Change]:
    chosen = policy or OperationsPolicy()
    engine = RuleEngine(None, lambda _at: chosen)
    for f in facts:
        engine.ingest(f)
    return engine.advance(to_us(until))


def triggered(changes: list[Change], rule: str) -> list[datetime]:
    return [from_us(c.at) for c in changes if c.kind == "triggered" and c.rule == rule]


@pytest.mark.policy("4.high.publish_error_rate")
def test_error_rate_of_exactly_2_percent_does_not_fire_and_above_does() -> None:
    ok = [fact(i * 5, n=i) for i in range(49)]
    at_threshold = [*ok, fact(246, ok=False, code="HTTP_STATUS", n=49)]  # 1/50 = 2%
    assert triggered(run(at_threshold), "publish_error_rate") == []
    above = [*ok[:48], fact(246, ok=False, code="HTTP_STATUS", n=49)]  # 1/49 > 2%
    assert triggered(run(above), "publish_error_rate") == [T0 + timedelta(seconds=246)]


@pytest.mark.policy("4.high.auth_scope_failures")
def test_five_auth_failures_in_10_minutes_do_not_fire_six_do() -> None:
    five = [fact(i * 100, ok=False, code="AUTH_POLICY_VIOLATION", n=i) for i in range(5)]
    assert triggered(run(five), "auth_scope_failures") == []
    six = [*five, fact(599, ok=False, code="AUTH_POLICY_VIOLATION", n=5)]
    assert triggered(run(six), "auth_scope_failures") == [T0 + timedelta(seconds=599)]
    # The first leaves the 10-minute window (t - W, t] at exactly 600 s later.
    spread = [*five, fact(600, ok=False, code="AUTH_POLICY_VIOLATION", n=5)]
    assert triggered(run(spread), "auth_scope_failures") == []


@pytest.mark.policy("4.high.idempotency_collision_rate")
def test_collision_rate_of_exactly_half_a_percent_does_not_fire() -> None:
    facts = [fact(i * 4, n=i) for i in range(199)]
    at_threshold = [*facts, fact(800, collision=True, n=199)]  # 1/200 = 0.5%
    assert triggered(run(at_threshold), "idempotency_collision_rate") == []
    above = [*facts[:198], fact(800, collision=True, n=199)]  # 1/199
    assert triggered(run(above), "idempotency_collision_rate") == [T0 + timedelta(seconds=800)]


@pytest.mark.policy("4.medium.publish_latency_p95")
def test_p95_of_exactly_3_seconds_does_not_fire_3001_ms_does() -> None:
    slow = [fact(i * 10, latency=3000, n=i) for i in range(20)]
    assert triggered(run(slow), "publish_latency_p95") == []
    slower = [fact(i * 10, latency=3000 if i < 18 else 3001, n=i) for i in range(20)]
    # At 180 s there are 19 values: sorted[ceil(0.95 * 19) - 1] = sorted[18], the 3001.
    assert triggered(run(slower), "publish_latency_p95") == [T0 + timedelta(seconds=180)]


@pytest.mark.policy("4.critical.no_successful_ingestion")
def test_no_success_fires_30_minutes_after_the_last_success() -> None:
    facts = [fact(0, n=0), fact(60, ok=False, code="NETWORK", n=1)]
    assert triggered(run(facts), "no_successful_ingestion") == [T0 + timedelta(minutes=30)]
    rescued = [*facts, fact(30 * 60 - 0.001, n=2)]  # a success 1 ms before the deadline
    assert triggered(run(rescued, until=T0 + timedelta(minutes=45)),
                     "no_successful_ingestion") == []


@pytest.mark.policy("4.critical.no_successful_ingestion")
def test_no_success_needs_an_active_tenant_and_resolves_on_the_next_success() -> None:
    quiet = [fact(0, n=0)]  # then nothing at all: not active, never alerts
    assert triggered(run(quiet), "no_successful_ingestion") == []
    late_failure = [fact(0, n=0), fact(3600, ok=False, code="TIMEOUT", n=1),
                    fact(3700, n=2)]
    changes = run(late_failure)
    assert triggered(changes, "no_successful_ingestion") == [T0 + timedelta(seconds=3600)]
    resolved = [from_us(c.at) for c in changes if c.kind == "resolved"
                and c.rule == "no_successful_ingestion"]
    assert resolved == [T0 + timedelta(seconds=3700)]


def test_the_min_failed_attempts_knob() -> None:
    policy = OperationsPolicy.from_toml("[alerts]\nmin_failed_attempts = 2\n")
    one = [fact(0, n=0), fact(60, ok=False, code="NETWORK", n=1)]
    assert triggered(run(one, policy), "no_successful_ingestion") == []
    two = [*one, fact(2400, ok=False, code="NETWORK", n=2)]
    assert triggered(run(two, policy), "no_successful_ingestion") == [T0 + timedelta(
        seconds=2400)]


@pytest.mark.policy("4.high.publish_error_rate")
def test_repeats_are_not_new_alerts_and_resolution_waits_a_clear_window() -> None:
    bad = [fact(i * 30, ok=False, code="HTTP_STATUS", n=i) for i in range(10)]
    good = [fact(300 + i * 30, n=10 + i) for i in range(30)]
    changes = run(bad + good)
    assert len(triggered(changes, "publish_error_rate")) == 1
    (resolution,) = [c for c in changes if c.kind == "resolved"]
    # The error rate first drops to 0 at 570 s (the last error, at 270 s, leaves the window
    # (t - 5 min, t] at exactly 570 s); clear for a full window: resolved at 870 s.
    assert from_us(resolution.at) == T0 + timedelta(seconds=870)


@pytest.mark.policy("4.critical.tenant_boundary_violation")
def test_a_confirmed_violation_fires_once_while_open() -> None:
    violation = {"kind": "violation", "at": to_us(T0), "tiebreak": "v1", "tenant": "acme",
                 "repository": "web"}
    again = {**violation, "at": to_us(T0 + timedelta(minutes=5)), "tiebreak": "v2"}
    changes = run([violation, again])
    assert triggered(changes, "tenant_boundary_violation") == [T0]


@pytest.mark.policy("4.medium.freshness_under_target")
def test_freshness_two_consecutive_final_windows_under_target() -> None:
    def accepted(seconds: float, n: int) -> dict[str, Any]:
        return fact(seconds, n=n, accepted=True)

    def visible(seconds: float, n: int) -> dict[str, Any]:
        return {"kind": "visible", "at": to_us(T0 + timedelta(seconds=seconds)),
                "tiebreak": f"v{n}", "tenant": "acme", "repository": "web",
                "idempotency_key": f"k{n}", "payload_hash": f"h{n}"}

    # Window 09:00 (never visible), 09:15 (never visible): final at 09:30 and 09:45.
    facts = [accepted(60, 1), accepted(960, 2), visible(7200, 99)]
    changes = run(facts)
    assert triggered(changes, "freshness_under_target") == [T0 + timedelta(minutes=45)]
    # An on-time window in between breaks the run (windows with no publish are skipped).
    facts = [accepted(60, 1), accepted(960, 2), visible(961, 2), accepted(2000, 3),
             visible(7200, 99)]
    assert triggered(run(facts), "freshness_under_target") == []


def test_a_fact_older_than_the_watermark_is_late_and_marks_its_tenant_for_a_rerun() -> None:
    # Was: "late and not evaluated". Late facts are now re-evaluated by a re-run of the
    # tenant (see test_rules_per_tenant.py); ingest still says which ones were late.
    engine = RuleEngine(None, lambda _at: OperationsPolicy())
    assert engine.ingest(fact(600, n=1))
    engine.advance()
    assert not engine.ingest(fact(299, ok=False, code="HTTP_STATUS", n=2))  # wm = 300 s
    assert engine.ingest(fact(301, ok=False, code="HTTP_STATUS", n=3))
    assert engine.pending_reruns() == ["acme"]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), batches=st.integers(1, 8))
def test_arrival_within_the_lateness_never_changes_the_alerts(seed: int, batches: int) -> None:
    rng = random.Random(seed)
    facts = [fact(i * 7 + rng.random(), ok=rng.random() > 0.1, code="HTTP_STATUS",
                  latency=rng.choice([100, 200, 4000]), collision=rng.random() < 0.01, n=i)
             for i in range(300)]
    expected = run(facts)
    jittered = sorted(facts, key=lambda f: f["at"] + rng.uniform(0, 299) * 1_000_000)
    engine = RuleEngine(None, lambda _at: OperationsPolicy())
    changes: list[Change] = []
    size = -(-len(jittered) // batches)
    for start in range(0, len(jittered), size):
        for f in jittered[start:start + size]:
            assert engine.ingest(f)
        changes += engine.advance()
    changes += engine.advance(to_us(FAR))
    assert sorted(changes, key=lambda c: (c.at, c.rule, c.kind)) == sorted(
        expected, key=lambda c: (c.at, c.rule, c.kind))


@pytest.mark.policy("2.availability")
def test_burn_rate_alerts_are_off_by_default_and_page_on_a_fast_burn() -> None:
    # 20% errors for an hour: burn = 0.2 / 0.005 = 40x over 1 h and over 5 min.
    facts = [fact(i * 30, ok=i % 5 != 0, code="HTTP_STATUS", n=i) for i in range(120)]
    assert triggered(run(facts), "availability_burn_page") == []
    enabled = OperationsPolicy.from_toml("[alerts]\nburn_rate_alerts = true\n")
    changes = run(facts, enabled)
    (page,) = [c for c in changes if c.rule == "availability_burn_page"
               and c.kind == "triggered"]
    assert page.observed is not None and page.observed > 14.4
    assert triggered(changes, "availability_burn_ticket")  # 40x > 1x over 3 d and 6 h too
