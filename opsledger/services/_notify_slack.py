"""A notification as a Slack incoming-webhook message (https://api.slack.com/messaging/webhooks):
a fallback ``text`` and Block Kit ``blocks``. Every value from the store is escaped for
mrkdwn (``&``, ``<``, ``>`` become entities: Slack's control characters, so a title cannot
mention ``<!channel>`` or forge a link) and every text is kept within Slack's limits
(section text 3000, field 2000, header 150 characters; at most 10 fields, 50 blocks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsledger.domain.time import fmt_time
from opsledger.results import Notification

__all__ = ["LINK_LABELS", "escape", "slack_message"]

MAX_TEXT, MAX_FIELD, MAX_HEADER, MAX_FIELDS = 3000, 2000, 150, 10
_EMOJI = {"critical": ":rotating_light:", "high": ":warning:", "medium": ":large_yellow_circle:"}
_CALM = {"alert.resolved": ":white_check_mark:", "alert.withdrawn": ":heavy_minus_sign:",
         "incident.resolved": ":white_check_mark:", "incident.acknowledged": ":eyes:",
         "test": ":test_tube:"}
LINK_LABELS = {"incident": "Incident", "alerts": "Alerts", "timeline": "Timeline",
           "verify": "Chain verification"}


def escape(value: object) -> str:
    """``value`` as text safe in mrkdwn: Slack's control characters as HTML entities."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, most: int) -> str:
    """At most ``most`` characters, an ellipsis marking a cut (never inside an entity)."""
    if len(text) <= most:
        return text
    text = text[:most - 1]
    amp = text.rfind("&", max(0, len(text) - 5))
    if amp >= 0 and ";" not in text[amp:]:
        text = text[:amp]
    return text + "…"


def _code(value: object) -> str:
    """An inline code span of an untrusted value (a backtick would end it early)."""
    return "`" + escape(value).replace("`", "'") + "`"


def _plain(value: Any) -> str:
    """A number as the outbox writes it (``0``, ``0.05``; none: ``-``), anything else as
    text (not yet escaped)."""
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) \
        else str(value)


def _num(value: Any) -> str:
    return escape(_plain(value))


def _headline(n: Notification) -> str:
    """One readable mrkdwn line: what happened, to whom."""
    d, emoji = n.details, _CALM.get(n.kind, _EMOJI.get(n.level, ":bell:"))
    tenant = _code(n.tenant_id) if n.tenant_id is not None else "the platform"
    title = f"*{escape(d['title'])}*" if d.get("title") else ""
    if n.kind == "alert.triggered":
        return (f"{emoji} *{escape(n.level)}* alert {_code(n.rule)} for tenant {tenant}: "
                f"observed {_num(d.get('observed'))} vs threshold {_num(d.get('threshold'))}")
    if n.kind in ("alert.resolved", "alert.withdrawn"):
        verb = "resolved" if n.kind == "alert.resolved" else "withdrawn (never held)"
        return (f"{emoji} {verb}: alert {_code(n.rule)} for tenant {tenant}"
                + (f" ({escape(d['reason'])})" if d.get("reason") else ""))
    if n.kind == "incident.opened":
        return (f"{emoji} *{escape(d.get('severity', n.level))}* incident opened for tenant "
                f"{tenant}: {title}")
    if n.kind == "incident.escalated":
        return (f"{emoji} escalated to {_code(d.get('escalated_to'))}: not acknowledged by "
                f"{escape(d.get('due_at'))}: {title}")
    if n.kind == "incident.deadline_missed":
        return (f"{emoji} missed *{escape(d.get('deadline'))}* deadline (due "
                f"{escape(d.get('due_at'))}) for tenant {tenant}: {title}")
    if n.kind == "incident.severity_changed":
        return (f"{emoji} severity {escape(d.get('previous'))} → *{escape(d.get('severity'))}* "
                f"for tenant {tenant}: {title}")
    if n.kind in ("incident.acknowledged", "incident.resolved"):
        verb = "acknowledged" if n.kind == "incident.acknowledged" else "resolved"
        return f"{emoji} {verb} by {_code(d.get('by'))} for tenant {tenant}: {title}"
    return f"{emoji} {escape(n.summary)}"


def _fields(n: Notification) -> list[tuple[str, object]]:
    """Facts worth a glance, in order (those the notification has)."""
    d: Mapping[str, Any] = n.details
    found: list[tuple[str, object]] = [("Tenant", n.tenant_id or "platform"),
                                       ("Level", n.level)]
    if n.rule:
        found.append(("Rule", n.rule))
    if "observed" in d or "threshold" in d:
        found.append(("Observed vs threshold",
                      f"{_plain(d.get('observed'))} vs {_plain(d.get('threshold'))}"))
    for key, label in (("severity", "Severity"), ("deadline", "Deadline"), ("due_at", "Due"),
                       ("escalated_to", "Escalated to"), ("environment", "Environment"),
                       ("version", "Version"), ("constraint", "Constraint")):
        if d.get(key) is not None:
            found.append((label, d[key]))
    found.append(("Occurred", fmt_time(n.occurred_at)))
    return found[:MAX_FIELDS]


def _link(url: str, label: str) -> str:
    return f"<{escape(url.replace('|', '%7C'))}|{label}>"


def slack_message(n: Notification, *, route: str, links: Mapping[str, str]) -> dict[str, Any]:
    """The incoming-webhook body for ``n``: ``text`` (the notification's fallback, shown
    where blocks are not) and ``blocks``: a header, the headline, the facts as fields,
    links (when there are) and a context line with the dedup key and route."""
    test = n.kind == "test"
    header = "opsledger test notification" if test else \
        f"opsledger: {n.level} {n.kind.replace('.', ' ').replace('_', ' ')}"
    fields = [{"type": "mrkdwn", "text": _cut(f"*{label}*\n{_num(value)}", MAX_FIELD)}
              for label, value in _fields(n)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(header, MAX_HEADER),
                                    "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_headline(n), MAX_TEXT)}},
        {"type": "section", "fields": fields},
    ]
    shown = [_link(url, LINK_LABELS.get(k, k)) for k, url in links.items()]
    shown = [link for link in shown if len(link) <= MAX_TEXT // 3]  # never cut a link
    if shown:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": " · ".join(shown)}})
    context = f"dedup key {_code(n.notification_id)} · route {_code(route)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                    "text": _cut(context, MAX_TEXT)}]})
    fallback = f"[test] {n.summary}" if test else f"[{n.level}] {n.summary}"
    return {"text": _cut(escape(fallback), MAX_TEXT), "blocks": blocks}
