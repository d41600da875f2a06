"""The notification outbox over HTTP: deliveries by state (the dead-letter list) and one
delivery with every attempt (``read`` scope), and an operator's retry (``operator`` scope).

A tenant token sees its own tenant's deliveries only: another tenant's, or a platform-wide
one (a gate refusal, a chain failure), answers exactly as an id that does not exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request

import opsledger
from opsledger import NotificationDelivery, NotificationDetail
from opsledger.api.auth import Operator, Read, engine_of, visible_tenant
from opsledger.api.wire import WireJSON, reply

__all__ = ["RetryRequest", "router"]

router = APIRouter(prefix="/v1", tags=["notifications"])

DeliveryId = Annotated[str, Path(max_length=64)]
_States = ("pending", "failed", "delivered", "dead", "suppressed")


@dataclass
class RetryRequest:
    """Which deliveries to make due again: ``ids`` (at most 1,000), or every dead one."""

    ids: list[str] = field(default_factory=list)
    all_dead: bool = False


@router.get("/notifications", response_model=list[NotificationDelivery])
def notifications(
    request: Request, who: Read,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(_States) + ")$")] = None,
    tenant: Annotated[str | None, Query(max_length=200)] = None,
    route: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> WireJSON:
    """Deliveries (one per notification and route), newest first, by state, tenant and
    route; ``state=dead`` is the dead-letter list. A tenant token: its own tenant's only."""
    if tenant is not None:
        visible_tenant(who, tenant)
    scope = tenant if who.tenant_id is None else who.tenant_id
    engine = engine_of(request)
    return reply(list(engine.run(engine.ops.notifications, state=state, tenant_id=scope,
                                 route=route, limit=limit)))


@router.get("/notifications/{delivery_id}", response_model=NotificationDetail)
def notification(request: Request, delivery_id: DeliveryId, who: Read) -> WireJSON:
    """One delivery, its notification and every attempt (status, error, next attempt)."""
    engine = engine_of(request)
    detail = engine.run(engine.ops.notification, delivery_id)
    try:
        visible_tenant(who, detail.delivery.tenant_id)
    except opsledger.UnknownTenant:
        raise opsledger.NotFound(f"no delivery {delivery_id}") from None
    return reply(detail)


@router.post("/notifications/retry", response_model=list[NotificationDelivery])
def retry(request: Request, who: Operator,
          body: Annotated[RetryRequest, Body()]) -> WireJSON:
    """Make dead (or failed) deliveries due now again, each retry recorded with the
    token's owner as the operator; the deliveries as they now stand."""
    if len(body.ids) > 1000:
        raise opsledger.InvalidInput("at most 1,000 ids a retry")
    if not body.ids and not body.all_dead:
        raise opsledger.InvalidInput("name the deliveries to retry (ids) or all_dead: true")
    engine = engine_of(request)
    return reply(list(engine.run(engine.ops.retry_notifications, body.ids,
                                 all_dead=body.all_dead, by=who.owner)))
