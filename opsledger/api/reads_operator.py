"""The operator's reads (``operator`` scope): the hash chain's verification report, the
views' status and lag, and the tenants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

import opsledger
from opsledger import ChainReport, Operations, TenantState
from opsledger.api.auth import Operator, engine_of
from opsledger.api.reads import AsOf
from opsledger.api.wire import WireJSON, reply

__all__ = ["ViewLag", "router"]

router = APIRouter(prefix="/v1", tags=["operator"])


@dataclass(frozen=True, slots=True)
class ViewLag:
    """One view (:class:`~opsledger.ViewStatus`) against the newest event: its position,
    the head, the lag in events and, when it stopped, where and why. ``lag_seconds`` is not
    derivable from the facade's status (it gives positions, not times): always null for
    now."""

    view: str
    position: int
    head: int
    lag: int
    stopped: bool
    failed_at: int | None
    error_type: str | None
    message: str | None
    version: int | None
    lag_seconds: float | None


@router.get("/verify", response_model=ChainReport)
def verify(request: Request, who: Operator,
           from_position: Annotated[int | None, Query(alias="from", ge=1,
                                                      le=2**63 - 1)] = None) -> WireJSON:
    """Walk the hash chain over the stored events (from position ``from``, trusting the
    link before it): ``ok``, events checked, the first bad position and why."""
    engine = engine_of(request)
    return reply(engine.run(engine.ops.verify_chain, from_position))


@router.get("/projections", response_model=list[ViewLag])
def projections(request: Request, who: Operator) -> WireJSON:
    """Each view's position, the newest event's, and how far behind it is."""
    engine = engine_of(request)
    return reply([ViewLag(s.view, s.position, s.head, s.lag, s.stopped, s.failed_at,
                          s.error_type, s.message, s.version, None)
                  for s in engine.run(engine.ops.view_status)])


@router.get("/tenants", response_model=list[TenantState])
def tenants(request: Request, who: Operator, as_of: AsOf = None) -> WireJSON:
    """Every registered tenant, by id; with ``as_of``, those registered then, as they
    stood."""
    engine = engine_of(request)
    with engine.lock:
        found = engine.ops.tenants()
        if as_of is None:
            return reply(found)
        return reply([then for then in (_then(engine.ops, t.tenant_id, as_of) for t in found)
                      if then is not None])


def _then(ops: Operations, tenant_id: str, as_of: datetime) -> TenantState | None:
    try:
        return ops.tenant(tenant_id, as_of=as_of)
    except opsledger.UnknownTenant:
        return None
