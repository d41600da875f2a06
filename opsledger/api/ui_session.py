"""The dashboard's sessions: a login form exchanges an API token for a session cookie.

* The cookie (``olui``) holds only a random session id: ``HttpOnly``, ``SameSite=Strict``,
  ``Path=/ui``. The token itself stays in this process's memory, never in a page, a URL, a
  log line or a cookie; it is checked again (revoked, expired, forgotten tenant) on every
  request, so revoking the token ends the session at once.
* Sessions live in memory (:class:`Sessions`), keyed by the random id, until their expiry
  or logout; a restart of the server logs everyone out.
* CSRF: each session has its own random token, put in a hidden field of every form that
  writes and compared on POST (:func:`check_csrf`); the login form, before any session,
  uses a double-submitted cookie (``olui_login``). ``SameSite=Strict`` is the second line.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request

import opsledger
from opsledger import Principal
from opsledger.api.auth import AuthFailures, engine_of

__all__ = [
    "COOKIE",
    "FORM_BYTES",
    "LOGIN_COOKIE",
    "Form",
    "LoginRequired",
    "Session",
    "Sessions",
    "UiSession",
    "check_csrf",
    "form_of",
    "new_secret",
    "session_of",
    "sessions_of",
]

#: The session cookie's name; its value is only the session's random id.
COOKIE = "olui"
#: The login form's double-submit cookie (CSRF before a session exists).
LOGIN_COOKIE = "olui_login"
#: The most a dashboard form's body may be (the status update's message is the longest).
FORM_BYTES = 64 * 1024
#: How long a session lasts without a new login (seconds).
SESSION_SECONDS = 8 * 3600
#: Sessions one process keeps at most (the oldest go first beyond it).
MAX_SESSIONS = 10_000


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, the version endpoint says 401."""


def new_secret() -> str:
    """A random value for a session id or a CSRF token (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    """One logged-in browser: who it acts as, its CSRF token, when it ends, and a message
    to show once on the next page (``flash``)."""

    sid: str
    token: str = field(repr=False)
    principal: Principal
    csrf: str
    expires: float
    flash: str | None = None

    @property
    def operator(self) -> bool:
        """May this session act on incidents (an operator-scope token)?"""
        return self.principal.scope == "operator"


class Sessions:
    """The sessions of this process, by id (thread-safe; expired ones dropped as met)."""

    def __init__(self, seconds: float = SESSION_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.seconds = seconds
        self.limit = limit
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def create(self, token: str, principal: Principal) -> Session:
        """A new session for ``principal`` (authenticated with ``token``)."""
        session = Session(new_secret(), token, principal, new_secret(),
                          time.monotonic() + self.seconds)
        with self._lock:
            while len(self._by_id) >= self.limit:
                self._by_id.pop(next(iter(self._by_id)))
            self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        """The live session with id ``sid``, if any."""
        if not sid:
            return None
        with self._lock:
            session = self._by_id.get(sid)
            if session is not None and session.expires <= time.monotonic():
                del self._by_id[sid]
                return None
            return session

    def drop(self, sid: str) -> None:
        """End a session (logout, or its token no longer valid)."""
        with self._lock:
            self._by_id.pop(sid, None)


def sessions_of(request: Request) -> Sessions:
    """The app's sessions."""
    found: Sessions = request.app.state.ui_sessions
    return found


def session_of(request: Request) -> Session:
    """A dependency: the request's session, its token checked again now (a revoked or
    expired token ends the session); else :class:`LoginRequired`."""
    sessions = sessions_of(request)
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired
    engine = engine_of(request)
    try:
        session.principal = engine.run(engine.ops.authenticate, session.token, needs="read")
    except (opsledger.Unauthenticated, opsledger.Forbidden) as exc:
        failures: AuthFailures = request.app.state.auth_failures
        failures.add(getattr(exc, "reason", "forbidden"))
        sessions.drop(session.sid)
        raise LoginRequired from None
    return session


#: The route parameter of every dashboard page.
UiSession = Annotated[Session, Depends(session_of)]


async def form_of(request: Request) -> dict[str, str]:
    """A dependency: the urlencoded form of a POST (first value of each field), at most
    :data:`FORM_BYTES` (an empty body: no field); anything else is refused as invalid input
    naming the body."""
    raw = await request.body()
    if len(raw) > FORM_BYTES:
        raise opsledger.PayloadTooLarge(FORM_BYTES)
    if not raw:
        return {}
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise opsledger.InvalidInput("body: a form (application/x-www-form-urlencoded)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise opsledger.InvalidInput("body: not UTF-8") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise opsledger.InvalidInput("body: too many fields") from None
    return {name: values[0] for name, values in fields.items()}


Form = Annotated[dict[str, str], Depends(form_of)]


def check_csrf(session: Session, form: dict[str, str]) -> None:
    """:class:`~opsledger.Forbidden` unless the form carries the session's CSRF token."""
    if not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
        raise opsledger.Forbidden("csrf", "form", _CSRF_REFUSED)


#: Why a form was refused (a missing or stale CSRF token: another tab, an expired session).
_CSRF_REFUSED = ("the form's CSRF token is missing or does not match this session: reload "
                 "the page and try again")
