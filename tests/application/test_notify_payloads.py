"""What goes out: every kind of notification rendered for each channel, the Slack and
PagerDuty bodies checked against schemas written from the public documentation
(tests/fixtures/notify), the webhook signature verified as a receiver would."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from opsledger.projections.outbox import KINDS

from opsledger.results import Notification
from opsledger.services.notify_channels import (
    Outgoing,
    render,
    render_test,
    sign,
    verify_signature,
)
from opsledger.services.notify_config import Channel, DeliverySchedule

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notify"
SECRET = "whsec-shared-secret"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as PagerDuty's keys
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
WEBHOOK = Channel("hook", "webhook", "https://hooks.example.com/opsledger", SECRET)
SLACK = Channel("chat", "slack", SLACK_URL)
PAGER = Channel("pager", "pagerduty", "https://events.pagerduty.com/v2/enqueue", ROUTING_KEY)
AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOW = AT + timedelta(seconds=42)
LINKED = DeliverySchedule(base_url="https://ops.example.com")
PLAIN = DeliverySchedule()


def schema(name: str) -> jsonschema.Draft202012Validator:
    found = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(found)
    return jsonschema.Draft202012Validator(found)


PAGERDUTY = schema("pagerduty-events-v2.schema.json")
SLACK_SCHEMA = schema("slack-incoming-webhook.schema.json")

_INCIDENT = {"incident_id": "i-1", "title": "Ingestion down for acme"}
#: One notification of each kind, with the details the outbox writes for it.
SAMPLES: dict[str, tuple[str, str | None, str, str | None, dict[str, Any]]] = {
    # kind: (subject, tenant, level, rule, details)
    "alert.triggered": ("alert/a-1", "acme", "critical", "no_successful_ingestion",
                        {"alert_id": "a-1", "observed": 0, "threshold": 1,
                         "window_start": "2026-12-03T09:00:00.000000Z",
                         "window_end": "2026-12-03T10:00:00.000000Z",
                         "repository": None, "backfilled": False}),
    "alert.resolved": ("alert/a-1", "acme", "critical", "no_successful_ingestion",
                       {"alert_id": "a-1", "reason": "condition cleared"}),
    "alert.withdrawn": ("alert/a-1", "acme", "high", "publish_error_rate",
                        {"alert_id": "a-1", "reason": "late facts"}),
    "incident.opened": ("incident/i-1", "acme", "critical", None,
                        {**_INCIDENT, "severity": "SEV1", "cause": "alert", "alert_ids": ["a-1"],
                         "by": "oncall", "deadlines": {"acknowledge": "2026-12-03T10:15:00Z"}}),
    "incident.acknowledged": ("incident/i-1", "acme", "critical", None,
                              {**_INCIDENT, "by": "oncall"}),
    "incident.severity_changed": ("incident/i-1", "acme", "high", None,
                                  {**_INCIDENT, "previous": "SEV1", "severity": "SEV2",
                                   "reason": "contained", "by": "oncall"}),
    "incident.escalated": ("incident/i-1", "acme", "critical", None,
                           {**_INCIDENT, "deadline": "acknowledge",
                            "due_at": "2026-12-03T10:15:00.000000Z",
                            "escalated_to": "release-operator"}),
    "incident.deadline_missed": ("incident/i-1", "acme", "critical", None,
                                 {**_INCIDENT, "deadline": "status_update",
                                  "due_at": "2026-12-03T11:00:00.000000Z"}),
    "incident.resolved": ("incident/i-1", "acme", "critical", None,
                          {**_INCIDENT, "summary": "restarted", "by": "oncall"}),
    "gate.activation_refused": ("gate/production", None, "high", None,
                                {"environment": "production", "version": "1.4.0", "by": "ci",
                                 "refusals": ["typecheck"]}),
    "gate.compliance_breached": ("gate/production", None, "high", None,
                                 {"environment": "production", "constraint": "rollback_drill",
                                  "due_at": "2026-12-03T00:00:00.000000Z"}),
    "integrity.chain_failed": ("chain", None, "critical", None,
                               {"position": 12, "reason": "hash mismatch"}),
}


def note(kind: str, **changes: Any) -> Notification:
    subject, tenant, level, rule, details = SAMPLES[kind]
    made = Notification(
        notification_id=f"{subject}/{kind.split('.')[1]}", position=7, subject=subject,
        kind=kind, tenant_id=tenant, level=level,
        audience="secondary" if kind == "incident.escalated" else "primary", rule=rule,
        occurred_at=AT, summary=f"{level} {kind} for {tenant or 'the platform'}",
        details=details)
    return replace(made, **changes)


def body(out: Outgoing) -> Any:
    return json.loads(out.body)


def test_every_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(KINDS)


# ---- PagerDuty ------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [LINKED, PLAIN], ids=["links", "no-links"])
@pytest.mark.parametrize("kind", KINDS)
def test_pagerduty_events_of_every_kind_follow_the_documented_shape(
        kind: str, schedule: DeliverySchedule) -> None:
    out = render(PAGER, note(kind), route="page", now=NOW, schedule=schedule)
    PAGERDUTY.validate(body(out))
    assert out.url == PAGER.url
    assert out.headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize(("kind", "action"), [
    ("alert.triggered", "trigger"), ("incident.opened", "trigger"),
    ("incident.escalated", "trigger"), ("incident.deadline_missed", "trigger"),
    ("incident.severity_changed", "trigger"), ("gate.activation_refused", "trigger"),
    ("integrity.chain_failed", "trigger"), ("incident.acknowledged", "acknowledge"),
    ("alert.resolved", "resolve"), ("alert.withdrawn", "resolve"),
    ("incident.resolved", "resolve"),
])
def test_pagerduty_event_action_follows_the_transition(kind: str, action: str) -> None:
    event = body(render(PAGER, note(kind), route="page", now=NOW, schedule=PLAIN))
    assert event["event_action"] == action
    if action != "trigger":  # the documented acknowledge/resolve carry nothing else
        assert set(event) == {"routing_key", "event_action", "dedup_key"}


def test_the_trigger_and_resolve_of_one_alert_share_the_dedup_key() -> None:
    trigger = render(PAGER, note("alert.triggered"), route="p", now=NOW, schedule=PLAIN)
    resolve = render(PAGER, note("alert.resolved"), route="p", now=NOW, schedule=PLAIN)
    assert body(trigger)["dedup_key"] == body(resolve)["dedup_key"] == "alert/a-1"
    assert trigger.dedup_key == resolve.dedup_key == "alert/a-1"


@pytest.mark.parametrize(("level", "severity"), [("critical", "critical"), ("high", "error"),
                                                 ("medium", "warning")])
def test_pagerduty_severity_is_mapped_from_the_level(level: str, severity: str) -> None:
    event = body(render(PAGER, note("alert.triggered", level=level), route="p", now=NOW,
                        schedule=PLAIN))
    assert event["payload"]["severity"] == severity


def test_a_long_summary_is_cut_to_pagerdutys_limit() -> None:
    long = note("incident.opened", summary="x" * 5000)
    event = body(render(PAGER, long, route="p", now=NOW, schedule=PLAIN))
    PAGERDUTY.validate(event)
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].endswith("…")


def test_a_long_subject_still_makes_a_valid_dedup_key() -> None:
    subject = "gate/" + "e" * 400
    event = body(render(PAGER, note("gate.activation_refused", subject=subject), route="p",
                        now=NOW, schedule=PLAIN))
    PAGERDUTY.validate(event)
    assert event["dedup_key"].startswith("sha256/")


def test_the_pagerduty_trigger_carries_details_and_links() -> None:
    event = body(render(PAGER, note("incident.opened"), route="p", now=NOW, schedule=LINKED))
    payload = event["payload"]
    assert payload["custom_details"]["notification_id"] == "incident/i-1/opened"
    assert payload["group"] == "acme"
    assert payload["timestamp"] == "2026-12-03T10:00:00.000Z"
    assert {"href": "https://ops.example.com/v1/incidents/i-1", "text": "Incident"} in \
        event["links"]


def test_the_pagerduty_test_is_a_trigger_then_a_resolve_of_one_key() -> None:
    trigger, resolve = render_test(PAGER, route="page", now=NOW, schedule=LINKED)
    for out in (trigger, resolve):
        PAGERDUTY.validate(body(out))
    assert (body(trigger)["event_action"], body(resolve)["event_action"]) == \
        ("trigger", "resolve")
    assert body(trigger)["dedup_key"] == body(resolve)["dedup_key"]
    assert body(trigger)["payload"]["severity"] == "info"
    assert body(trigger)["payload"]["custom_details"]["test"] is True


# ---- Slack ----------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [LINKED, PLAIN], ids=["links", "no-links"])
@pytest.mark.parametrize("kind", KINDS)
def test_slack_messages_of_every_kind_follow_the_documented_shape(
        kind: str, schedule: DeliverySchedule) -> None:
    out = render(SLACK, note(kind), route="chat", now=NOW, schedule=schedule)
    SLACK_SCHEMA.validate(body(out))
    assert out.url == SLACK_URL
    assert out.dedup_key == note(kind).notification_id


def test_a_slack_alert_reads_as_one_line_with_observed_vs_threshold() -> None:
    message = body(render(SLACK, note("alert.triggered"), route="c", now=NOW, schedule=LINKED))
    texts = json.dumps(message)
    assert message["blocks"][1]["text"]["text"] == (
        ":rotating_light: *critical* alert `no_successful_ingestion` for tenant `acme`: "
        "observed 0 vs threshold 1")
    assert "https://ops.example.com/v1/tenants/acme/timeline?from=" in texts
    assert "|Timeline>" in texts


def test_slack_escapes_a_title_that_tries_to_mention_the_channel() -> None:
    hostile = {**_INCIDENT, "title": "<!channel> pwned <https://evil.example|click> & co",
               "by": "<@U123>", "severity": "SEV1"}
    for kind in ("incident.opened", "incident.acknowledged"):
        n = note(kind, details=hostile, summary="<!channel> " + hostile["title"],
                 tenant_id="<!here>", notification_id="incident/<!everyone>/x")
        message = body(render(SLACK, n, route="c", now=NOW, schedule=LINKED))
        SLACK_SCHEMA.validate(message)
        text = json.dumps(message)
        for mention in ("<!channel>", "<@U123>", "<!here>", "<!everyone>", "<https://evil"):
            assert mention not in text
        assert "&lt;!channel&gt; pwned" in text
        assert "&amp; co" in text


def test_the_schema_would_catch_an_unescaped_mention() -> None:
    message = body(render(SLACK, note("incident.opened"), route="c", now=NOW, schedule=PLAIN))
    message["blocks"][1]["text"]["text"] = "<!channel> hello"
    with pytest.raises(jsonschema.ValidationError):
        SLACK_SCHEMA.validate(message)


def test_long_slack_texts_stay_within_slacks_limits() -> None:
    huge = {**_INCIDENT, "title": "&" * 5000, "severity": "S" * 5000}
    n = note("incident.opened", details=huge, summary="<" * 9000)
    message = body(render(SLACK, n, route="c", now=NOW, schedule=LINKED))
    SLACK_SCHEMA.validate(message)  # lengths, and no entity cut in half
    assert message["blocks"][1]["text"]["text"].endswith("…")


def test_the_slack_test_message_is_marked() -> None:
    (out,) = render_test(SLACK, route="chat", now=NOW, schedule=PLAIN)
    message = body(out)
    SLACK_SCHEMA.validate(message)
    assert message["text"].startswith("[test]")
    assert "test" in message["blocks"][0]["text"]["text"]


# ---- the signed webhook ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_a_webhook_body_is_compact_sorted_json_with_the_dedup_key(kind: str) -> None:
    n = note(kind)
    out = render(WEBHOOK, n, route="hook", now=NOW, schedule=LINKED)
    sent = body(out)
    assert out.body == json.dumps(sent, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False).encode()
    assert sent["dedup_key"] == n.notification_id == out.headers["X-Opsledger-Dedup-Key"]
    assert (sent["kind"], sent["tenant"], sent["route"], sent["test"]) == \
        (kind, n.tenant_id, "hook", False)
    assert sent["occurred_at"] == "2026-12-03T10:00:00.000Z"
    assert out.headers["Content-Type"] == "application/json"
    assert out.headers["User-Agent"] == "opsledger"


def test_incident_links_use_the_served_routes() -> None:
    sent = body(render(WEBHOOK, note("incident.escalated", subject="incident/a b/c"),
                       route="h", now=NOW, schedule=LINKED))
    assert sent["links"]["incident"] == "https://ops.example.com/v1/incidents/a%20b%2Fc"
    assert sent["links"]["timeline"].startswith("https://ops.example.com/v1/tenants/acme/"
                                                "timeline?from=2026-12-03T09%3A00")
    assert body(render(WEBHOOK, note("incident.opened"), route="h", now=NOW,
                       schedule=PLAIN))["links"] == {}


def test_the_signature_verifies_with_the_shared_secret() -> None:
    out = render(WEBHOOK, note("alert.triggered"), route="h", now=NOW, schedule=PLAIN)
    stamp, signature = out.headers["X-Opsledger-Timestamp"], out.headers["X-Opsledger-Signature"]
    assert stamp == str(int(NOW.timestamp()))
    assert signature == sign(SECRET, int(stamp), out.body)
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert verify_signature(SECRET, stamp, signature, out.body, now=NOW + timedelta(seconds=3))


def test_a_tampered_body_a_wrong_secret_or_a_stale_timestamp_fails() -> None:
    out = render(WEBHOOK, note("alert.triggered"), route="h", now=NOW, schedule=PLAIN)
    stamp, signature = out.headers["X-Opsledger-Timestamp"], out.headers["X-Opsledger-Signature"]
    tampered = out.body.replace(b'"critical"', b'"medium"')
    assert tampered != out.body
    assert not verify_signature(SECRET, stamp, signature, tampered, now=NOW)
    assert not verify_signature("other", stamp, signature, out.body, now=NOW)
    assert not verify_signature(SECRET, stamp, signature, out.body,
                                now=NOW + timedelta(minutes=6))
    assert not verify_signature(SECRET, stamp, signature, out.body,
                                now=NOW - timedelta(minutes=6))
    assert not verify_signature(SECRET, "12x", signature, out.body, now=NOW)
    assert not verify_signature(SECRET, stamp, "v1=é", out.body, now=NOW)
    later = str(int(stamp) + 1)  # the timestamp is signed too
    assert not verify_signature(SECRET, later, signature, out.body, now=NOW)


def test_the_webhook_test_payload_is_marked_and_signed() -> None:
    (out,) = render_test(WEBHOOK, route="hook", now=NOW, schedule=PLAIN)
    sent = body(out)
    assert sent["test"] is True and sent["route"] == "hook"
    assert verify_signature(SECRET, out.headers["X-Opsledger-Timestamp"],
                            out.headers["X-Opsledger-Signature"], out.body, now=NOW)


def test_secrets_are_not_in_the_repr_of_what_is_sent() -> None:
    for channel in (WEBHOOK, SLACK, PAGER):
        out = render(channel, note("alert.triggered"), route="r", now=NOW, schedule=PLAIN)
        shown = repr(out) + repr(channel)
        assert SECRET not in shown and ROUTING_KEY not in shown and SLACK_URL not in shown


def test_the_receiver_recipe_in_the_docstring_verifies_a_real_payload() -> None:
    from opsledger.services import notify_channels

    recipe = (notify_channels.__doc__ or "").split("A receiver without opsledger::", 1)[1]
    code = "\n".join(line[4:] for line in recipe.split("\n\n", 2)[1].splitlines())
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the documented few lines, as a receiver would paste them
    out = render(WEBHOOK, note("alert.triggered"), route="h", now=datetime.now(UTC),
                 schedule=PLAIN)
    assert namespace["verified"](SECRET.encode(), out.headers, out.body)
    assert not namespace["verified"](SECRET.encode(), out.headers, out.body + b" ")
