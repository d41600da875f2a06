"""A real webhook receiver on 127.0.0.1 for the outbox tests, answering from a script.

``with Receiver() as hook:`` serves on a free loopback port (``hook.url``); each POST takes
the next scripted answer (``hook.script(500, (200, {}, 1.5), ...)``: a status, or status,
headers and a delay before answering), then 200 once the script is spent, and is kept
(``hook.received``: path, headers, body) whether or not the sender waited for the answer.
The tests load it by path (they run with ``--import-mode=importlib``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], float]


@dataclass(frozen=True)
class Received:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class Receiver:
    """See the module docstring."""

    def __init__(self) -> None:
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    status, headers, delay = receiver._answers.pop(0) if receiver._answers \
                        else (200, {}, 0.0)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up waiting (a scripted timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def script(self, *answers: int | Answer) -> None:
        """Queue answers: a status, or (status, headers, delay in seconds)."""
        with self._lock:
            self._answers.extend((a, {}, 0.0) if isinstance(a, int) else a for a in answers)

    def bodies(self) -> list[Any]:
        """Every body received, as JSON, in arrival order."""
        with self._lock:
            return [r.json() for r in self.received]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

