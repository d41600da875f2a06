"""Where notifications go: channels, routes, quiet hours and maintenance windows, and the
delivery schedule, read from TOML and validated like the policy (every problem named by its
key, its value and why: :class:`~opsledger.domain.errors.InvalidNotifyConfig`).

Secrets (a webhook's signing secret, a Slack webhook URL, a PagerDuty routing key) come from
the environment (``secret_env``, ``url_env``, ``routing_key_env``: the host passes ``env``;
the library reads no environment itself) or a file (``secret_file`` …), never from the
config text and never from the store; they never appear in a ``repr``, a log or an error.

Example::

    [delivery]
    max_age = "24h"            # a notification not delivered by then goes dead
    backoff_initial = "30s"    # first retry; doubles each attempt (with jitter) ...
    backoff_max = "1h"         # ... up to this; Retry-After on 429/503 is honoured
    timeout = "10s"            # per HTTP attempt
    base_url = "https://ops.example.com"   # links in payloads (optional)

    [channels.oncall-webhook]
    type = "webhook"
    url = "https://hooks.example.com/opsledger"
    secret_env = "OPSLEDGER_WEBHOOK_SECRET"

    [channels.team-slack]
    type = "slack"
    url_env = "SLACK_WEBHOOK_URL"

    [channels.pager]
    type = "pagerduty"
    routing_key_env = "PAGERDUTY_ROUTING_KEY"

    [routes.page-primary]        # owner = "primary" by default
    channel = "pager"
    levels = ["critical", "high"]

    [routes.escalation]
    channel = "team-slack"
    owner = "secondary"          # missed acknowledgements (policy §7)

    [[quiet]]
    tenant = "acme"
    daily = "22:00-07:00"        # UTC; quiet hours suppress all but critical by default
    [[quiet]]
    tenant = "*"
    start = "2026-12-05T02:00:00Z"
    end = "2026-12-05T04:00:00Z" # a maintenance window suppresses every level by default
    reason = "database upgrade"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

from opsledger.results import Notification

__all__ = ["CHANNEL_TYPES", "OWNERS", "Channel", "DeliverySchedule", "NotifyConfig",
           "QuietWindow", "Route", "load_notify_config"]

CHANNEL_TYPES = ("webhook", "slack", "pagerduty")
OWNERS = ("primary", "secondary")


@dataclass(frozen=True)
class Channel:
    """One destination. ``url`` and ``secret`` are resolved (never shown by ``repr``):
    a webhook's signing secret, a PagerDuty routing key; a Slack URL is itself the secret."""

    name: str
    type: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Route:
    """Which notifications go to ``channel``: those for ``owner`` (``primary``: everything
    but escalations; ``secondary``: escalations) whose tenant, level, rule and kind are in
    the route's sets (``None``: any)."""

    name: str
    channel: str
    owner: str = "primary"
    tenants: frozenset[str] | None = None
    levels: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    kinds: frozenset[str] | None = None

    def matches(self, notification: Notification) -> bool:
        """True when ``notification`` goes this way."""
        raise NotImplementedError


@dataclass(frozen=True)
class QuietWindow:
    """A tenant's (``*``: every tenant's) quiet hours (``daily``: UTC start and end times, an
    end before the start crosses midnight) or maintenance window (``start``/``end``), and
    the levels it suppresses."""

    tenant: str
    levels: frozenset[str]
    reason: str
    daily: tuple[time, time] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def suppresses(self, notification: Notification) -> bool:
        """True when ``notification`` (by its tenant, level and ``occurred_at``) falls in
        this window."""
        raise NotImplementedError


@dataclass(frozen=True)
class DeliverySchedule:
    """How deliveries are retried and when they are given up."""

    max_age: timedelta = timedelta(hours=24)
    backoff_initial: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    timeout: timedelta = timedelta(seconds=10)
    base_url: str | None = None


@dataclass(frozen=True)
class NotifyConfig:
    """Channels, routes, quiet windows and the delivery schedule."""

    channels: Mapping[str, Channel]
    routes: tuple[Route, ...]
    quiet: tuple[QuietWindow, ...] = ()
    delivery: DeliverySchedule = DeliverySchedule()

    def routes_for(self, notification: Notification) -> tuple[Route, ...]:
        """The routes ``notification`` goes to, in the config's order."""
        return tuple(r for r in self.routes if r.matches(notification))

    def quiet_reason(self, notification: Notification) -> str | None:
        """Why ``notification`` is suppressed (the first window that suppresses it), or
        None."""
        raise NotImplementedError


def load_notify_config(text: str, env: Mapping[str, str],
                       base_dir: Path | None = None) -> NotifyConfig:
    """Parse and validate TOML ``text``; secrets from ``env`` or files (relative paths
    from ``base_dir``). Raises ``InvalidNotifyConfig`` naming every problem."""
    raise NotImplementedError
