"""The delivery worker against a real receiver on 127.0.0.1 (issue 16, "must show"): a
receiver that fails, times out and throttles still gets every notification, in order per
subject, on the schedule it asked for, signed; escalations reach the secondary owner's route
exactly once; refusals, old age and quiet windows; an operator's retry and test.

Time is a frozen clock moved by the tests; the receiver's scripted timeout is the only wait
(the configured timeout is 1 s).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opsledger_test_notify import Receiver
from opsledger_test_support import saas_tenant

from opsledger import (
    DeliveryFailed,
    DeliveryReport,
    FrozenClock,
    InvalidInput,
    NotFound,
    NotifyConfig,
    Operations,
    load_notify_config,
)
from opsledger.services.notify_channels import verify_signature

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
SECRET = "test-signing-secret"
ENV = {"HOOK_SECRET": SECRET}


def notify_config(url: str, *, max_age: str = "24h", extra: str = "") -> NotifyConfig:
    """Two webhook channels on the receiver (paths /primary and /secondary), a primary route
    for everything and a secondary route for escalations."""
    return load_notify_config(f"""
[delivery]
timeout = "1s"
backoff_initial = "30s"
backoff_max = "10m"
max_age = "{max_age}"

[channels.hook]
type = "webhook"
url = "{url}/primary"
secret_env = "HOOK_SECRET"

[channels.escalation-hook]
type = "webhook"
url = "{url}/secondary"
secret_env = "HOOK_SECRET"

[routes.everything]
channel = "hook"

[routes.escalation]
channel = "escalation-hook"
owner = "secondary"
{extra}
""", ENV)


@pytest.fixture
def hook() -> Iterator[Any]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def ops(db: str) -> Iterator[Operations]:
    """A SQLite file or PostgreSQL store with tenant ``acme`` and the gate's owners."""
    with Operations.open(db, clock=FrozenClock(T0)) as opened:
        saas_tenant(opened, "acme", ["web"], at=T0 - timedelta(days=1))
        opened.assign_owners(primary="backend maintainers", secondary="dana (release on duty)",
                             by="lead", at=T0)
        yield opened


def deliver(ops: Operations, config: NotifyConfig) -> DeliveryReport:
    """One delivery step with a seeded jitter (repeatable schedules)."""
    return ops.deliver_notifications(config, rng=random.Random(16))


def _clock(ops: Operations) -> FrozenClock:
    clock = ops.clock
    assert isinstance(clock, FrozenClock)
    return clock


def _incident(ops: Operations, severity: str = "SEV2", at: datetime = T0) -> str:
    return str(ops.open_incident(severity=severity, title="web down", cause="other", by="a",
                                 tenant_id="acme", at=at)["id"])


def _by_kind(ops: Operations) -> dict[str, Any]:
    return {d.kind: d for d in ops.notifications(route="everything")}


def _drain(ops: Operations, config: NotifyConfig, steps: int = 12) -> None:
    """Deliver, moving the clock 5 minutes between steps, until nothing waits (bounded)."""
    for _ in range(steps):
        deliver(ops, config)
        status = ops.outbox_status().by_state
        if status["pending"] == status["failed"] == 0:
            return
        _clock(ops).advance(timedelta(minutes=5))
    raise AssertionError(f"still waiting after {steps} steps: {ops.outbox_status()}")


def _in_order_per_subject(bodies: list[dict[str, Any]], positions: dict[str, int]) -> None:
    """The first arrival of each dedup key is in log order within its subject."""
    seen: dict[str, list[int]] = defaultdict(list)
    for body in bodies:
        key = body["dedup_key"]
        if positions[key] not in seen[body["subject"]]:
            seen[body["subject"]].append(positions[key])
    for subject, order in seen.items():
        assert order == sorted(order), subject


