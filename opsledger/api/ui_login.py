"""The dashboard's door: the login form (an API token for a session cookie), logout, the
static files, and the version endpoint the pages poll to update live.

``GET /ui/version`` answers the store's head position (the newest event's): a page compares
it with the position it was read at and fetches itself again only when it changed, so an
idle dashboard costs one tiny read a second and a write shows within the next poll.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

import opsledger
from opsledger.api.auth import AuthFailures, engine_of
from opsledger.api.ui_render import HEADERS, UiRoute, page, static_file
from opsledger.api.ui_session import (
    COOKIE,
    LOGIN_COOKIE,
    Form,
    UiSession,
    check_csrf,
    new_secret,
    sessions_of,
)

__all__ = ["router"]

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)


def _cookie(response: Response, request: Request, name: str, value: str, seconds: int) -> None:
    """A cookie only this dashboard's pages get: HttpOnly, SameSite=Strict, Path=/ui
    (Secure when served over https)."""
    response.set_cookie(name, value, max_age=seconds, path="/ui", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


@router.get("/login")
def login_form(request: Request) -> Response:
    """The login form (a live session goes to the overview)."""
    if sessions_of(request).get(request.cookies.get(COOKIE)) is not None:
        return RedirectResponse("/ui/", status_code=303, headers=HEADERS)
    return _login_page(request)


def _login_page(request: Request, status: int = 200, message: str | None = None) -> Response:
    csrf = new_secret()
    answer = page(None, "login.html.j2", status=status, title="Log in", csrf=csrf,
                  message=message)
    _cookie(answer, request, LOGIN_COOKIE, csrf, 3600)
    return answer


@router.post("/login")
def login(request: Request, form: Form) -> Response:
    """Exchange a token (any scope that may read) for a session; the token itself stays in
    this process's memory and is checked again on each request."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf", "").encode(),
                                               expected.encode()):
        raise opsledger.Forbidden("csrf", "form", _CSRF_REFUSED)
    token = form.get("token", "").strip()
    engine = engine_of(request)
    try:
        who = engine.run(engine.ops.authenticate, token, needs="read")
    except (opsledger.Unauthenticated, opsledger.Forbidden) as exc:
        failures: AuthFailures = request.app.state.auth_failures
        failures.add(getattr(exc, "reason", "forbidden"))
        return _login_page(request, 401, "That token was not accepted.")
    sessions = sessions_of(request)
    old = request.cookies.get(COOKIE)
    if old:
        sessions.drop(old)
    session = sessions.create(token, who)
    answer = RedirectResponse("/ui/", status_code=303, headers=HEADERS)
    _cookie(answer, request, COOKIE, session.sid, int(sessions.seconds))
    answer.delete_cookie(LOGIN_COOKIE, path="/ui", httponly=True, samesite="strict")
    return answer


@router.post("/logout")
def logout(request: Request, session: UiSession, form: Form) -> Response:
    """End the session (its CSRF token required)."""
    check_csrf(session, form)
    sessions_of(request).drop(session.sid)
    answer = RedirectResponse("/ui/login", status_code=303, headers=HEADERS)
    answer.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return answer


@router.get("/version")
def version(request: Request, session: UiSession) -> JSONResponse:
    """``{"head": n}``: the newest event's position (pages refetch when it moves)."""
    engine = engine_of(request)
    return JSONResponse({"head": engine.run(engine.ops.views.head)}, headers=HEADERS)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The dashboard's stylesheets and script (shipped in the package; no CDN)."""
    found = static_file(name)
    if found is None:
        raise opsledger.NotFound("no such file")
    body, media = found
    return Response(body, media_type=media,
                    headers={**HEADERS, "Cache-Control": "max-age=300"})


#: Why a form was refused (a missing or stale CSRF token: another tab, an expired session).
_CSRF_REFUSED = ("the form's CSRF token is missing or does not match this session: reload "
                 "the page and try again")
