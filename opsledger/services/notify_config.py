"""Where notifications go: channels, routes, quiet hours and maintenance windows, and the
delivery schedule, read from TOML and validated like the policy (every problem named by its
key, its value and why: :class:`~opsledger.domain.errors.InvalidNotifyConfig`).

Secrets (a webhook's signing secret, a Slack webhook URL, a PagerDuty routing key) come from
the environment (``secret_env``, ``url_env``, ``routing_key_env``: the host passes ``env``;
the library reads no environment itself) or a file (``secret_file`` …), never from the
config text and never from the store; they never appear in a ``repr``, a log or an error.
URLs are ``https`` (plain ``http`` only to 127.0.0.1, localhost or ::1).

Bounds: ``max_age`` 1m..30d, ``backoff_initial`` 1s..1h, ``backoff_max`` 1s..1d (not below
``backoff_initial``), ``timeout`` 1s..120s; channel and route names 1..64 letters, digits,
``-`` or ``_``; at most 100 channels, 200 routes, 200 quiet entries, 256 KiB of text;
windows within 2000-2100 UTC. A route sends to one channel; its ``tenants``, ``levels``,
``rules`` and ``kinds`` left out match any (``tenants = ["*"]`` too).

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

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from opsledger.domain.alert import RULES
from opsledger.domain.errors import InvalidNotifyConfig
from opsledger.domain.time import fmt_time
from opsledger.projections.outbox import KINDS, LEVELS
from opsledger.results import Notification
from opsledger.services._notify_checks import (
    Problems,
    check_duration,
    check_names,
    check_url,
    entries,
    read_secret,
    redact_url,
    table,
    unknown,
    when,
)

__all__ = ["CHANNEL_TYPES", "OWNERS", "Channel", "DeliverySchedule", "NotifyConfig",
           "QuietWindow", "Route", "load_notify_config"]

CHANNEL_TYPES = ("webhook", "slack", "pagerduty")
OWNERS = ("primary", "secondary")
#: Bounds of a config (its size in bytes and how many channels, routes and quiet windows).
MAX_CONFIG_BYTES = 256 * 1024
MAX_CHANNELS, MAX_ROUTES, MAX_QUIET = 100, 200, 200
#: Levels a window suppresses unless it says: quiet hours all but critical (critical always
#: pages), a maintenance window every level.
QUIET_HOURS_LEVELS = frozenset(("high", "medium"))
#: PagerDuty Events API v2's endpoint, the default ``url`` of a pagerduty channel.
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


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
        """True when ``notification`` goes this way: its audience is the route's owner and
        its tenant, level, rule and kind are in the route's sets (a platform notification,
        tenant None, matches only a route without ``tenants``; one without a rule only a
        route without ``rules``)."""
        n = notification
        return (n.audience == self.owner
                and (self.tenants is None or n.tenant_id in self.tenants)
                and (self.levels is None or n.level in self.levels)
                and (self.rules is None or n.rule in self.rules)
                and (self.kinds is None or n.kind in self.kinds))


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
        this window (a platform notification, tenant None, only in a ``*`` window)."""
        n = notification
        if (self.tenant != "*" and n.tenant_id != self.tenant) or n.level not in self.levels:
            return False
        at = n.occurred_at.astimezone(UTC)
        if self.daily is not None:
            begin, end, now = self.daily[0], self.daily[1], at.time()
            return begin <= now < end if begin < end else (now >= begin or now < end)
        return self.start is not None and self.end is not None and self.start <= at < self.end


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
        """The routes ``notification`` goes to, in the config's order. An escalation that
        no secondary route takes goes where it would go as the primary owner's (policy §7:
        a missed acknowledgement must reach someone)."""
        found = tuple(r for r in self.routes if r.matches(notification))
        if not found and notification.audience == "secondary":
            primary = replace(notification, audience="primary")
            found = tuple(r for r in self.routes if r.matches(primary))
        return found

    def quiet_reason(self, notification: Notification) -> str | None:
        """Why ``notification`` is suppressed (the first window that suppresses it), or
        None."""
        for window in self.quiet:
            if window.suppresses(notification):
                return window.reason
        return None