def test_a_failing_slow_and_throttling_receiver_gets_everything_in_order_signed(
        ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url)
    incident = _incident(ops)
    ops.acknowledge(incident, by="a", at=T0 + timedelta(minutes=1))
    ops.resolve_incident(incident, summary="fixed", by="a", at=T0 + timedelta(minutes=2))
    _incident(ops, at=T0 + timedelta(minutes=3))  # another subject
    clock = _clock(ops)
    clock.set(T0 + timedelta(minutes=5))
    hook.script(500, (200, {}, 1.5), (429, {"Retry-After": "120"}, 0.0))

    first = deliver(ops, config)  # opened (500), other's opened (times out)
    assert (first.routed, first.attempted, first.failed, first.delivered) == (4, 2, 2, 0)
    opened, second = sorted(ops.notifications(route="everything", state="failed"),
                            key=lambda d: d.position)
    assert (opened.kind, opened.last_status, opened.attempts) == ("incident.opened", 500, 1)
    wait = opened.next_attempt_at - clock.now()
    assert timedelta(seconds=15) <= wait <= timedelta(seconds=30)  # 50-100 % of 30 s
    assert (second.last_status, second.last_error) == (None, "timeout")
    assert len(hook.received) == 2  # the acknowledgement waits behind its opening

    clock.advance(timedelta(seconds=30))
    report = deliver(ops, config)  # opened: 429; the other one: delivered
    assert report.delivery_seconds == (30.0,)  # routed by the first step, 30 s before
    throttled = ops.notification(opened.delivery_id).delivery
    assert (throttled.state, throttled.last_status) == ("failed", 429)
    assert throttled.next_attempt_at == clock.now() + timedelta(seconds=120)  # as asked

    _drain(ops, config)
    deliveries = ops.notifications(route="everything")
    assert {d.state for d in deliveries} == {"delivered"}
    detail = ops.notification(opened.delivery_id)
    assert [(a.outcome, a.status) for a in detail.attempts] == [
        ("failed", 500), ("failed", 429), ("delivered", 200)]
    assert detail.attempts[1].next_attempt_at == detail.attempts[1].at + timedelta(minutes=2)

    bodies = hook.bodies()
    positions = {d.notification_id: d.position for d in deliveries}
    assert set(positions) == {b["dedup_key"] for b in bodies}  # every one, none else
    _in_order_per_subject(bodies, positions)
    repeats = defaultdict(list)
    for received in hook.received:
        stamp = received.headers["X-Opsledger-Timestamp"]
        assert verify_signature(SECRET, stamp, received.headers["X-Opsledger-Signature"],
                                received.body, now=datetime.fromtimestamp(int(stamp), UTC))
        assert not verify_signature("another secret", stamp,
                                    received.headers["X-Opsledger-Signature"], received.body,
                                    now=datetime.fromtimestamp(int(stamp), UTC))
        repeats[received.json()["dedup_key"]].append(received.body)
    timed_out = repeats[second.notification_id]
    assert len(timed_out) == 2 and timed_out[0] == timed_out[1]  # at-least-once, same key


@pytest.mark.policy("7.owners")
@pytest.mark.policy("3.SEV1.ack")
def test_a_missed_sev1_acknowledgement_reaches_the_secondary_route_once_at_the_due_time(
        ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url)
    _incident(ops, "SEV1")
    deliver(ops, config)
    clock = _clock(ops)
    clock.set(T0 + timedelta(minutes=16))
    ops.advance(T0 + timedelta(minutes=16))
    ops.catch_up()
    deliver(ops, config)
    deliver(ops, config)
    clock.set(T0 + timedelta(minutes=20))
    ops.advance(T0 + timedelta(minutes=20))
    deliver(ops, config)

    secondary = [r.json() for r in hook.received if r.path == "/secondary"]
    assert [b["kind"] for b in secondary] == ["incident.escalated"]  # exactly once
    assert secondary[0]["audience"] == "secondary"
    assert secondary[0]["occurred_at"] == "2026-11-03T09:15:00.000Z"  # the due time
    assert secondary[0]["details"]["escalated_to"] == "dana (release on duty)"
    primary = [r.json()["kind"] for r in hook.received if r.path == "/primary"]
    assert "incident.escalated" not in primary and primary[0] == "incident.opened"


