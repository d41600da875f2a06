"""The notification config: what a valid one gives, every problem of a bad one named at once
(key, value, why), secrets never shown, quiet windows and route matching."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from opsledger.domain.errors import InvalidNotifyConfig

from opsledger.results import Notification
from opsledger.services import notify_config
from opsledger.services.notify_config import (
    PAGERDUTY_URL,
    NotifyConfig,
    QuietWindow,
    Route,
    load_notify_config,
)

WEBHOOK_SECRET = "whsec-do-not-leak-1"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/do-not-leak-2"
ROUTING_KEY = "R0UT1NGKEYdoNOTleak3xxxxxxxxxxxx"
ENV = {"OPSLEDGER_WEBHOOK_SECRET": WEBHOOK_SECRET, "SLACK_WEBHOOK_URL": SLACK_URL,
       "PAGERDUTY_ROUTING_KEY": ROUTING_KEY}
SECRETS = (WEBHOOK_SECRET, SLACK_URL, ROUTING_KEY, "do-not-leak")


def example() -> str:
    """The TOML example of the module's docstring, as an operator would copy it."""
    doc = (notify_config.__doc__ or "").split("Example::", 1)[1]
    return "\n".join(line[4:] for line in doc.splitlines())


def problems(text: str, env: dict[str, str] | None = None,
             base_dir: Path | None = None) -> list[tuple[str, object, str]]:
    with pytest.raises(InvalidNotifyConfig) as caught:
        load_notify_config(text, ENV if env is None else env, base_dir)
    return caught.value.problems


def keys(found: list[tuple[str, object, str]]) -> set[str]:
    return {key for key, _, _ in found}


def note(kind: str = "alert.triggered", *, tenant: str | None = "acme",
         level: str = "critical", audience: str = "primary",
         rule: str | None = "no_successful_ingestion",
         at: datetime = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)) -> Notification:
    return Notification(notification_id=f"alert/a1/{kind}", position=1, subject="alert/a1",
                        kind=kind, tenant_id=tenant, level=level, audience=audience,
                        rule=rule, occurred_at=at, summary="s", details={})


# ---- a valid config ---------------------------------------------------------------------
def test_the_documented_example_parses_with_its_secrets_resolved() -> None:
    config = load_notify_config(example(), ENV)

    assert set(config.channels) == {"oncall-webhook", "team-slack", "pager"}
    assert config.channels["oncall-webhook"].secret == WEBHOOK_SECRET
    assert config.channels["team-slack"].url == SLACK_URL
    assert config.channels["pager"].secret == ROUTING_KEY
    assert config.channels["pager"].url == PAGERDUTY_URL
    assert [r.name for r in config.routes] == ["page-primary", "escalation"]
    assert config.routes[0].levels == {"critical", "high"}
    assert config.routes[1].owner == "secondary"
    assert config.delivery.max_age == timedelta(hours=24)
    assert config.delivery.base_url == "https://ops.example.com"
    hours, window = config.quiet
    assert hours.daily == (time(22, 0), time(7, 0))
    assert hours.levels == {"high", "medium"}  # critical always pages
    assert window.levels == {"critical", "high", "medium"}
    assert window.reason == "database upgrade"


def test_secrets_are_never_in_the_repr_of_the_config() -> None:
    shown = repr(load_notify_config(example(), ENV))
    assert not any(secret in shown for secret in SECRETS)


