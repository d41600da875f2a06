"""Incidents read by id (``read`` scope) and across tenants (``operator`` scope).

An incident found by id is shown only to a caller who may see its tenant: another tenant's
incident, or a platform-wide one asked for with a tenant token, answers exactly the 404 of
an id that does not exist (no existence leak)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

import opsledger
from opsledger import Deadline, Incident, Principal
from opsledger.api.auth import Operator, Read, engine_of, visible_tenant
from opsledger.api.engine import Engine
from opsledger.api.reads import AsOf, State
from opsledger.api.wire import WireJSON, reply

__all__ = ["router", "visible_incident"]

router = APIRouter(prefix="/v1", tags=["reads"])

IncidentId = Annotated[str, Path(max_length=64)]


def visible_incident(engine: Engine, who: Principal, incident_id: str,
              as_of: datetime | None) -> Incident:
    """The incident (as it stood ``as_of``), if ``who`` may see it; else the unknown id's
    404."""
    with engine.lock:
        now = engine.ops.incident(incident_id)
        try:
            visible_tenant(who, now.tenant_id)
        except opsledger.UnknownTenant:
            raise opsledger.NotFound(f"no incident {incident_id}") from None
        if as_of is None:
            return now
        return engine.ops.incident(incident_id, as_of=as_of)


@router.get("/incidents/{incident_id}", response_model=Incident)
def incident(request: Request, incident_id: IncidentId, who: Read,
             as_of: AsOf = None) -> WireJSON:
    """One incident with its deadlines; with ``as_of``, as it stood then."""
    return reply(visible_incident(engine_of(request), who, incident_id, as_of))


@router.get("/incidents/{incident_id}/deadlines", response_model=list[Deadline])
def incident_deadlines(request: Request, incident_id: IncidentId, who: Read,
                       as_of: AsOf = None) -> WireJSON:
    """The incident's deadlines (policy §3: acknowledge, mitigate, status updates, RCA,
    fix), met, missed or pending; with ``as_of``, as they stood then."""
    return reply(list(visible_incident(engine_of(request), who, incident_id, as_of).deadlines))


@router.get("/incidents", response_model=list[Incident])
def all_incidents(request: Request, who: Operator, as_of: AsOf = None, state: State = None,
                  tenant: Annotated[str | None, Query(max_length=200)] = None) -> WireJSON:
    """Incidents of one tenant (``tenant``) or of every tenant and the platform-wide ones;
    with ``as_of``, those that existed then, each as it stood."""
    engine = engine_of(request)
    return reply(engine.run(engine.ops.incidents, tenant_id=tenant, all_tenants=tenant is None,
                            state=state, as_of=as_of))
