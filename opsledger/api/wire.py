"""What goes over the wire: bodies from the typed results (:func:`opsledger.serialize.to_wire`)
and every refusal as one typed error body ``{"code", "message", "details"}`` with its status.

One exception handler maps :class:`~opsledger.OpsledgerError` (by its class, most specific
first) to a status; FastAPI's own request validation becomes ``invalid_input`` (422) naming
the field, without echoing the value; anything else is ``internal`` (500), logged, and says
nothing of its cause.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

import opsledger
from opsledger.serialize import dumps_wire

__all__ = ["ERROR_RESPONSES", "MESSAGE_CHARS", "ErrorBody", "WireJSON", "clean", "error_body",
           "install_error_handlers", "reply", "status_of"]

log = logging.getLogger("opsledger.api")

#: Status per error class; the first class an error is an instance of wins.
_STATUS: tuple[tuple[str, int], ...] = (
    ("Unauthenticated", 401),
    ("Forbidden", 403),
    ("PayloadTooLarge", 413),
    ("UnknownTenant", 404),  # TenantForgotten too: no longer there
    ("NotFound", 404),
    ("Conflict", 409),
    ("ScopeViolation", 422),  # a repository out of scope, no retention policy: refused
    ("InvalidInput", 422),
    ("StoreUnavailable", 503),
    ("KeyStoreMissing", 503),
)
#: Attributes of an error that may go into ``details`` (values quoted short by the error).
_DETAIL_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ErrorBody:
    """Every refusal's body: a stable ``code`` (the error's), a message that quotes little and
    never a token, and the error's facts (``details.problems`` for a record or a policy: the
    field and why)."""

    code: str
    message: str
    details: dict[str, Any]


#: The refusals every route may answer, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what} for status, what in (
        (401, "no valid API token"), (403, "the token lacks the scope"),
        (404, "no such tenant or object (or another tenant's)"),
        (409, "the command contradicts the stored state"), (413, "body over the limit"),
        (422, "invalid input: the field and why"))}


class WireJSON(JSONResponse):
    """A JSON body made by :func:`~opsledger.serialize.dumps_wire` (typed results by their
    attribute names, times RFC 3339 UTC with milliseconds). A ``JSONResponse``, so the
    OpenAPI document gives each route's ``response_model`` as its schema."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """The body bytes."""
        return dumps_wire(content)


def reply(result: Any, status: int = 200) -> WireJSON:
    """A route's answer: ``result`` (a typed result, or a list of them) as JSON."""
    return WireJSON(result, status_code=status)


def status_of(error: Exception) -> int:
    """The HTTP status of a typed error (500 for anything else)."""
    for name, status in _STATUS:
        if isinstance(error, getattr(opsledger, name)):
            return status
    return 500


#: Something that looks like an API token, wherever a caller put it (a path, a parameter).
_TOKEN_LIKE = re.compile(r"olt_[0-9A-Za-z_-]{4,}")
#: The most of a message (and of a detail) a refusal quotes back.
MESSAGE_CHARS = 300


def clean(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` as a refusal may say it: anything token-like replaced by ``olt_…``, cut to
    ``limit`` characters (a value from outside is never echoed whole)."""
    text = _TOKEN_LIKE.sub("olt_…", text)
    return text if len(text) <= limit else text[:limit] + "…"


def _details(error: Exception) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for key, value in vars(error).items():
        if key.startswith("_") or key in ("value", "reason"):  # never echo; never say why
            continue
        if isinstance(value, str):
            details[key] = clean(value, 60)
        elif isinstance(value, _DETAIL_TYPES):
            details[key] = value
        elif key == "problems":  # InvalidRecord / InvalidPolicy: (field, value, why)
            details[key] = [{"field": str(p[0]), "why": str(p[2])} for p in value]
    return details


def error_body(error: Exception) -> dict[str, Any]:
    """``{"code", "message", "details"}`` of a typed error."""
    if isinstance(error, opsledger.OpsledgerError):
        return {"code": error.code, "message": clean(str(error)), "details": _details(error)}
    return {"code": "internal", "message": "internal error", "details": {}}


def _opsledger_error(request: Request, error: Exception) -> Response:
    status = status_of(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return WireJSON(error_body(error), status_code=status, headers=headers)


def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = [{"field": ".".join(str(p) for p in e.get("loc", ())), "why": str(e.get("msg"))}
                for e in error.errors()[:20]]
    where = problems[0]["field"] if problems else "request"
    body = {"code": "invalid_input", "message": f"{where}: {problems[0]['why']}"
            if problems else "invalid request", "details": {"problems": problems}}
    return WireJSON(body, status_code=422)


def _http_error(request: Request, error: Exception) -> Response:
    """The framework's own refusals (no such path, method not allowed) as typed bodies."""
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    message = clean(str(error.detail)) if error.detail else "request refused"
    return WireJSON({"code": code, "message": message, "details": {}},
                    status_code=error.status_code, headers=error.headers)


def _unexpected(request: Request, error: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path,
              exc_info=(type(error), error, error.__traceback__))
    return WireJSON(error_body(error), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Every refusal as a typed error body."""
    app.add_exception_handler(opsledger.OpsledgerError, _opsledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

