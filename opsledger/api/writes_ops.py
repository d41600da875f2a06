"""Operator writes (``operator`` scope only): incident actions (policy §3), the go-live gate
(policy §6) and policy adoption — each the same facade call as its CLI command, answering
that call's typed result.

Incident actions are operator-only, tenant-scoped incidents included: a tenant token gets
403 here whatever the incident (it never learns whether an id exists). Every write takes
``at`` (its business time; default now by the engine's clock) and ``by`` (the actor
recorded; default the token's owner).

Bodies are read through the size limit by :func:`~opsledger.api.bodies.body_of` (a chunked
body over it is the typed 413, never a partial read) and validated into the models below; a
bad field is 422 naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict

import opsledger
from opsledger import GateStatus, Incident, OperationsPolicy
from opsledger.api.auth import Operator, engine_of
from opsledger.api.bodies import body_of, documented
from opsledger.api.wire import WireJSON, reply

__all__ = ["Action", "PolicyAdopted", "router"]

router = APIRouter(prefix="/v1", tags=["operator writes"])


class Action(BaseModel):
    """Fields every operator write takes."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = None
    by: str | None = None


class OpenIncident(Action):
    """``opsledger incident open``."""

    severity: Literal["SEV1", "SEV2", "SEV3"]
    title: str
    cause: str
    tenant_id: str | None = None
    alert_ids: list[str] = []


class StatusUpdate(Action):
    """``opsledger incident update``."""

    message: str
    customer_facing: bool = True


class SeverityChange(Action):
    """``opsledger incident severity``."""

    severity: Literal["SEV1", "SEV2", "SEV3"]
    reason: str


class Resolution(Action):
    """``opsledger incident resolve``."""

    summary: str


class Rca(Action):
    """``opsledger incident rca``."""

    link: str


class FixSchedule(Action):
    """``opsledger incident schedule-fix``."""

    sprint: str


class GateAction(Action):
    """Fields of every gate write: the environment (default ``production``)."""

    environment: str = "production"


class Evidence(GateAction):
    """``opsledger gate record``: evidence for one check, with its details."""

    check: str
    result: Literal["pass", "fail"] = "pass"
    details: dict[str, str] = {}


class Activation(GateAction):
    """``opsledger gate activate``."""

    version: str


class Rollback(GateAction):
    """``opsledger gate rollback``."""

    reason: str


class PolicyProposal(Action):
    """``opsledger policy adopt``: the policy as TOML text (``toml``) or as its JSON
    mapping (``policy``) — exactly one — with the reason and when it applies."""

    toml: str | None = None
    policy: dict[str, Any] | None = None
    reason: str
    effective_at: AwareDatetime | None = None


class PolicyAdopted(BaseModel):
    """What adopting a policy did: ``adopted`` false when it was in force already."""

    adopted: bool
    effective_at: datetime


def _by(who: opsledger.Principal, body: Action) -> dict[str, Any]:
    return {"by": body.by or who.owner, "at": body.at}


_IncidentCall = Callable[..., Incident]


def _incident_action(path: str, model: type[Action], call: str, summary: str,
                     fields: Callable[[Any], dict[str, Any]]) -> None:
    """``POST /v1/incidents/{incident_id}/<path>``: ``ops.<call>(incident_id, ...)``."""

    def action(request: Request, incident_id: str, who: Operator, body: Any) -> WireJSON:
        engine = engine_of(request)
        method: _IncidentCall = getattr(engine.ops, call)
        return reply(engine.run(method, incident_id, **fields(body), **_by(who, body)))

    # (annotations are text here: the body's, made now, is given as an object)
    action.__annotations__["body"] = Annotated[model, body_of(model)]
    action.__name__ = f"incident_{path.replace('-', '_')}"
    action.__doc__ = f"{summary} (operator only). 404 unknown incident, 409 not allowed now."
    router.post(f"/incidents/{{incident_id}}/{path}", response_model=Incident,
                openapi_extra=documented(model))(action)


def _none(body: Any) -> dict[str, Any]:
    return {}


_incident_action("ack", Action, "acknowledge", "Acknowledge", _none)
_incident_action("mitigate", Action, "start_mitigation", "Mitigation started", _none)
_incident_action("status-updates", StatusUpdate, "post_status_update",
                 "Post a status update (customer-facing keeps the SEV1 cadence)",
                 lambda b: {"message": b.message, "customer_facing": b.customer_facing})
_incident_action("severity", SeverityChange, "change_severity",
                 "Change the severity (open deadlines recomputed)",
                 lambda b: {"severity": b.severity, "reason": b.reason})
