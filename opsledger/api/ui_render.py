"""How the dashboard's pages are made: Jinja2 templates with autoescape (every value from
the store — tenant ids, titles, messages — is escaped where it leaves), the security headers
(a Content-Security-Policy that allows only this server's own script and style: no inline
script anywhere), the ``as_of`` parameter, and the route class that turns refusals into
HTML pages (a missing session into a redirect to the login form)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

import opsledger
from opsledger.api.ui_session import LoginRequired, Session
from opsledger.api.wire import clean, status_of

__all__ = ["HEADERS", "UiRoute", "href", "iso", "page", "parse_time", "picker", "static_file",
           "when"]

#: Headers of every dashboard answer. The CSP allows scripts and styles from this server
#: only (``dashboard.js``; the charts are inline SVG with presentation attributes).
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: The static files the dashboard serves: name -> (package, file, media type).
STATIC = {
    "opsledger.css": ("opsledger.reports", "templates/opsledger.css", "text/css"),
    "dashboard.css": ("opsledger.api", "static/dashboard.css", "text/css"),
    "dashboard.js": ("opsledger.api", "static/dashboard.js", "text/javascript"),
}
_FIRST, _LAST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def when(moment: datetime | None) -> Markup:
    """A time as ``<time>`` in UTC to the second (the page's script adds the local time as
    its title); ``-`` for none."""
    if moment is None:
        return Markup("-")
    utc = moment.astimezone(UTC)
    return Markup('<time datetime="{}">{} UTC</time>').format(
        utc.isoformat().replace("+00:00", "Z"), f"{utc:%Y-%m-%d %H:%M:%S}")


def iso(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` (for data- attributes)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def picker(moment: datetime | None) -> str:
    """A time as a ``datetime-local`` input's value (UTC, to the second)."""
    return "" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}"


def href(path: str, **params: str | datetime | list[str] | None) -> str:
    """``path`` with its query (``None`` left out; times in the picker's form)."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if isinstance(value, list):
            pairs.extend((name, v) for v in value)
        elif isinstance(value, datetime):
            pairs.append((name, picker(value)))
        elif value is not None:
            pairs.append((name, value))
    return path + ("?" + urlencode(pairs) if pairs else "")


def parse_time(name: str, text: str | None) -> datetime | None:
    """A time from a query: RFC 3339 with an offset, or the picker's local form read as UTC;
    empty: ``None``. Out of 2000-2100 or unreadable: invalid input naming ``name``."""
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise opsledger.InvalidInput(f"{name}: not a time (YYYY-MM-DDTHH:MM[:SS], UTC)") \
            from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not _FIRST <= moment < _LAST:
        raise opsledger.InvalidInput(f"{name}: outside 2000-2100")
    return moment.astimezone(UTC)


@cache
def _env() -> Environment:
    env = Environment(loader=PackageLoader("opsledger.api", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, iso=iso, picker=picker)
    env.globals.update(href=href)
    return env


def page(session: Session | None, template: str, *, status: int = 200,
         as_of: datetime | None = None, head: int = 0, now: datetime | None = None,
         keep: Mapping[str, str] | None = None, path: str = "/ui/",
         **context: Any) -> HTMLResponse:
    """A page: the template with the session (its CSRF token and who; its flash message
    shown once), the ``as_of`` banner and picker (``keep``: the query to keep with it), and
    the live-update data (``head``: the store position the page was read at); ``path`` is
    the page's own (the picker's and the banner's links go there)."""
    flash = None
    if session is not None:
        flash, session.flash = session.flash, None
    html = _env().get_template(template).render(
        session=session, as_of=as_of, head=head, now=now, keep=dict(keep or {}),
        live=as_of is None and session is not None, flash=flash, request_path=path,
        **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


@cache
def static_file(name: str) -> tuple[bytes, str] | None:
    """A static file's bytes and media type (only those in :data:`STATIC`)."""
    if name not in STATIC:
        return None
    package, path, media = STATIC[name]
    return files(package).joinpath(path).read_bytes(), media


_NOT_FOUND = "Not found: no such page, tenant or incident (or not one you may see)."


def _refusal(request: Request, error: Exception) -> Response:
    """A refused request as an HTML page (the version endpoint: JSON)."""
    if isinstance(error, LoginRequired):
        if request.url.path.endswith("/version"):
            return JSONResponse({"code": "unauthenticated"}, status_code=401, headers=HEADERS)
        return RedirectResponse("/ui/login", status_code=303, headers=HEADERS)
    if isinstance(error, RequestValidationError):
        status, message = 422, "invalid request: " + "; ".join(
            ".".join(str(p) for p in e.get("loc", ())) for e in error.errors()[:5])
    else:
        status = status_of(error)
        message = _NOT_FOUND if status == 404 else clean(str(error))
    if status == 500:
        raise error
    return page(None, "error.html.j2", status=status, title=f"{status}", message=message)


class UiRoute(APIRoute):
    """The dashboard's routes: a missing session redirects to the login form, a typed
    refusal is an HTML page with its status (a 404 says the same whatever was not found)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (LoginRequired, opsledger.OpsledgerError, RequestValidationError) as error:
                return _refusal(request, error)

        return guarded

