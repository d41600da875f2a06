"""What one delivery sends: a notification rendered for its channel (a signed JSON webhook,
a Slack incoming-webhook message, a PagerDuty Events API v2 event) as one HTTP POST. Pure:
no I/O, no clock (``now`` is passed in).

A webhook is signed the way receivers already verify Stripe's or Slack's requests:
``X-Opsledger-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`` with the
timestamp (unix seconds) in ``X-Opsledger-Timestamp``; :func:`verify_signature` is the
receiving side (constant-time, refuses stale timestamps). A receiver without opsledger::

    import hashlib, hmac, time
    def verified(secret: bytes, headers, body: bytes) -> bool:
        stamp = headers["X-Opsledger-Timestamp"]
        mac = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(stamp)) <= 300
        return fresh and hmac.compare_digest("v1=" + mac, headers["X-Opsledger-Signature"])

Slack (https://api.slack.com/messaging/webhooks, Block Kit): every value from the store is
escaped (``&``, ``<``, ``>``, so an id or title cannot mention ``<!channel>`` or forge a
link) and every text kept within Slack's limits. PagerDuty
(https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): the event's
``dedup_key`` is the notification's *subject* (``alert/<id>``, ``incident/<id>`` …), so the
trigger, acknowledgement and resolve of one alert or incident are one PagerDuty alert.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from opsledger.domain.time import fmt_time
from opsledger.results import Notification
from opsledger.services._notify_slack import LINK_LABELS, slack_message
from opsledger.services.notify_config import Channel, DeliverySchedule

__all__ = ["PAGERDUTY_ACTIONS", "PAGERDUTY_SEVERITIES", "Outgoing", "links", "render",
           "render_test", "sign", "verify_signature"]

#: Notification kind -> PagerDuty ``event_action`` (anything else triggers).
PAGERDUTY_ACTIONS = MappingProxyType({
    "incident.acknowledged": "acknowledge",
    "alert.resolved": "resolve", "alert.withdrawn": "resolve", "incident.resolved": "resolve",
})
#: Notification level -> PagerDuty ``payload.severity``.
PAGERDUTY_SEVERITIES = MappingProxyType({"critical": "critical", "high": "error",
                                         "medium": "warning"})
_JSON = "application/json"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_PD_SUMMARY, _PD_DEDUP = 1024, 255  # PagerDuty's documented maxima


@dataclass(frozen=True)
class Outgoing:
    """One HTTP POST: where (the URL may be the secret: a Slack webhook), the body and
    headers (a PagerDuty body holds the routing key: none of them is in the ``repr``), and
    the key the receiver can drop repeats by."""

    url: str = field(repr=False)
    body: bytes = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    dedup_key: str


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """``v1=`` and the hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed by ``secret``
    (text is keyed by its UTF-8 bytes)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(secret: str | bytes, timestamp: str, signature: str, body: bytes, *,
                     now: datetime, tolerance: timedelta = timedelta(minutes=5)) -> bool:
    """The receiving side: True when ``signature`` (``X-Opsledger-Signature``) is
    ``body``'s under ``secret`` and ``timestamp`` (``X-Opsledger-Timestamp``) lies within
    ``tolerance`` of ``now`` (a replayed old request fails). Compared in constant time.
    ``secret`` as text or as bytes (the README's recipe takes bytes)."""
    if not _TIMESTAMP.fullmatch(timestamp):
        return False
    if abs(now.timestamp() - int(timestamp)) > tolerance.total_seconds():
        return False
    expected = sign(secret, int(timestamp), body)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def links(notification: Notification, base_url: str | None) -> dict[str, str]:
    """Links to what the notification is about, under ``base_url`` (none without it): the
    incident, the tenant's alerts of the rule, the tenant's timeline around the moment, the
    chain verification."""
    if not base_url:
        return {}
    n, found = notification, {}
    kind, _, ident = n.subject.partition("/")
    if kind == "incident" and ident:
        found["incident"] = f"{base_url}/v1/incidents/{quote(ident, safe='')}"
    if n.tenant_id is not None:
        tenant = f"{base_url}/v1/tenants/{quote(n.tenant_id, safe='')}"
        if kind == "alert":
            rule = f"?rule={quote(n.rule, safe='')}" if n.rule else ""
            found["alerts"] = f"{tenant}/alerts{rule}"
        at = n.occurred_at
        found["timeline"] = (f"{tenant}/timeline?from={quote(fmt_time(at - timedelta(hours=1)))}"
                             f"&to={quote(fmt_time(at + timedelta(hours=1)))}")
    if n.kind == "integrity.chain_failed":
        found["verify"] = f"{base_url}/v1/verify"
    return found