@pytest.mark.policy("3.SEV1.status_updates")
def test_a_missed_sev1_status_update_notifies_the_primary_route_again(
        ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url)
    incident = _incident(ops, "SEV1")
    ops.acknowledge(incident, by="a", at=T0 + timedelta(minutes=5))
    _clock(ops).set(T0 + timedelta(minutes=31))
    ops.advance(T0 + timedelta(minutes=31))
    deliver(ops, config)
    kinds = [(r.path, r.json()["kind"]) for r in hook.received]
    assert kinds[:2] == [("/primary", "incident.opened"), ("/primary", "incident.acknowledged")]
    missed = [r.json() for r in hook.received if r.json()["kind"] == "incident.deadline_missed"]
    assert [(m["details"]["deadline"], m["level"]) for m in missed] == [
        ("status_update", "critical")]
    assert all(path == "/primary" for path, _ in kinds)


def test_a_refusal_is_dead_at_once_does_not_block_the_subject_and_a_retry_delivers_it(
        ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url)
    incident = _incident(ops)
    ops.acknowledge(incident, by="a", at=T0 + timedelta(minutes=1))
    hook.script(404)
    report = deliver(ops, config)
    assert (report.dead, report.delivered) == (1, 1)  # the acknowledgement went on
    dead = _by_kind(ops)["incident.opened"]
    assert (dead.state, dead.reason, dead.attempts) == ("dead", "refused: HTTP 404", 1)
    assert ops.outbox_status().by_state["dead"] == 1

    (retried,) = ops.retry_notifications(all_dead=True, by="oncall")
    assert (retried.delivery_id, retried.state) == (dead.delivery_id, "pending")
    assert deliver(ops, config).delivered == 1
    detail = ops.notification(dead.delivery_id)
    assert [(a.outcome, a.by) for a in detail.attempts] == [
        ("dead", None), ("retried", "oncall"), ("delivered", None)]
    assert detail.delivery.state == "delivered" and detail.notification is not None
    with pytest.raises(InvalidInput):
        ops.retry_notifications([dead.delivery_id], by="oncall")  # delivered: nothing to do
    with pytest.raises(NotFound):
        ops.notification("0123456789ab")
    with pytest.raises(InvalidInput):
        ops.notification("../etc")


def test_a_delivery_failing_past_max_age_goes_dead(ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url, max_age="10m")
    _incident(ops)
    hook.script(*[500] * 20)
    _clock(ops).set(T0 + timedelta(minutes=1))
    for _ in range(12):  # every 2 minutes: retries until 10 minutes after routing
        deliver(ops, config)
        _clock(ops).advance(timedelta(minutes=2))
    (dead,) = ops.notifications(route="everything")
    assert dead.state == "dead" and dead.reason is not None
    assert "max_age" in dead.reason and dead.reason.endswith(f"after {dead.attempts} attempts")
    assert 2 <= dead.attempts <= 6
    assert ops.outbox_status().failed_attempts == dead.attempts


def test_a_retry_after_past_max_age_is_dead_at_once_and_says_why(
        ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url, max_age="10m")
    _incident(ops)
    hook.script((429, {"Retry-After": "100000"}, 0.0))
    _clock(ops).set(T0 + timedelta(minutes=1))
    assert deliver(ops, config).dead == 1
    (dead,) = ops.notifications(route="everything")
    assert (dead.state, dead.last_status, dead.attempts) == ("dead", 429, 1)
    assert dead.reason == "the receiver's Retry-After (100000 s) is past max_age, after 1 attempt"


