"""Routing edge cases a first user met (issue 16): an escalation with no secondary route
still reaches someone, a notification no route takes is recorded as told to nobody, the
list runs newest first in log order, a route test carries its route's audience, and the
package's signature check takes the secret as bytes too (the README's recipe does)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opsledger_test_notify import Receiver
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Operations, load_notify_config, verify_signature

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
SECRET = "routing-test-secret"


def _config(url: str, routes: str) -> Any:
    return load_notify_config(f"""
[channels.hook]
type = "webhook"
url = "{url}/hook"
secret_env = "HOOK_SECRET"
{routes}
""", {"HOOK_SECRET": SECRET})


@pytest.fixture
def hook() -> Iterator[Any]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def ops(sqlite_url: str) -> Iterator[Operations]:
    with Operations.open(sqlite_url, clock=FrozenClock(T0)) as opened:
        saas_tenant(opened, "acme", ["web"], at=T0 - timedelta(days=1))
        yield opened


def _missed_sev1_ack(ops: Operations) -> None:
    ops.open_incident(severity="SEV1", title="web down", cause="other", by="a",
                      tenant_id="acme", at=T0)
    ops.advance(T0 + timedelta(minutes=16))  # the acknowledgement (15 min) is missed
    clock = ops.clock
    assert isinstance(clock, FrozenClock)
    clock.set(T0 + timedelta(minutes=16))


@pytest.mark.policy("7.owners")
def test_an_escalation_with_no_secondary_route_goes_to_the_primary_routes(
        ops: Operations, hook: Any) -> None:
    _missed_sev1_ack(ops)
    config = _config(hook.url, '[routes.pager]\nchannel = "hook"\n')
    assert ops.deliver_notifications(config).delivered == 2
    assert [b["kind"] for b in hook.bodies()] == ["incident.opened", "incident.escalated"]
    assert hook.bodies()[1]["audience"] == "secondary"


def test_a_notification_no_route_takes_is_recorded_as_told_to_nobody(
        ops: Operations, hook: Any) -> None:
    _missed_sev1_ack(ops)
    config = _config(hook.url, '[routes.medium-only]\nchannel = "hook"\n'
                               'levels = ["medium"]\n')
    report = ops.deliver_notifications(config)
    assert (report.routed, report.suppressed, report.attempted) == (2, 2, 0)
    assert hook.count() == 0
    listed = ops.notifications(state="suppressed")
    assert [(d.kind, d.route, d.reason) for d in listed] == [
        ("incident.escalated", "(none)", "no route matches it"),  # newest first, by position
        ("incident.opened", "(none)", "no route matches it")]


def test_a_route_test_carries_its_route_audience_and_bytes_secrets_verify(
        ops: Operations, hook: Any) -> None:
    config = _config(hook.url, '[routes.escalation]\nchannel = "hook"\nowner = "secondary"\n')
    ops.test_notification_route(config, "escalation", by="dana")
    (received,) = hook.snapshot()
    assert received.json()["audience"] == "secondary" and received.json()["test"] is True
    assert received.headers["user-agent"] == "opsledger"
    stamp, signature = received.headers["x-opsledger-timestamp"], \
        received.headers["x-opsledger-signature"]
    now = datetime.fromtimestamp(int(stamp), UTC)
    for secret in (SECRET, SECRET.encode()):
        assert verify_signature(secret, stamp, signature, received.body, now=now)
    assert not verify_signature(b"other", stamp, signature, received.body, now=now)
