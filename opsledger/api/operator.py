"""``GET /v1/status``: this process, for operators — its version, its background job (does
it lead, when did it last sweep, its last error), its notification delivery job (configured
or not, does it lead, its last step) and the failed authentications it has counted, by
reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request

from opsledger.api.auth import Operator
from opsledger.api.metrics import scheduler_state
from opsledger.api.notify import DeliveryState
from opsledger.api.wire import WireJSON, reply

__all__ = ["NotificationsStatus", "SchedulerStatus", "ServiceStatus", "router"]

router = APIRouter(tags=["operations"])


@dataclass(frozen=True)
class SchedulerStatus:
    """This process's background job: whether it runs, leads, and its last sweep."""

    enabled: bool
    leader: bool
    last_sweep_at: datetime | None
    sweeps: int
    last_error: str | None


@dataclass(frozen=True)
class NotificationsStatus:
    """This process's notification delivery job: ``configured`` (``serve --notify-config``;
    without it this process delivers nothing), whether it leads, its last step, and what
    its steps did since it started (``delivered``, ``failed`` attempts, ``dead``; the
    store's totals are on ``/metrics``)."""

    configured: bool
    leader: bool
    last_step_at: datetime | None
    steps: int
    last_error: str | None
    delivered: int
    failed: int
    dead: int


@dataclass(frozen=True)
class ServiceStatus:
    """``GET /v1/status``: the version, the scheduler, the notification delivery job,
    failed authentications by reason."""

    version: str
    scheduler: SchedulerStatus
    notifications: NotificationsStatus
    auth_failures: dict[str, int]


@router.get("/v1/status", response_model=ServiceStatus)
def status(request: Request, who: Operator) -> WireJSON:
    """This process (operators): its version, whether it leads and when it last swept,
    whether it delivers notifications, and failed authentications by reason."""
    state = scheduler_state(request)
    return reply(ServiceStatus(
        version=request.app.version,
        scheduler=SchedulerStatus(enabled=state.enabled, leader=state.leader,
                                  last_sweep_at=state.last_sweep_at, sweeps=state.sweeps,
                                  last_error=state.last_error),
        notifications=_notifications(getattr(request.app.state, "delivery", None)),
        auth_failures=request.app.state.auth_failures.snapshot(),
    ))


def _notifications(state: object) -> NotificationsStatus:
    if not isinstance(state, DeliveryState):
        state = DeliveryState()
    return NotificationsStatus(
        configured=state.enabled, leader=state.leader, last_step_at=state.last_step_at,
        steps=state.steps, last_error=state.last_error, delivered=state.delivered,
        failed=state.failed, dead=state.dead)