def load_notify_config(text: str, env: Mapping[str, str],
                       base_dir: Path | None = None) -> NotifyConfig:
    """Parse and validate TOML ``text``; secrets from ``env`` or files (relative paths
    from ``base_dir``). Raises ``InvalidNotifyConfig`` naming every problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise InvalidNotifyConfig([("<file>", None, f"larger than "
                                                    f"{MAX_CONFIG_BYTES // 1024} KiB")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidNotifyConfig([("<file>", None, f"not valid TOML: {exc}")]) from None
    return _parse(data, env, base_dir)


# ---- parsing (the checks: ._notify_checks) --------------------------------------------
_SECTIONS = ("delivery", "channels", "routes", "quiet")
_DELIVERY = {  # key -> (lowest, highest)
    "max_age": (timedelta(minutes=1), timedelta(days=30)),
    "backoff_initial": (timedelta(seconds=1), timedelta(hours=1)),
    "backoff_max": (timedelta(seconds=1), timedelta(days=1)),
    "timeout": (timedelta(seconds=1), timedelta(seconds=120)),
}
_CHANNEL_KEYS = {"webhook": ("url", "secret_env", "secret_file"),
                 "slack": ("url", "url_env", "url_file"),
                 "pagerduty": ("url", "routing_key_env", "routing_key_file")}
_ANY_CHANNEL_KEY = ("type", *sorted({k for keys in _CHANNEL_KEYS.values() for k in keys}))
_ROUTE_KEYS = ("channel", "owner", "tenants", "levels", "rules", "kinds")
_QUIET_KEYS = ("tenant", "daily", "start", "end", "levels", "reason")


def _parse(data: dict[str, Any], env: Mapping[str, str], base_dir: Path | None) -> NotifyConfig:
    problems: Problems = []
    for key in data:
        if key not in _SECTIONS:
            problems.append((key, None, f"unknown section (known: {', '.join(_SECTIONS)})"))
    delivery = _delivery(problems, table(problems, data, "delivery"))
    channels: dict[str, Channel] = {}
    for name, entry in entries(problems, data, "channels", MAX_CHANNELS):
        channel = _channel(problems, name, entry, env, base_dir)
        if channel is not None:
            channels[name] = channel
    declared = tuple(data["channels"]) if isinstance(data.get("channels"), dict) else ()
    routes = [r for name, entry in entries(problems, data, "routes", MAX_ROUTES)
              if (r := _route(problems, name, entry, declared)) is not None]
    windows = data.get("quiet", [])
    if not isinstance(windows, list) or not all(isinstance(q, dict) for q in windows):
        problems.append(("quiet", None, "an array of tables ([[quiet]] entries)"))
        windows = []
    elif len(windows) > MAX_QUIET:
        problems.append(("quiet", len(windows), f"at most {MAX_QUIET} entries"))
    quiet = [w for i, entry in enumerate(windows[:MAX_QUIET])
             if (w := _quiet(problems, f"quiet[{i}]", entry)) is not None]
    if problems:
        raise InvalidNotifyConfig(problems)
    return NotifyConfig(channels=MappingProxyType(channels), routes=tuple(routes),
                        quiet=tuple(quiet), delivery=delivery)





def _delivery(problems: Problems, entry: dict[str, Any]) -> DeliverySchedule:
    unknown(problems, "delivery", entry, (*_DELIVERY, "base_url"))
    values: dict[str, Any] = {}
    for key, (low, high) in _DELIVERY.items():
        if key in entry:
            values[key] = check_duration(problems, f"delivery.{key}", entry[key], low, high)
    if "base_url" in entry:
        url = check_url(problems, "delivery.base_url", entry["base_url"], entry["base_url"])
        if url is not None and (urlsplit(url).query or urlsplit(url).fragment):
            problems.append(("delivery.base_url", url, "no query or fragment: links are "
                                                       "built under it"))
        values["base_url"] = url.rstrip("/") if url else None
    schedule = DeliverySchedule(**{k: v for k, v in values.items() if v is not None})
    if schedule.backoff_max < schedule.backoff_initial:
        problems.append(("delivery.backoff_max", entry.get("backoff_max"),
                         "must not be shorter than backoff_initial"))
    return schedule


def _channel(problems: Problems, name: str, entry: dict[str, Any], env: Mapping[str, str],
             base_dir: Path | None) -> Channel | None:
    prefix, kind = f"channels.{name}", entry.get("type")
    if not isinstance(kind, str) or kind not in CHANNEL_TYPES:
        problems.append((f"{prefix}.type", kind, f"not one of {', '.join(CHANNEL_TYPES)}"))
        unknown(problems, prefix, entry, _ANY_CHANNEL_KEY)
        return None
    unknown(problems, prefix, entry, ("type", *_CHANNEL_KEYS[kind]))
    if kind == "slack":
        return _slack(problems, prefix, name, entry, env, base_dir)
    secret = read_secret(problems, prefix, entry,
                         "secret" if kind == "webhook" else "routing_key", env, base_dir)
    if kind == "webhook" and "url" not in entry:
        problems.append((f"{prefix}.url", None, "required: where to POST"))
        return None
    raw = entry.get("url", PAGERDUTY_URL)
    url = check_url(problems, f"{prefix}.url", raw, raw)
    return Channel(name, kind, url, secret) if url and secret else None


def _slack(problems: Problems, prefix: str, name: str, entry: dict[str, Any],
           env: Mapping[str, str], base_dir: Path | None) -> Channel | None:
    """A Slack webhook URL is itself the secret: from url_env or url_file, ideally; a plain
    ``url`` is accepted (the config file then holds the secret) and never quoted."""
    if "url" in entry and not {"url_env", "url_file"} & entry.keys():
        raw = entry["url"]
        url = check_url(problems, f"{prefix}.url", raw, redact_url(str(raw)))
        return Channel(name, "slack", url) if url else None
    if "url" in entry:
        problems.append((f"{prefix}.url", None, "give only one of url, url_env or url_file "
                                                "(url_env is best: the URL is the secret)"))
    found = read_secret(problems, prefix, entry, "url", env, base_dir)
    if found is None:
        return None
    key = "url_env" if "url_env" in entry else "url_file"
    url = check_url(problems, f"{prefix}.{key}", found, entry[key])
    return Channel(name, "slack", url) if url else None


def _route(problems: Problems, name: str, entry: dict[str, Any],
           channels: tuple[str, ...]) -> Route | None:
    prefix, before = f"routes.{name}", len(problems)
    unknown(problems, prefix, entry, _ROUTE_KEYS)
    channel = entry.get("channel")
    if channel is None:
        problems.append((f"{prefix}.channel", None, "required: the channel this route sends "
                                                    "to (one route, one channel)"))
    elif not isinstance(channel, str) or channel not in channels:
        shown = ", ".join(channels[:10]) + (", …" if len(channels) > 10 else "")
        problems.append((f"{prefix}.channel", channel, f"no such channel (defined: "
                                                       f"{shown or 'none'})"))
    owner = entry.get("owner", "primary")
    if owner not in OWNERS:
        problems.append((f"{prefix}.owner", owner, f"not one of {', '.join(OWNERS)}"))
    sets: dict[str, frozenset[str] | None] = {}
    for key, allowed in (("tenants", None), ("levels", LEVELS), ("rules", tuple(RULES)),
                         ("kinds", KINDS)):
        if key in entry:
            sets[key] = check_names(problems, f"{prefix}.{key}", entry[key], allowed)
    if "*" in (sets.get("tenants") or ()):
        sets["tenants"] = None  # "*": every tenant
    if len(problems) > before:
        return None
    return Route(name, str(channel), str(owner), **sets)


def _quiet(problems: Problems, prefix: str, entry: dict[str, Any]) -> QuietWindow | None:
    before = len(problems)
    unknown(problems, prefix, entry, _QUIET_KEYS)
    tenant = entry.get("tenant")
    if tenant is None:
        problems.append((f"{prefix}.tenant", None, 'required: a tenant id, or "*" for all'))
    else:
        check_names(problems, f"{prefix}.tenant", [tenant], None)
    daily, span = when(problems, prefix, entry)
    default = QUIET_HOURS_LEVELS if "daily" in entry else frozenset(LEVELS)
    levels = check_names(problems, f"{prefix}.levels", entry["levels"], LEVELS) \
        if "levels" in entry else default
    reason = entry.get("reason")
    if reason is not None and (not isinstance(reason, str) or not 1 <= len(reason) <= 200
                               or not reason.isprintable()):
        problems.append((f"{prefix}.reason", reason, "one line of 1 to 200 characters"))
    if len(problems) > before or levels is None or (daily is None and span is None):
        return None
    if daily is not None:
        said = f"quiet hours {daily[0]:%H:%M}-{daily[1]:%H:%M} UTC"
        return QuietWindow(str(tenant), levels, str(reason or said), daily=daily)
    start, end = span  # type: ignore[misc]
    said = f"maintenance window {fmt_time(start)} to {fmt_time(end)}"
    return QuietWindow(str(tenant), levels, str(reason or said), start=start, end=end)
