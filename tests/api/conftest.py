"""A real ``uvicorn`` on 127.0.0.1 over a real store, and helpers to talk to it over HTTP.

``live_api`` (SQLite file and PostgreSQL) starts the app of ``opsledger serve`` in a thread of
the test process on a free loopback port, without the background scheduler unless a test asks
(``api_factory(..., scheduler=True)``), and stops it afterwards. Set-up that is not under test
(tenants, the gate, tokens) goes through the same engine, under its lock.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

#: The business time the API tests start at (the clock is frozen and moved by tests).
START = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


class LiveApi:
    """A running API: ``http`` (an httpx client on its base URL), ``engine`` (for set-up under
    the engine's lock), ``clock`` (frozen; move it with ``clock.set`` / ``clock.advance``)."""

    def __init__(self, base: str, engine: Any, clock: Any) -> None:
        self.base = base
        self.engine = engine
        self.ops = engine.ops
        self.clock = clock
        self.http = httpx.Client(base_url=base, timeout=30)

    def setup(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a facade call as set-up (under the engine's lock)."""
        return self.engine.run(call, *args, **kwargs)

    def token(self, scope: str, tenant_id: str | None = None, owner: str = "test") -> str:
        """A new token of ``scope`` (for ``tenant_id``; none for operator)."""
        issued = self.setup(self.ops.create_token, scope=scope, tenant_id=tenant_id,
                            owner=owner, by="test")
        return str(issued.token)

    def auth(self, token: str) -> dict[str, str]:
        """The request headers that present ``token``."""
        return {"Authorization": f"Bearer {token}"}

    def saas_tenant(self, tenant_id: str, repositories: list[str] | None = None) -> Any:
        """A tenant in SaaS mode (gate activated first if needed)."""
        from opsledger_test_support import saas_tenant

        return self.setup(saas_tenant, self.ops, tenant_id, repositories or ["web"])

    def app_state(self) -> Any:
        """The app's state (its engine, the count of failed authentications)."""
        return self.app.state

    def close(self) -> None:
        """Close the client."""
        self.http.close()


@pytest.fixture
def api_factory() -> Iterator[Callable[..., LiveApi]]:
    """``api_factory(url, scheduler=False, **settings)``: a live API over the store at ``url``
    (stopped and closed at the end of the test)."""
    from opsledger import FrozenClock, Operations
    from opsledger.api.app import create_app
    from opsledger.api.engine import Engine, ServeSettings

    stack: list[tuple[Any, LiveApi, Any]] = []

    def make(url: str, *, scheduler: bool = False, background: Any = (),
             **settings: Any) -> LiveApi:
        clock = FrozenClock(START)
        engine = Engine(Operations.open(url, clock=clock),
                        ServeSettings(scheduler=scheduler, **settings))
        app = create_app(engine, background)
        context = running(app)
        base = context.__enter__()
        live = LiveApi(base, engine, clock)
        live.app = app
        stack.append((context, live, engine))
        return live

    yield make
    for context, live, engine in reversed(stack):
        live.close()
        context.__exit__(None, None, None)
        engine.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def live_api(request: pytest.FixtureRequest, tmp_path: Any,
             api_factory: Callable[..., LiveApi]) -> LiveApi:
    """A live API on a SQLite file (the default tier), and on PostgreSQL (the slow tier: the
    API is the same code over both stores, whose own tests run on both in the default tier;
    the serve tests with two processes on PostgreSQL stay in the default tier)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    return api_factory(url)
