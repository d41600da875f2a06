"""The ASGI application of ``opsledger serve``: :func:`create_app` builds it over an
:class:`~opsledger.api.engine.Engine`, with its routers, the typed error handlers, the body
size limit, and the background jobs started and stopped by its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI

import opsledger
from opsledger.api.auth import AuthFailures
from opsledger.api.engine import Engine
from opsledger.api.ui_session import Sessions
from opsledger.api.wire import ERROR_RESPONSES, WireJSON, error_body, install_error_handlers

__all__ = ["Background", "BodyLimit", "create_app"]


class Background(Protocol):
    """A job the app runs while it serves (the scheduler): started after the app starts,
    stopped — finishing what it is doing — before the store is closed."""

    def start(self) -> None:
        """Begin."""

    def stop(self) -> None:
        """Finish the current step and stop."""


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused with 413 — at once by
    its ``Content-Length``, or when a chunked body passes the limit while it is read — and
    never reaches a route in part."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise opsledger.PayloadTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = WireJSON(error_body(opsledger.PayloadTooLarge(self.limit)), status_code=413,
                            headers={"Connection": "close"})
        await response(scope, receive, send)


def create_app(engine: Engine, background: Sequence[Background] = ()) -> FastAPI:
    """The HTTP API over ``engine`` (its OpenAPI document at ``/openapi.json``, docs at
    ``/docs``); ``background`` jobs run for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for job in background:
            job.start()
        try:
            yield
        finally:
            for job in reversed(background):
                job.stop()

    app = FastAPI(
        title="opsledger",
        version=_version(),
        summary="The SaaS Production Operations Policy engine over HTTP",
        default_response_class=WireJSON,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.auth_failures = AuthFailures()
    app.state.ui_sessions = Sessions()
    install_error_handlers(app)
    for router in _routers():
        app.include_router(router, responses=ERROR_RESPONSES)
    app.add_middleware(BodyLimit, limit=engine.settings.max_body_bytes)
    return app


def _routers() -> list[Any]:
    """The API's routers, one module per area."""
    from opsledger.api import (
        metrics,
        operator,
        reads,
        reads_audit,
        reads_incidents,
        reads_notify,
        reads_operator,
        ui,
        ui_login,
        writes,
    )

    return [module.router for module in (writes, reads, reads_audit, reads_incidents,
                                         reads_notify, reads_operator, operator, metrics,
                                         ui_login, ui)]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opsledger")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        return "0"