def test_secrets_are_read_from_files_relative_to_the_base_dir(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text(WEBHOOK_SECRET + "\n")
    (tmp_path / "slack.url").write_text(SLACK_URL + "\n")
    text = """
    [channels.hook]
    type = "webhook"
    url = "http://127.0.0.1:8080/hook"
    secret_file = "hook.secret"
    [channels.chat]
    type = "slack"
    url_file = "slack.url"
    """
    config = load_notify_config(text, {}, tmp_path)
    assert config.channels["hook"].secret == WEBHOOK_SECRET
    assert config.channels["hook"].url == "http://127.0.0.1:8080/hook"
    assert config.channels["chat"].url == SLACK_URL


def test_an_empty_config_has_no_channels_and_the_default_schedule() -> None:
    config = load_notify_config("", {})
    assert config == NotifyConfig(channels={}, routes=())


# ---- every problem at once --------------------------------------------------------------
BAD = """
colour = "blue"
[delivery]
max_age = "90d"
timeout = "0s"
backoff_initial = "soon"
retries = 3
[channels.hook]
type = "webhook"
url = "http://hooks.example.com/x"
secret_env = "MISSING_SECRET"
colour = "red"
[channels.chat]
type = "slack"
url = "https://hooks.slack.com/services/T000/B000/do-not-leak-4"
url_env = "SLACK_WEBHOOK_URL"
[channels.pager]
type = "pagerduty"
[channels.sms]
type = "sms"
[channels."bad name!"]
type = "webhook"
[routes.one]
channel = "nowhere"
owner = "tertiary"
levels = ["urgent"]
rules = ["no_such_rule"]
kinds = ["alert.exploded"]
tenants = []
[routes.two]
owner = "primary"
[[quiet]]
tenant = "acme"
daily = "25:00-07:00"
[[quiet]]
tenant = "acme"
start = "2026-12-05T02:00:00"
end = "2026-12-05T04:00:00Z"
[[quiet]]
tenant = "*"
start = "2026-12-05T04:00:00Z"
end = "2026-12-05T02:00:00Z"
[[quiet]]
daily = "22:00-07:00"
start = "2026-12-05T04:00:00Z"
[[quiet]]
tenant = "acme"
[[quiet]]
tenant = "acme"
start = "2150-01-01T00:00:00Z"
end = "2151-01-01T00:00:00Z"
"""


def test_every_problem_is_named_together_with_its_key_value_and_why() -> None:
    found = problems(BAD, {"SLACK_WEBHOOK_URL": SLACK_URL})
    by_key = {key: (value, why) for key, value, why in found}

    assert {"colour", "delivery.max_age", "delivery.timeout", "delivery.backoff_initial",
            "delivery.retries", "channels.hook.url", "channels.hook.secret_env",
            "channels.hook.colour", "channels.chat.url", "channels.pager.routing_key",
            "channels.sms.type", "channels.bad name!", "routes.one.channel",
            "routes.one.owner", "routes.one.levels", "routes.one.rules", "routes.one.kinds",
            "routes.one.tenants", "routes.two.channel", "quiet[0].daily", "quiet[1].start",
            "quiet[2].end", "quiet[3]", "quiet[3].tenant", "quiet[4]",
            "quiet[5].start", "quiet[5].end"} <= keys(found)
    assert by_key["delivery.max_age"] == ("90d", "must lie between 1m and 30d")
    assert "127.0.0.1, localhost or ::1" in by_key["channels.hook.url"][1]
    assert by_key["channels.hook.secret_env"] == ("MISSING_SECRET", "not set in the "
                                                                   "environment")
    assert "routing_key_env or routing_key_file" in by_key["channels.pager.routing_key"][1]
    assert by_key["routes.one.channel"][0] == "nowhere"
    assert by_key["routes.one.levels"][0] == "urgent"
    assert by_key["routes.one.owner"][0] == "tertiary"
    assert "Z or an offset" in by_key["quiet[1].start"][1]
    assert by_key["quiet[2].end"][1] == "must be after start"
    assert by_key["quiet[5].start"][1] == "must lie in 2000-2100 UTC"


def test_a_missing_secret_file_is_named_by_its_path(tmp_path: Path) -> None:
    (tmp_path / "empty.key").write_text("\n")
    text = """
    [channels.a]
    type = "webhook"
    url = "https://hooks.example.com/a"
    secret_file = "absent.secret"
    [channels.b]
    type = "pagerduty"
    routing_key_file = "empty.key"
    [channels.c]
    type = "webhook"
    url = "https://hooks.example.com/c"
    secret_env = "A"
    secret_file = "absent.secret"
    """
    found = {key: (value, why) for key, value, why in problems(text, {"A": "x"}, tmp_path)}
    assert found["channels.a.secret_file"][0] == "absent.secret"
    assert found["channels.a.secret_file"][1].startswith("cannot be read")
    assert found["channels.b.routing_key_file"] == ("empty.key", "is empty")
    assert found["channels.c.secret"][1] == "give only one of secret_env or secret_file"


def test_a_directory_is_not_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    text = '[channels.p]\ntype = "pagerduty"\nrouting_key_file = "keys"\n'
    (key, value, why), = problems(text, {}, tmp_path)
    assert (key, value) == ("channels.p.routing_key_file", "keys")
    assert why.startswith("cannot be read")


@pytest.mark.skipif(os.geteuid() == 0,
                    reason="needs a non-root user: root reads a file whatever its mode")
def test_an_unreadable_secret_file_is_a_problem(tmp_path: Path) -> None:
    secret = tmp_path / "locked"
    secret.write_text(ROUTING_KEY)
    secret.chmod(0)
    text = '[channels.p]\ntype = "pagerduty"\nrouting_key_file = "locked"\n'
    (key, value, why), = problems(text, {}, tmp_path)
    assert (key, value) == ("channels.p.routing_key_file", "locked")
    assert why.startswith("cannot be read")


def test_no_secret_is_quoted_by_an_error(tmp_path: Path) -> None:
    (tmp_path / "slack.url").write_text("http://hooks.slack.com/do-not-leak-5")
    text = BAD + """
    [channels.leaky]
    type = "slack"
    url_file = "slack.url"
    [channels.leaky2]
    type = "slack"
    url = "ftp://hooks.slack.com/do-not-leak-6"
    """
    with pytest.raises(InvalidNotifyConfig) as caught:
        load_notify_config(text, {"SLACK_WEBHOOK_URL": SLACK_URL}, tmp_path)
    shown = str(caught.value) + repr(caught.value.problems)
    assert "leaky" in shown
    assert not any(secret in shown for secret in SECRETS)


def test_not_toml_and_too_large_are_problems_of_the_file() -> None:
    assert keys(problems("[channels")) == {"<file>"}
    (key, _, why), = problems("#" * (256 * 1024 + 1))
    assert (key, why) == ("<file>", "larger than 256 KiB")


def test_the_number_of_routes_is_bounded() -> None:
    text = '[channels.c]\ntype = "slack"\nurl = "https://hooks.slack.com/x"\n' + "".join(
        f'[routes.r{i}]\nchannel = "c"\n' for i in range(201))
    assert ("routes", 201, "at most 200 entries") in problems(text)


def test_delivery_bounds_are_checked_against_each_other() -> None:
    text = '[delivery]\nbackoff_initial = "10m"\nbackoff_max = "1m"\ntimeout = "121s"\n'
    assert keys(problems(text)) == {"delivery.backoff_max", "delivery.timeout"}


# ---- quiet hours and maintenance windows --------------------------------------------------
def hours(daily: str, tenant: str = "acme") -> QuietWindow:
    text = f'[[quiet]]\ntenant = "{tenant}"\ndaily = "{daily}"\n'
    return load_notify_config(text, {}).quiet[0]


@pytest.mark.parametrize(("at", "quiet"), [
    (time(21, 59), False), (time(22, 0), True), (time(23, 59), True), (time(0, 0), True),
    (time(6, 59), True), (time(7, 0), False), (time(12, 0), False),
])
def test_quiet_hours_crossing_midnight(at: time, quiet: bool) -> None:
    moment = datetime.combine(datetime(2026, 12, 3).date(), at, tzinfo=UTC)
    assert hours("22:00-07:00").suppresses(note(level="high", at=moment)) is quiet


def test_quiet_hours_within_a_day_and_in_another_offset() -> None:
    window = hours("09:00-17:00")
    assert window.suppresses(note(level="medium", at=datetime(2026, 12, 3, 9, tzinfo=UTC)))
    cet = timezone(timedelta(hours=1))  # hours are UTC whatever the time's own offset
    assert window.suppresses(note(level="medium", at=datetime(2026, 12, 3, 17, 30, tzinfo=cet)))
    assert not window.suppresses(note(level="medium", at=datetime(2026, 12, 3, 9, 30,
                                                                  tzinfo=cet)))


def test_quiet_hours_never_silence_a_critical_page_nor_other_tenants() -> None:
    window = hours("00:00-23:59")
    at = datetime(2026, 12, 3, 3, tzinfo=UTC)
    assert not window.suppresses(note(level="critical", at=at))
    assert not window.suppresses(note(level="high", tenant="other", at=at))
    assert not window.suppresses(note(level="high", tenant=None, at=at))


def test_a_maintenance_window_suppresses_every_level_while_it_lasts() -> None:
    config = load_notify_config(example(), ENV)
    inside = datetime(2026, 12, 5, 3, tzinfo=UTC)
    for level in ("critical", "high", "medium"):
        assert config.quiet_reason(note(level=level, tenant="globex", at=inside)) == \
            "database upgrade"
    assert config.quiet_reason(note(tenant=None, at=inside)) == "database upgrade"
    assert config.quiet_reason(note(at=datetime(2026, 12, 5, 4, tzinfo=UTC))) is None
    assert config.quiet_reason(note(at=datetime(2026, 12, 5, 1, 59, tzinfo=UTC))) is None


def test_quiet_reason_is_the_first_window_that_applies() -> None:
    text = """
    [[quiet]]
    tenant = "acme"
    daily = "22:00-07:00"
    levels = ["critical", "high", "medium"]
    [[quiet]]
    tenant = "*"
    start = 2026-12-05T02:00:00+01:00
    end = 2026-12-05T04:00:00+01:00
    """
    config = load_notify_config(text, {})
    assert config.quiet[1].start == datetime(2026, 12, 5, 1, tzinfo=UTC)
    at = datetime(2026, 12, 5, 1, 30, tzinfo=UTC)
    assert config.quiet_reason(note(at=at)) == "quiet hours 22:00-07:00 UTC"
    assert config.quiet_reason(note(tenant="globex", at=at)) == \
        "maintenance window 2026-12-05T01:00:00.000Z to 2026-12-05T03:00:00.000Z"


# ---- routes ---------------------------------------------------------------------------------
ROUTES = """
[channels.c]
type = "slack"
url = "https://hooks.slack.com/x"
[routes.everything]
channel = "c"
[routes.acme-critical]
channel = "c"
tenants = ["acme"]
levels = ["critical"]
[routes.ingestion]
channel = "c"
rules = ["no_successful_ingestion"]
kinds = ["alert.triggered", "alert.resolved"]
[routes.escalations]
channel = "c"
owner = "secondary"
[routes.star]
channel = "c"
tenants = ["*"]
"""


def routed(n: Notification) -> list[str]:
    config = load_notify_config(ROUTES, {})
    return [r.name for r in config.routes_for(n)]


@pytest.mark.policy("7.owners")
def test_an_escalation_goes_only_to_the_secondary_owners_route() -> None:
    escalated = note("incident.escalated", audience="secondary", rule=None)
    assert routed(escalated) == ["escalations"]
    assert "escalations" not in routed(note())


def test_routes_match_by_tenant_level_rule_and_kind() -> None:
    assert routed(note()) == ["everything", "acme-critical", "ingestion", "star"]
    assert routed(note(level="high")) == ["everything", "ingestion", "star"]
    assert routed(note(tenant="globex")) == ["everything", "ingestion", "star"]
    assert routed(note("alert.withdrawn")) == ["everything", "acme-critical", "star"]
    assert routed(note(rule="publish_error_rate")) == ["everything", "acme-critical", "star"]


def test_a_platform_notification_matches_only_routes_for_any_tenant() -> None:
    gate = note("gate.activation_refused", tenant=None, level="high", rule=None)
    assert routed(gate) == ["everything", "star"]


def test_a_route_is_a_plain_value() -> None:
    route = Route("r", "c", tenants=frozenset({"acme"}))
    assert route.matches(note())
    assert not replace(route, owner="secondary").matches(note())
