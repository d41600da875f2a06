"""Authentication and tenant scope as FastAPI dependencies (STYLE §19): every route declares
the scope it needs, so a route without one does not exist.

* :func:`needs` — ``Depends(needs("read"))``: the caller's :class:`~opsledger.Principal`, or
  401 (no valid token) / 403 (a valid token of another scope). An operator token may do
  everything.
* :func:`tenant_scope` — for routes under ``/v1/tenants/{tenant_id}/…``: as ``needs``, and a
  tenant token naming another tenant gets exactly the 404 an unknown tenant gets (no
  existence leak).
* :func:`visible_tenant` — the check for a row found by id (an incident): 404 unless the
  caller may see its tenant.

Failed authentications are counted per reason on the engine (:class:`AuthFailures`) for
operators and Prometheus — never as a tenant's publish failures, and never with the token.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

import opsledger
from opsledger import Principal
from opsledger.api.engine import Engine

__all__ = ["BEARER", "AuthFailures", "Ingest", "Operator", "Read", "TenantIngest", "TenantRead",
           "engine_of", "needs", "tenant_scope", "visible_tenant"]


class AuthFailures:
    """Failed authentications of this process by reason (``missing``, ``malformed``,
    ``unknown``, ``mismatch``, ``expired``, ``revoked``, ``forgotten``) and refusals for
    scope (``forbidden``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, reason: str) -> None:
        """Count one failure."""
        with self._lock:
            self._counts[reason] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far, by reason."""
        with self._lock:
            return dict(self._counts)


def engine_of(request: Request) -> Engine:
    """The engine the app was built with."""
    engine: Engine = request.app.state.engine
    return engine


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else authorization  # malformed


def _authenticate(request: Request, authorization: str | None, scope: str) -> Principal:
    engine = engine_of(request)
    failures: AuthFailures = request.app.state.auth_failures
    try:
        return engine.run(engine.ops.authenticate, _bearer(authorization), needs=scope)
    except opsledger.Unauthenticated as exc:
        failures.add(exc.reason)
        raise
    except opsledger.Forbidden:
        failures.add("forbidden")
        raise


#: How the OpenAPI document describes the token (``/docs`` gets its Authorize button). The
#: header itself is read raw, so a wrong scheme is counted as ``malformed``.
BEARER = HTTPBearer(auto_error=False, description="an opsledger API token (olt_…)")
_Documented = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


def needs(scope: str) -> Callable[..., Principal]:
    """A dependency: the caller, holding a token that allows ``scope``."""

    def principal(request: Request, _: _Documented = None) -> Principal:
        return _authenticate(request, request.headers.get("authorization"), scope)

    principal.__name__ = f"needs_{scope}"
    return principal


def tenant_scope(scope: str) -> Callable[..., Principal]:
    """A dependency for ``/v1/tenants/{tenant_id}/…``: the caller, whose token allows
    ``scope`` and the path's tenant (another tenant's id: :class:`~opsledger.UnknownTenant`,
    the same 404 as an id that does not exist)."""

    def principal(request: Request, tenant_id: str, _: _Documented = None) -> Principal:
        who = _authenticate(request, request.headers.get("authorization"), scope)
        visible_tenant(who, tenant_id)
        return who

    principal.__name__ = f"tenant_{scope}"
    return principal


def visible_tenant(who: Principal, tenant_id: str | None) -> None:
    """404 (:class:`~opsledger.UnknownTenant`) unless ``who`` may see ``tenant_id``'s rows: an
    operator every tenant's (and platform-wide ones, ``None``), a tenant token its own."""
    if who.tenant_id is not None and who.tenant_id != tenant_id:
        raise opsledger.UnknownTenant(tenant_id or "-")


#: ``Annotated`` shorthands the routes declare.
Ingest = Annotated[Principal, Depends(needs("ingest"))]
Read = Annotated[Principal, Depends(needs("read"))]
Operator = Annotated[Principal, Depends(needs("operator"))]
TenantIngest = Annotated[Principal, Depends(tenant_scope("ingest"))]
TenantRead = Annotated[Principal, Depends(tenant_scope("read"))]
