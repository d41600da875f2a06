"""The dashboard's pages under ``/ui`` (issue 18), behind the session of
:mod:`opsledger.api.ui_session`: overview, tenant, incident, timeline (RCA) and gate, each
with ``as_of`` (the state as it stood, the same point-in-time reads as ``--as-of``), and the
incident actions an operator's session may take (the same facade commands as the API's,
``by`` the token's owner).

A tenant token's session sees its tenant only: another tenant's page or incident answers
the very 404 of an id that does not exist. A read-only session sees no action buttons, and
its POST is 403; every POST needs the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

import opsledger
from opsledger.api.auth import engine_of
from opsledger.api.engine import Engine
from opsledger.api.reads_incidents import visible_incident
from opsledger.api.ui_render import HEADERS, UiRoute, page, parse_time
from opsledger.api.ui_session import Form, Session, UiSession, check_csrf
from opsledger.api.ui_tenant import summary, tenant_page, timeline_page
from opsledger.api.ui_views import ACTIONS, IncidentPage, gate_page, incident_page, overview
from opsledger.api.wire import clean

__all__ = ["router"]

T = TypeVar("T")
router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

AsOfText = Annotated[str | None, Query(max_length=40)]
TenantId = Annotated[str, Query(alias="id", min_length=1, max_length=256)]
IncidentId = Annotated[str, Path(max_length=64)]
#: Open incidents the overview lists (most severe, then oldest, first).
SHOWN_INCIDENTS = 20
Kinds = Annotated[list[str] | None, Query(alias="kind", max_length=50)]


def _head(engine: Engine) -> int:
    """The store's head position, read before a page's data (so a write racing the read
    moves the head past it and the next poll refetches)."""
    return engine.ops.views.head()


@router.get("", include_in_schema=False)
def root() -> Response:
    """``/ui`` is the overview."""
    return RedirectResponse("/ui/", status_code=307, headers=HEADERS)


def _render(request: Request, session: Session, template: str, as_of_text: str | None,
            read: Callable[[Engine, datetime | None], T], title: Callable[[T], str],
            **context: Any) -> Response:
    """A page: ``read(engine, as_of)`` under the engine's lock (after the head position),
    rendered with ``template``, titled ``title(data)``."""
    engine = engine_of(request)
    moment = parse_time("as_of", as_of_text)
    with engine.lock:
        head = _head(engine)
        data = read(engine, moment)
        now = engine.ops.clock.now()
    return page(session, template, as_of=moment, head=head, now=now, data=data,
                title=title(data), **context)


@router.get("/")
def overview_page(request: Request, session: UiSession, as_of: AsOfText = None) -> Response:
    """A tile per tenant (SLOs met or not, budget and burn, open alerts and incidents by
    severity) and the open incidents."""
    return _render(request, session, "overview.html.j2", as_of,
                   lambda engine, moment: overview(engine.ops, session.principal, moment),
                   lambda _: "Overview", shown_incidents=SHOWN_INCIDENTS)


@router.get("/tenant")
def tenant(request: Request, session: UiSession, tenant_id: TenantId,
           as_of: AsOfText = None) -> Response:
    """One tenant: SLOs per repository, charts, alerts and incidents."""
    return _render(request, session, "tenant.html.j2", as_of,
                   lambda engine, moment: tenant_page(engine.ops, session.principal,
                                                      tenant_id, moment),
                   lambda _: f"Tenant {tenant_id}", path="/ui/tenant", keep={"id": tenant_id})


@router.get("/timeline")
def timeline(request: Request, session: UiSession, tenant_id: TenantId,
             since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
             until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
             kinds: Kinds = None, as_of: AsOfText = None) -> Response:
    """The tenant's RCA replay over a range, filtered by kind."""
    start, end = parse_time("from", since), parse_time("to", until)
    chosen = frozenset(k for k in kinds or () if k)
    return _render(request, session, "timeline.html.j2", as_of,
                   lambda engine, moment: timeline_page(engine.ops, session.principal,
                                                        tenant_id, start, end, chosen, moment),
                   lambda _: f"Timeline of {tenant_id}", path="/ui/timeline",
                   keep={"id": tenant_id, "from": since or "", "to": until or ""},
                   summary=summary)


@router.get("/incidents/{incident_id}")
def incident(request: Request, session: UiSession, incident_id: IncidentId,
             as_of: AsOfText = None) -> Response:
    """One incident: its deadlines (live countdowns), escalation, linked alerts, timeline,
    and an operator's action buttons."""

    def read(engine: Engine, moment: datetime | None) -> IncidentPage:
        found = visible_incident(engine, session.principal, incident_id, moment)
        return incident_page(engine.ops, session.principal, found, moment)

    return _render(request, session, "incident.html.j2", as_of, read,
                   lambda data: f"Incident {data.incident.title}",
                   path=f"/ui/incidents/{quote(incident_id, safe='')}", summary=summary)


@router.get("/gate")
def gate(request: Request, session: UiSession, as_of: AsOfText = None) -> Response:
    """The go-live gate: each check with its evidence and state, the constraints and their
    grace deadlines."""
    return _render(request, session, "gate.html.j2", as_of,
                   lambda engine, moment: gate_page(engine.ops, session.principal, moment),
                   lambda _: "Go-live gate", path="/ui/gate")


def _act(engine: Engine, session: Session, incident_id: str, action: str,
         form: dict[str, str]) -> str:
    """Run one incident action as the session's owner; what to tell the user."""
    ops, by = engine.ops, session.principal.owner
    if action == "ack":
        ops.acknowledge(incident_id, by=by)
        return "Acknowledged."
    if action == "mitigate":
        ops.start_mitigation(incident_id, by=by)
        return "Mitigation started."
    if action == "status":
        ops.post_status_update(incident_id, message=form.get("message", ""), by=by,
                               customer_facing=form.get("customer_facing") == "on")
        return "Status update posted."
    ops.resolve_incident(incident_id, summary=form.get("summary", ""), by=by)
    return "Resolved."


@router.post("/incidents/{incident_id}/{action}")
def incident_action(request: Request, session: UiSession, incident_id: IncidentId,
                    action: Annotated[str, Path(max_length=20)], form: Form) -> Response:
    """Acknowledge, post a status update, start mitigation or resolve (operator sessions
    only, with the session's CSRF token); back to the incident page with the outcome."""
    check_csrf(session, form)
    if not session.operator:
        raise opsledger.Forbidden("operator", session.principal.scope)
    if action not in ACTIONS:
        raise opsledger.NotFound("no such action")
    engine = engine_of(request)
    with engine.lock:
        visible_incident(engine, session.principal, incident_id, None)
        try:
            session.flash = _act(engine, session, incident_id, action, form)
        except (opsledger.Conflict, opsledger.InvalidInput) as refused:
            session.flash = f"Refused: {clean(str(refused), 200)}"
    return RedirectResponse(f"/ui/incidents/{quote(incident_id, safe='')}", status_code=303,
                            headers=HEADERS)

