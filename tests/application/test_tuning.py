"""Threshold tuning from judged alerts (issue 17 point 3; policy §7 monthly review): the
candidates replayed over the month's stored facts, and a recommendation that removes the
noise and loses no actionable alert. Given one failure in four in a quiet window (judged
noise) and a real burst (judged actionable), the recommended setting silences the first and
keeps the second; adopted from a moment on, it judges what comes after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opsledger.domain.rules import to_us
from opsledger_test_support import saas_tenant

from opsledger import Operations, OperationsPolicy, Period
from opsledger.reports.tuning import guard_candidate, replay_alerts, tune
from opsledger.services.alert_backfill import facts_between

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
NOVEMBER = Period.month("2026-11")


def _publishes(ops: Operations, start: datetime, total: int, failed: range, key: str) -> None:
    for i in range(total):
        bad = i in failed
        ops.record_publish(
            tenant_id="acme", repository_id="web", idempotency_key=f"{key}-{i}",
            payload_hash=f"{key}-{i}".encode().hex().ljust(64, "0")[:64],
            outcome="error" if bad else "success", error_code="HTTP_STATUS" if bad else None,
            attempts=1, latency_ms=50, occurred_at=start + timedelta(seconds=10 * i))


def _day(ops: Operations, day: datetime, judge: bool = True) -> int:
    """A quiet window with one failure in four at 09:00 and a burst (8 of 20) at 11:00;
    the on-call judges the first noise and the second actionable. Returns how many
    error-rate alerts the day raised."""
    _publishes(ops, day, total=4, failed=range(1, 2), key=f"quiet-{day:%d}")
    _publishes(ops, day + timedelta(hours=2), total=20, failed=range(10, 18),
               key=f"burst-{day:%d}")
    _publishes(ops, day + timedelta(hours=3), total=1, failed=range(0), key=f"later-{day:%d}")
    ops.advance(day + timedelta(hours=4))
    raised = [a for a in ops.alerts(tenant_id="acme", rule="publish_error_rate")
              if day <= a.triggered_at < day + timedelta(days=1)]
    if judge:
        quiet, burst = raised
        ops.judge_alert(quiet.alert_id, "noise", reason="one failure in a quiet window",
                        by="ana", at=day + timedelta(hours=4))
        ops.judge_alert(burst.alert_id, "actionable", by="ana", at=day + timedelta(hours=4))
    return len(raised)


@pytest.mark.policy("7.monthly_review")
def test_the_policy_in_force_replayed_gives_exactly_the_recorded_alerts(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        _day(ops, T0, judge=False)
        facts = facts_between(ops.sql, to_us(NOVEMBER.start), to_us(NOVEMBER.end))
        replayed = replay_alerts(facts, ops.policy_at, NOVEMBER.end)
        recorded = ops.alerts(tenant_id="acme")
    assert [(a.tenant, a.rule, a.triggered_at, a.resolved_at) for a in replayed] == sorted(
        (a.tenant_id, a.rule, a.triggered_at, a.resolved_at) for a in recorded)


@pytest.mark.policy("7.monthly_review")
def test_the_recommendation_removes_the_noise_and_keeps_the_burst(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        _day(ops, T0)
        report = tune(ops, NOVEMBER)
        # adopting it from the month's end belongs to the next month: November reads the same
        ops.adopt_policy(OperationsPolicy.from_toml(report["recommendation"]["policy_toml"]),
                         by="lead", reason="tuning", effective_at=NOVEMBER.end,
                         at=NOVEMBER.end)
        assert tune(ops, NOVEMBER) == report
    assert report["noisy_rules"] == ["publish_error_rate"]
    assert report["baseline"] == report["recorded"]  # the replay is exact
    chosen = report["recommendation"]
    assert chosen is not None and chosen == report["one_change"]
    assert chosen["removed_noise"] == 1 and chosen["removed_unjudged"] == 0
    assert chosen["alerts_after"] == chosen["alerts_before"] - 1
    # every candidate shows what it would have removed and lost; the chosen one lost nothing
    by_name = {c["name"]: c for c in report["candidates"]}
    assert by_name[chosen["name"]]["lost_actionable"] == 0
    assert any(c["lost_actionable"] for c in report["candidates"])  # a ladder stopped there
    tuned = OperationsPolicy.from_toml(chosen["policy_toml"])
    assert tuned != OperationsPolicy() and tuned.slo == OperationsPolicy().slo


@pytest.mark.policy("7.monthly_review")
def test_without_judgements_nothing_is_recommended(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        _day(ops, T0, judge=False)  # linked to their SEV2 incidents: both count actionable
        report = tune(ops, NOVEMBER)
    assert report["recommendation"] is None and report["one_change"] is None


@pytest.mark.policy("7.monthly_review")
def test_an_adopted_recommendation_judges_what_comes_after_its_effective_time(
        store_url: str) -> None:
    with Operations.open(store_url) as ops:
        saas_tenant(ops, "acme", ["web"], at=T0 - timedelta(days=1))
        _day(ops, T0)
        chosen = tune(ops, NOVEMBER)["recommendation"]
        effective = T0 + timedelta(days=1)
        ops.adopt_policy(OperationsPolicy.from_toml(chosen["policy_toml"]), by="lead",
                         reason=chosen["name"], effective_at=effective, at=effective)
        raised = _day(ops, T0 + timedelta(days=2), judge=False)
        fifth = [a.triggered_at for a in ops.alerts(tenant_id="acme", rule="publish_error_rate")
                 if a.triggered_at.day == 5]
    # the quiet window of the 5th stays quiet; its burst fires
    assert raised == 1 and fifth[0] > T0 + timedelta(days=2, hours=2)


def test_a_guard_candidate_merges_with_the_guards_in_force() -> None:
    base = OperationsPolicy.from_toml(
        "[alerts]\nmin_operations_by_rule = { publish_latency_p95 = 10 }\n")
    tuned = guard_candidate("publish_error_rate", 5).policy(base)
    assert dict(tuned.alerts.min_operations_by_rule) == {"publish_error_rate": 5,
                                                         "publish_latency_p95": 10}
    assert tuned.alerts.guard("auth_scope_failures") == 0


def _two_rules(ops: Operations) -> None:
    """A day with error-rate and latency alerts of two tenants (both judged noise where the
    failures are few), so two rules have candidates."""
    for tenant in ("acme", "globex"):
        saas_tenant(ops, tenant, ["web"], at=T0 - timedelta(days=1))
    for hour in range(8):
        for tenant, offset in (("acme", 0), ("globex", 7)):
            for i in range(12):
                slow, bad = (i + hour + offset) % 5 == 0, (i * 7 + hour + offset) % 11 == 0
                ops.record_publish(
                    tenant_id=tenant, repository_id="web", idempotency_key=f"{hour}-{i}",
                    payload_hash=f"{hour:032x}{i:032x}", outcome="error" if bad else "success",
                    error_code="HTTP_STATUS" if bad else None, attempts=1,
                    latency_ms=4_000 if slow else 60,
                    occurred_at=T0 + timedelta(hours=hour, minutes=5 * i))
    ops.advance(T0 + timedelta(hours=10))
    for alert in ops.alerts(all_tenants=True):
        ops.judge_alert(alert.alert_id, "noise", reason="few failures", by="ana",
                        at=T0 + timedelta(hours=10))


def test_a_candidate_replayed_for_its_rules_alone_equals_the_whole_replay() -> None:
    from opsledger.reports.tuning import threshold_candidates, window_candidate

    with Operations.open("memory://") as ops:
        _two_rules(ops)
        base = ops.policy_at(NOVEMBER.end)
        facts = facts_between(ops.sql, to_us(NOVEMBER.start), to_us(NOVEMBER.end))
    baseline = replay_alerts(facts, lambda _t: base, NOVEMBER.end)
    assert {a.rule for a in baseline} >= {"publish_error_rate", "publish_latency_p95"}
    for rule in ("publish_error_rate", "publish_latency_p95"):
        candidates = [guard_candidate(rule, 10), window_candidate(base.alerts, rule),
                      *threshold_candidates(base, rule)]
        for candidate in candidates:
            policy = candidate.policy(base)
            whole = replay_alerts(facts, lambda _t, p=policy: p, NOVEMBER.end)
            alone = replay_alerts(facts, lambda _t, p=policy: p, NOVEMBER.end, candidate.rules)
            assert {a.rule for a in alone} <= set(candidate.rules)
            assert whole == sorted([*alone, *(a for a in baseline if a.rule != rule)],
                                   key=lambda a: (a.tenant, a.rule, a.triggered_at))


def test_rules_tuned_in_processes_side_by_side_give_what_one_process_gives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opsledger.reports import tuning

    with Operations.open("memory://") as ops:
        _two_rules(ops)
        monkeypatch.setattr(tuning.os, "cpu_count", lambda: 1)
        alone = tune(ops, NOVEMBER)
        monkeypatch.setattr(tuning.os, "cpu_count", lambda: 2)
        monkeypatch.setattr(tuning.threading, "active_count", lambda: 1)  # (xdist's threads)
        side_by_side = tune(ops, NOVEMBER)
    assert len(alone["noisy_rules"]) == 2 and alone["candidates"]
    assert side_by_side == alone