_incident_action("resolve", Resolution, "resolve_incident", "Resolve (the RCA clock starts)",
                 lambda b: {"summary": b.summary})
_incident_action("rca", Rca, "publish_rca", "Publish the RCA", lambda b: {"link": b.link})
_incident_action("schedule-fix", FixSchedule, "schedule_fix",
                 "SEV3: schedule the fix in a sprint", lambda b: {"sprint": b.sprint})
_incident_action("close", Action, "close_incident", "Close", _none)


@router.post("/incidents", status_code=201, response_model=Incident,
             openapi_extra=documented(OpenIncident))
def open_incident(request: Request, who: Operator,
                  body: Annotated[OpenIncident, body_of(OpenIncident)]) -> WireJSON:
    """Open an incident (operator only; platform-wide without ``tenant_id``): 201 with the
    incident and its deadlines, which follow from the severity and the policy. 404 for an
    unknown tenant."""
    engine = engine_of(request)
    incident = engine.run(engine.ops.open_incident, severity=body.severity, title=body.title,
                          cause=body.cause, tenant_id=body.tenant_id,
                          alert_ids=list(body.alert_ids), **_by(who, body))
    answer = reply(incident, 201)
    answer.headers["Location"] = f"/v1/incidents/{incident.incident_id}"
    return answer


@router.post("/gate/evidence", response_model=GateStatus, openapi_extra=documented(Evidence))
def gate_evidence(request: Request, who: Operator,
                  body: Annotated[Evidence, body_of(Evidence)]) -> WireJSON:
    """Record evidence for one go-live check (policy §6); answers the gate's status."""
    engine = engine_of(request)
    return reply(engine.run(engine.ops.record_gate_evidence, body.check, result=body.result,
                            details=dict(body.details), environment=body.environment,
                            **_by(who, body)))


@router.post("/gate/activate", response_model=GateStatus,
             openapi_extra=documented(Activation))
def gate_activate(request: Request, who: Operator,
                  body: Annotated[Activation, body_of(Activation)]) -> WireJSON:
    """Enable SaaS mode for ``version``; 409 ``activation_refused`` naming each check not
    satisfied (the refusal itself is recorded, as the CLI's is)."""
    engine = engine_of(request)
    return reply(engine.run(engine.ops.activate_saas, body.version,
                            environment=body.environment, **_by(who, body)))


@router.post("/gate/rollback", response_model=GateStatus, openapi_extra=documented(Rollback))
def gate_rollback(request: Request, who: Operator,
                  body: Annotated[Rollback, body_of(Rollback)]) -> WireJSON:
    """Back to local-only mode, the environment and its SaaS tenants (policy §1)."""
    engine = engine_of(request)
    return reply(engine.run(engine.ops.rollback_to_local, reason=body.reason,
                            environment=body.environment, **_by(who, body)))


@router.post("/policy", response_model=PolicyAdopted,
             openapi_extra=documented(PolicyProposal))
def adopt_policy(request: Request, who: Operator,
                 body: Annotated[PolicyProposal, body_of(PolicyProposal)]) -> WireJSON:
    """Adopt a policy from ``effective_at`` (default now). Validated as ``opsledger policy
    adopt`` validates a file: 422 ``invalid_policy`` naming each key and why."""
    if (body.toml is None) == (body.policy is None):
        raise opsledger.InvalidInput("give the policy as toml or as policy, one of them")
    candidate = _short_problems(lambda: OperationsPolicy.from_toml(body.toml)
                                if body.toml is not None
                                else OperationsPolicy.from_mapping(body.policy or {}))
    engine = engine_of(request)
    effective = body.effective_at or body.at or engine.ops.clock.now()
    adopted = engine.run(engine.ops.adopt_policy, candidate, reason=body.reason,
                         effective_at=effective, **_by(who, body))
    return reply(PolicyAdopted(adopted=bool(adopted), effective_at=effective))


def _short_problems(load: Callable[[], OperationsPolicy]) -> OperationsPolicy:
    """``load()``, its :class:`~opsledger.InvalidPolicy` re-raised with each value quoted
    short (a message never echoes a long value from outside)."""
    try:
        return load()
    except opsledger.InvalidPolicy as error:
        raise opsledger.InvalidPolicy([(key, _short(value), why)
                                       for key, value, why in error.problems]) from None


def _short(value: object) -> object:
    if isinstance(value, str) and len(value) > 40:
        return value[:40] + "…"
    if isinstance(value, dict | list):
        return f"<{type(value).__name__} of {len(value)}>"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        return "<a large integer>"
    return value

