"""Run ``opsledger serve``: the engine, its app and its background job under one uvicorn
worker in this process, until SIGTERM or SIGINT.

Shutdown is graceful: uvicorn stops accepting, lets the requests in flight finish, then the
app's lifespan stops the background jobs (a sweep or a delivery step in progress finishes)
and releases leadership; last the store is closed and :func:`serve` returns 0.

Logs never carry a secret: uvicorn's access log shows the path without its query string
(:class:`PathOnly`), no header is logged, and the store URL is shown redacted.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

import opsledger
from opsledger import Operations
from opsledger.api.app import Background, create_app
from opsledger.api.engine import Engine, ServeSettings
from opsledger.api.leader import SchedulerState, SweepJob, leadership_for
from opsledger.api.notify import DeliveryJob, DeliveryState
from opsledger.api.wire import clean

__all__ = ["PathOnly", "Service", "build_service", "is_loopback", "serve"]

log = logging.getLogger("opsledger.api")

#: Seconds uvicorn waits for requests in flight after SIGTERM before it cuts them.
GRACEFUL_SECONDS = 60


@dataclass
class Service:
    """What one ``serve`` process runs: the engine, the app and its background jobs."""

    engine: Engine
    app: FastAPI
    job: SweepJob | None
    delivery: DeliveryJob | None = None


def build_service(ops: Operations, settings: ServeSettings,
                  notify_config: opsledger.NotifyConfig | None = None) -> Service:
    """The app over ``ops`` (with the sweep job unless ``settings.scheduler`` is off, and
    the notification delivery job when ``notify_config`` is given — each of its steps
    catches the views up itself); ``app.state.scheduler`` and ``app.state.delivery``
    are the jobs' states for ``/v1/status`` and ``/metrics``."""
    engine = Engine(ops, settings)
    job = SweepJob(engine, leadership_for(ops.store)) if settings.scheduler else None
    delivery = None if notify_config is None else DeliveryJob(
        engine, notify_config, leadership_for(ops.store, "notify"))
    background: list[Background] = [j for j in (job, delivery) if j is not None]
    app = create_app(engine, background)
    app.state.scheduler = job.state if job is not None else SchedulerState()
    app.state.delivery = delivery.state if delivery is not None else DeliveryState()
    app.state.delivery_latency = delivery.latency if delivery is not None else None
    return Service(engine, app, job, delivery)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PathOnly(logging.Filter):
    """Drops the query string from uvicorn's access log lines; the path stays, anything in
    it that looks like a token replaced and a long one cut (:func:`~opsledger.api.wire.clean`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's path argument."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], clean(args[2].partition("?")[0], 200), *args[3:])
        return True


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`~opsledger.InvalidInput` (a usage error
    in the CLI) when the address cannot be had (in use, not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections queue from now on, while the app starts
    except OSError as exc:
        sock.close()
        raise opsledger.InvalidInput(f"cannot listen on {host}:{port}: "
                                     f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _logging() -> None:
    ours = logging.getLogger("opsledger")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
    logging.getLogger("uvicorn.access").addFilter(PathOnly())


def serve(ops: Operations, settings: ServeSettings,
          announce: Callable[[str], None] = print,
          notify_config: opsledger.NotifyConfig | None = None) -> int:
    """Serve until SIGTERM/SIGINT; closes ``ops`` at the end. ``announce`` gets the line
    ``listening on http://HOST:PORT`` (the port actually bound: ``port=0`` picks one);
    with ``notify_config`` the process also delivers notifications (under leadership)."""
    service = build_service(ops, settings, notify_config)
    try:
        sock = _bind(settings.host, settings.port)
    except BaseException:
        service.engine.close()
        raise
    config = uvicorn.Config(service.app, log_level="info", lifespan="on", workers=1,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS, server_header=False)
    _logging()
    server = uvicorn.Server(config)
    received: list[int] = []

    def note(sig: int, frame: FrameType | None) -> None:
        """Before uvicorn listens: stop at once. After: uvicorn re-raises the signal it
        stopped on when it is done, and we exit cleanly instead of dying of it."""
        received.append(sig)
        server.should_exit = True

    previous: dict[int, Any] = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    announce(f"listening on http://{shown}:{port}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        service.engine.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped%s", f" on signal {received[0]}" if received else "")
    return 0 if server.started else 1
