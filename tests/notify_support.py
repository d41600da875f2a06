"""The notification tests' shared pieces (imported as ``opsledger_test_notify``; registered
by conftest like ``opsledger_test_support``): a real webhook receiver on 127.0.0.1, the
README's signature check, a notify config for it, and SEV1 incidents near now.

``Receiver()`` serves at once on a free loopback port (``url``); also a context manager. Each
POST it reads in full is kept (``received``: arrival order, path, headers — any casing —
and body) and answered with the next scripted answer (``script(500, (429, {"Retry-After":
"120"}, 0.0), (200, {}, 1.5))``: a status, or status, headers and a delay before answering),
then with ``status`` (200 unless set) once the script is spent. A sender killed mid-request
leaves nothing received.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

__all__ = ["SECRET", "SECRET_ENV", "Answer", "Received", "Receiver", "incidents", "verify",
           "write_config"]

#: The webhook's signing secret, given to the worker in the environment variable SECRET_ENV.
SECRET = "whsec-test-0123456789abcdef"
SECRET_ENV = "NOTIFY_TEST_SECRET"
#: A scripted answer: status, headers, seconds to wait before answering.
Answer = tuple[int, dict[str, str], float]


def write_config(folder: Path, url: str, extra: str = "") -> Path:
    """``folder/notify.toml``: a webhook channel to ``url``/hook signed with SECRET, route
    ``everything`` (the primary owner's notifications) and ``escalations`` (the secondary
    owner's) to it."""
    path = folder / "notify.toml"
    path.write_text(f"""
[delivery]
backoff_initial = "1s"
backoff_max = "2s"

[channels.hook]
type = "webhook"
url = "{url}/hook"
secret_env = "{SECRET_ENV}"

[routes.everything]
channel = "hook"

[routes.escalations]
channel = "hook"
owner = "secondary"
{extra}""")
    return path


def incidents(db: str, count: int, *, resolve: int | None = None,
              ago: timedelta = timedelta(hours=2)) -> list[str]:
    """``count`` platform SEV1 incidents opened ``ago`` (a second apart), their
    acknowledgement and first status update missed (an escalation to the secondary owner
    and a missed deadline each), then acknowledged; the first ``resolve`` (default: all)
    resolved. Five notifications per resolved incident, four per other."""
    from opsledger import FrozenClock, Operations

    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0) - ago)
    with Operations.open(db, clock=clock) as ops:
        ids = []
        for i in range(count):
            ids.append(str(ops.open_incident(severity="SEV1", title=f"ingestion down {i}",
                                             cause="ingestion_outage", by="oncall").incident_id))
            clock.advance(timedelta(seconds=1))
        clock.advance(timedelta(minutes=35))
        ops.advance(clock.now())
        for incident_id in ids:
            ops.acknowledge(incident_id, by="oncall")
        clock.advance(timedelta(minutes=5))
        for incident_id in ids[:count if resolve is None else resolve]:
            ops.resolve_incident(incident_id, summary="fixed", by="oncall")
    return ids


def verify(secret: str, received: Received) -> bool:
    """Whether the webhook signature verifies with ``secret`` (README's recipe)."""
    stamp = received.headers["x-opsledger-timestamp"]
    expected = "v1=" + hmac.new(secret.encode(), f"{stamp}.".encode() + received.body,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["x-opsledger-signature"])


@dataclass(frozen=True)
class Received:
    """One POST as read: its place in the arrival order, path, headers and body."""

    order: int
    path: str
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class Receiver:
    """See the module docstring."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self._answers: list[Answer] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing received
                    return
                with receiver.lock:
                    receiver.received.append(Received(
                        len(receiver.received), self.path, httpx.Headers(dict(self.headers)),
                        body))
                    status, headers, delay = receiver._answers.pop(0) if receiver._answers \
                        else (receiver.status, {}, 0.0)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up waiting (a scripted timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                """A sender killed or timed out mid-request is expected here: quiet."""

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def script(self, *answers: int | Answer) -> None:
        """Queue answers: a status, or (status, headers, delay in seconds)."""
        with self.lock:
            self._answers.extend((a, {}, 0.0) if isinstance(a, int) else a for a in answers)

    def bodies(self) -> list[Any]:
        """Every body received, as JSON, in arrival order."""
        return [r.json() for r in self.snapshot()]

    def count(self) -> int:
        """How many POSTs were read so far."""
        with self.lock:
            return len(self.received)

    def snapshot(self) -> list[Received]:
        """Every POST read so far, in arrival order."""
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, seconds: float) -> bool:
        """Wait until ``count`` POSTs were read (at most ``seconds``); whether they were."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.count() >= count:
                return True
            time.sleep(0.002)
        return self.count() >= count

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