def test_quiet_windows_and_old_history_are_recorded_suppressed_and_never_sent(
        ops: Operations, hook: Any) -> None:
    window = f"""
[[quiet]]
tenant = "acme"
start = "{(T0 - timedelta(hours=1)).isoformat()}"
end = "{(T0 + timedelta(hours=1)).isoformat()}"
reason = "database upgrade"
"""
    config = notify_config(hook.url, extra=window, max_age="1h")
    _incident(ops, at=T0 - timedelta(hours=3))  # history: older than max_age
    _incident(ops, at=T0)  # in the window
    _clock(ops).set(T0 + timedelta(minutes=1))
    report = deliver(ops, config)
    assert (report.routed, report.suppressed, report.attempted) == (2, 2, 0)
    reasons = sorted(d.reason or "" for d in ops.notifications(state="suppressed"))
    assert reasons == ["database upgrade", "older than max_age when routed"]
    _clock(ops).advance(timedelta(hours=2))
    deliver(ops, config)
    assert hook.received == []


def test_a_resolve_waits_while_its_trigger_is_failing(ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url)
    incident = _incident(ops)
    ops.acknowledge(incident, by="a", at=T0 + timedelta(minutes=1))
    ops.resolve_incident(incident, summary="fixed", by="a", at=T0 + timedelta(minutes=2))
    hook.script(503, 503)
    for _ in range(2):
        deliver(ops, config)
        _clock(ops).advance(timedelta(minutes=1))
    assert [r.json()["kind"] for r in hook.received] == ["incident.opened"] * 2
    assert _by_kind(ops)["incident.resolved"].state == "pending"
    _drain(ops, config)
    assert [r.json()["kind"] for r in hook.received][2:] == [
        "incident.opened", "incident.acknowledged", "incident.resolved"]


def test_a_route_test_sends_a_marked_payload_and_names_a_failure_without_the_url(
        ops: Operations, hook: Any) -> None:
    config = notify_config(hook.url)
    attempt = ops.test_notification_route(config, "everything", by="oncall")
    assert (attempt.outcome, attempt.status, attempt.by) == ("delivered", 200, "oncall")
    assert hook.bodies()[0]["test"] is True
    hook.script(500)
    with pytest.raises(DeliveryFailed) as failed:
        ops.test_notification_route(config, "everything", by="oncall")
    assert "HTTP 500" in str(failed.value) and hook.url not in str(failed.value)
    with pytest.raises(InvalidInput, match="nowhere"):
        ops.test_notification_route(config, "nowhere", by="oncall")
    assert ops.notifications() == () and ops.outbox_status().failed_attempts == 0


def test_a_route_gone_from_the_config_goes_dead_and_reads_check_their_arguments(
        ops: Operations, hook: Any) -> None:
    _incident(ops)
    _clock(ops).set(T0 + timedelta(minutes=2))
    deliver(ops, notify_config(hook.url, max_age="1m"))  # routed; the opening is too old
    (old,) = ops.notifications(state="suppressed")
    _incident(ops, at=T0 + timedelta(minutes=2))
    config = notify_config(hook.url)
    hook.script(500)
    deliver(ops, config)
    (waiting,) = ops.notifications(state="failed")
    renamed = load_notify_config(f"""
[channels.hook]
type = "webhook"
url = "{hook.url}"
secret_env = "HOOK_SECRET"
[routes.renamed]
channel = "hook"
""", ENV)
    _clock(ops).advance(timedelta(minutes=5))
    assert deliver(ops, renamed).dead == 1
    gone = ops.notification(waiting.delivery_id).delivery
    assert (gone.state, gone.reason) == ("dead", "route 'everything' is not in the config "
                                                 "(or its channel is not)")
    assert old.reason == "older than max_age when routed"
    with pytest.raises(InvalidInput):
        ops.notifications(state="lost")
    with pytest.raises(InvalidInput):
        ops.notifications(limit=0)
    with pytest.raises(InvalidInput):
        ops.retry_notifications(by="oncall")  # neither ids nor all_dead
