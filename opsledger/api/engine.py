"""What the HTTP service shares between its request threads and its background jobs: one
:class:`~opsledger.Operations` over the store, used under one lock (the facade's services
keep in-process state — the alert process, caches — and SQLite has one writer anyway), and
the service's settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from opsledger import Operations

__all__ = ["Engine", "ServeSettings"]

P = ParamSpec("P")
R = TypeVar("R")

#: The largest request body the API reads (413 beyond): 16 MiB, about 40,000 Pumuki lines.
DEFAULT_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """How ``opsledger serve`` runs (the CLI builds this from its options and environment;
    the library itself reads no environment)."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: Run the background jobs (view catch-up, deadline and alert sweeps under leadership).
    scheduler: bool = True
    #: Seconds between background ticks (a leader's sweep; a follower's leadership attempt).
    tick_seconds: float = 1.0
    max_body_bytes: int = DEFAULT_MAX_BODY
    #: ``/metrics`` needs this bearer token when set; else it answers loopback clients only.
    metrics_token: str | None = None


class Engine:
    """One :class:`Operations` shared by the request threads and the background jobs."""

    def __init__(self, ops: Operations, settings: ServeSettings | None = None) -> None:
        self.ops = ops
        self.settings = settings or ServeSettings()
        self.lock = threading.RLock()

    def run(self, call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``call(*args, **kwargs)`` under the engine's lock."""
        with self.lock:
            return call(*args, **kwargs)

    def close(self) -> None:
        """Release the store (after the server has stopped)."""
        with self.lock:
            self.ops.close()