def render(channel: Channel, notification: Notification, *, route: str, now: datetime,
           schedule: DeliverySchedule) -> Outgoing:
    """``notification`` as ``channel`` takes it, sent by ``route`` at ``now``."""
    if channel.type == "pagerduty":
        return _pagerduty(channel, notification, route, schedule,
                          PAGERDUTY_ACTIONS.get(notification.kind, "trigger"))
    if channel.type == "slack":
        body = slack_message(notification, route=route, links=links(notification,
                                                                     schedule.base_url))
        return Outgoing(channel.url, _dumps(body), {"Content-Type": _JSON},
                        notification.notification_id)
    if channel.type == "webhook":
        return _webhook(channel, notification, route, now, schedule)
    raise ValueError(f"unknown channel type {channel.type!r}")


def render_test(channel: Channel, *, route: str, now: datetime, schedule: DeliverySchedule,
                audience: str = "primary") -> tuple[Outgoing, ...]:
    """A payload marked as a test (``notify test --route``): for PagerDuty a trigger then
    a resolve of one dedup key (so no alert stays open), for the others one message."""
    stamp = int(now.timestamp())
    test = Notification(
        notification_id=f"test/{route}/{stamp}", position=0, subject=f"test/{route}/{stamp}",
        kind="test", tenant_id=None, level="medium", audience=audience, rule=None,
        occurred_at=now.astimezone(UTC),
        summary=f"opsledger test notification for route {route}: nothing is wrong",
        details={"test": True, "route": route})
    if channel.type == "pagerduty":
        return (_pagerduty(channel, test, route, schedule, "trigger", test=True),
                _pagerduty(channel, test, route, schedule, "resolve", test=True))
    return (render(channel, test, route=route, now=now, schedule=schedule),)


def _webhook(channel: Channel, n: Notification, route: str, now: datetime,
             schedule: DeliverySchedule) -> Outgoing:
    body = _dumps({
        "dedup_key": n.notification_id, "kind": n.kind, "subject": n.subject,
        "tenant": n.tenant_id, "level": n.level, "audience": n.audience, "rule": n.rule,
        "occurred_at": fmt_time(n.occurred_at), "summary": n.summary,
        "details": n.details, "route": route, "test": n.kind == "test",
        "links": links(n, schedule.base_url),
    })
    stamp = int(now.timestamp())
    headers = {"Content-Type": _JSON, "User-Agent": "opsledger",
               "X-Opsledger-Timestamp": str(stamp),
               "X-Opsledger-Signature": sign(channel.secret or "", stamp, body),
               "X-Opsledger-Dedup-Key": _header(n.notification_id)}
    return Outgoing(channel.url, body, headers, n.notification_id)


def _pagerduty(channel: Channel, n: Notification, route: str, schedule: DeliverySchedule,
               action: str, *, test: bool = False) -> Outgoing:
    dedup = n.subject if len(n.subject) <= _PD_DEDUP else \
        "sha256/" + hashlib.sha256(n.subject.encode()).hexdigest()
    event: dict[str, Any] = {"routing_key": channel.secret or "", "event_action": action,
                             "dedup_key": dedup}
    if action == "trigger":  # acknowledge and resolve carry only the three keys above
        summary = n.summary if len(n.summary) <= _PD_SUMMARY else \
            n.summary[:_PD_SUMMARY - 1] + "…"
        event["payload"] = {
            "summary": summary, "source": "opsledger",
            "severity": "info" if test else PAGERDUTY_SEVERITIES.get(n.level, "warning"),
            "timestamp": fmt_time(n.occurred_at), "component": n.rule or n.kind,
            "group": n.tenant_id or "platform", "class": n.kind,
            "custom_details": {**n.details, "notification_id": n.notification_id,
                               "subject": n.subject, "tenant": n.tenant_id,
                               "level": n.level, "audience": n.audience, "route": route,
                               "test": test},
        }
        found = links(n, schedule.base_url)
        if found:
            event["links"] = [{"href": href, "text": LINK_LABELS.get(key, key)}
                              for key, href in found.items()]
            event["client_url"] = schedule.base_url
        event["client"] = "opsledger"
    return Outgoing(channel.url, _dumps(event), {"Content-Type": _JSON}, dedup)


def _header(value: str) -> str:
    """A header value: printable ASCII as is, anything else percent-encoded."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="/:.-_~@+=")


def _dumps(value: Mapping[str, Any]) -> bytes:
    """Compact JSON, keys sorted, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_plain).encode("utf-8")


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
