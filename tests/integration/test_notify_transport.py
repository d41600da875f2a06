"""The HTTP transport against real sockets on 127.0.0.1: what an answer carries (never the
URL: a Slack webhook URL is a secret), Retry-After in both forms, no redirect followed."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from opsledger_test_notify import Receiver

from opsledger.services.notify_channels import Outgoing
from opsledger.services.notify_transport import (
    MAX_RETRY_AFTER,
    Answer,
    HttpTransport,
    retry_after_seconds,
)

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _post(url: str, timeout: float = 2.0) -> Answer:
    with HttpTransport(lambda: NOW) as transport:
        return transport.post(Outgoing(url, b'{"a": 1}', {"Content-Type": "application/json"},
                                       "alert/x/triggered"), timeout)


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("120", NOW) == 120.0
    assert retry_after_seconds(format_datetime(NOW + timedelta(minutes=3), usegmt=True),
                               NOW) == 180.0
    assert retry_after_seconds(format_datetime(NOW - timedelta(minutes=3), usegmt=True),
                               NOW) == 0.0
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("-5", NOW) is None
    assert retry_after_seconds("9" * 40, NOW) == MAX_RETRY_AFTER  # bounded: times stay in range
    assert retry_after_seconds(None, NOW) is None


def test_an_answer_has_the_status_and_the_delay_asked_for_on_429_and_503_only() -> None:
    with Receiver() as hook:
        hook.script((429, {"Retry-After": "7"}, 0.0), (503, {"Retry-After": "9"}, 0.0),
                    (500, {"Retry-After": "11"}, 0.0), 204)
        answers = [_post(hook.url + "/in") for _ in range(4)]
        assert [(a.status, a.retry_after, a.error) for a in answers] == [
            (429, 7.0, None), (503, 9.0, None), (500, None, None), (204, None, None)]
        assert hook.received[0].body == b'{"a": 1}' and hook.received[0].path == "/in"


def test_a_redirect_is_not_followed_and_a_timeout_is_named() -> None:
    with Receiver() as hook:
        hook.script((302, {"Location": hook.url + "/elsewhere"}, 0.0), (200, {}, 1.5))
        moved = _post(hook.url)
        assert moved.status == 302
        slow = _post(hook.url, timeout=1.0)
        assert (slow.status, slow.error) == (None, "timeout")
        assert len(hook.received) == 2


def test_a_connection_error_is_named_by_its_type_never_by_the_url() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = _post(f"http://127.0.0.1:{port}/services/T000/B000/secret-part")
    assert answer.status is None
    assert answer.error == "ConnectError"
