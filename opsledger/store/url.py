"""Store selection by URL, safe schema creation, and a small SQL layer shared by the views.

``sqlite:///path.db`` (embedded default, WAL), ``postgresql://user[:pw]@host[:port]/db
[?schema=name]`` (several processes and hosts share one store) and ``memory://`` (an
in-memory SQLite database, so tests exercise the same SQL as production).

A store URL is untrusted input and may carry a password:

- the ``schema`` parameter must match :data:`IDENTIFIER` (``^[a-z_][a-z0-9_]{0,62}$``: what
  PostgreSQL accepts unquoted, so every tool names it the same way) or the URL is refused
  with :class:`InvalidStoreIdentifier` before anything connects; it is also quoted
  (:func:`quote_identifier`) wherever it enters SQL;
- every message that shows a URL shows :func:`redact_url` of it (the password replaced by
  ``***``), and a store that cannot be reached is :class:`StoreUnavailable`, whose message
  is redacted too; ``StoreUrl.display`` is the URL as it may be printed;
- a new SQLite database, its key file and its lock file are created ``0600`` before SQLite
  opens them (:mod:`opsledger.store.files`); SQLite gives its ``-wal``, ``-shm`` and
  ``-journal`` files the mode of the database they belong to.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import uuid4

from opsledger.domain.errors import InvalidStoreIdentifier, InvalidStoreUrl, StoreUnavailable
from opsledger.store.files import create_private
from opsledger.store.views_db import views_schema

__all__ = [
    "DEFAULT_URL", "IDENTIFIER", "InvalidStoreIdentifier", "InvalidStoreUrl", "StoreUnavailable",
    "StoreUrl", "parse_store_url", "pg_connect", "quote_identifier", "redact", "redact_url",
    "schema_lock",
]

DEFAULT_URL = "sqlite:///opsledger.db"
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A PostgreSQL identifier taken from a URL (matched whole): lower case, at most 63 bytes."""
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@]*):(?P<secret>.*)@")
_PASSWORD_PARAM = re.compile(r"(?i)(?P<head>[?&;]password=)(?P<secret>[^&#]*)")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` — the user-info password (up to the
    last ``@``, so a password holding ``/`` or ``@`` is hidden whole) and a ``password=``
    query parameter. Works on malformed URLs too (it never parses them)."""
    url = _USERINFO.sub(lambda m: f"{m['head']}:***@", url, count=1)
    return _PASSWORD_PARAM.sub(lambda m: f"{m['head']}***", url)


def redact(text: str, url: str) -> str:
    """``text`` (an error message about the store at ``url``) with the URL shown redacted
    and any copy of its password, raw or percent-decoded, replaced by ``***``."""
    text = text.replace(url, redact_url(url))
    for match in (_USERINFO.match(url), _PASSWORD_PARAM.search(url)):
        if match and match["secret"]:
            for secret in {match["secret"], unquote(match["secret"])}:
                text = text.replace(secret, "***")
    return text


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (any ``"`` doubled)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL and the eventsourcing environment it maps to. ``display`` is the
    URL with its password redacted; ``env`` (which holds the password) is left out of
    ``repr``."""

    kind: Literal["sqlite", "postgresql", "memory"]
    env: dict[str, str] = field(repr=False)
    path: str | None = None
    schema: str = "public"
    display: str = ""

    def __post_init__(self) -> None:
        if self.kind == "postgresql" and not IDENTIFIER.fullmatch(self.schema):
            raise InvalidStoreIdentifier("schema", self.schema)


def parse_store_url(url: str) -> StoreUrl:
    """Map a store URL to eventsourcing settings; raise :class:`InvalidStoreUrl` if unusable
    (the message shows the URL redacted)."""
    try:
        return _parse(url)
    except InvalidStoreUrl:
        raise
    except ValueError as exc:  # urlsplit/port: "Invalid IPv6 URL", "Port out of range"
        reason = _QUOTED.sub("'…'", redact(str(exc), url))  # no fragment of the URL
        raise InvalidStoreUrl(f"{redact_url(url)!r}: {reason}") from None


def _parse(url: str) -> StoreUrl:
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme == "memory":
        name = f"file:opsledger-{uuid4().hex}?mode=memory&cache=shared"
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": name}
        return StoreUrl("memory", env, display="memory://")
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise InvalidStoreUrl(f"{shown!r}: expected sqlite:///relative.db or "
                                  "sqlite:////abs.db")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
        return StoreUrl("sqlite", env, path=path, display=shown)
    if parts.scheme in ("postgresql", "postgres"):
        if "@" in url.partition("://")[2][len(parts.netloc):]:
            # urlsplit ends the user info at a "/", "?" or "#" in the password: what it
            # took for host, port or path would be part of the password
            raise InvalidStoreUrl(f"{shown!r}: percent-encode '/', '?', '#' and '@' in the "
                                  "user name and password (%2F, %3F, %23, %40)")
        query = parse_qs(parts.query, keep_blank_values=True)
        schemas = query.get("schema", ["public"])
        if len(schemas) != 1:
            raise InvalidStoreUrl(f"{shown!r}: give the schema parameter once")
        schema = schemas[0]
        if not IDENTIFIER.fullmatch(schema):
            raise InvalidStoreIdentifier("schema", schema)
        if not parts.hostname or not parts.path.strip("/"):
            raise InvalidStoreUrl(f"{shown!r}: expected postgresql://user@host:port/dbname")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_CONNECT_TIMEOUT": "5",
        }
        return StoreUrl("postgresql", env, schema=schema, display=shown)
    raise InvalidStoreUrl(f"{shown!r}: use sqlite:///path.db, postgresql://… or memory://")


def pg_connect(store: StoreUrl, *, autocommit: bool = False) -> Any:
    """A connection of its own to the PostgreSQL store (outside the event store's pool);
    :class:`StoreUnavailable` (password redacted) if it cannot be made."""
    import psycopg

    e = store.env
    try:
        return psycopg.connect(
            dbname=e["POSTGRES_DBNAME"], host=e["POSTGRES_HOST"], port=e["POSTGRES_PORT"],
            user=e["POSTGRES_USER"], password=e["POSTGRES_PASSWORD"] or None,
            autocommit=autocommit, connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        message = " ".join(str(exc).split())
        secret = e["POSTGRES_PASSWORD"]
        if secret:
            message = message.replace(secret, "***")
        where = store.display or f"postgresql://{e['POSTGRES_HOST']}:{e['POSTGRES_PORT']}"
        raise StoreUnavailable(f"cannot connect to {where}: {message}") from None


@contextmanager
def schema_lock(store: StoreUrl) -> Iterator[None]:
    """Serialise schema creation between processes starting at once."""
    if store.kind == "sqlite" and store.path:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(store.path)), exist_ok=True)
            create_private(store.path + ".lock")
            handle = open(store.path + ".lock", "a+")  # noqa: SIM115 — closed below
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the store {store.display}: "
                                   f"{exc.strerror or exc}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                create_private(store.path)  # before SQLite opens it: see the module doc
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif store.kind == "postgresql":
        with pg_connect(store, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(7212026)")
            try:
                views = quote_identifier(views_schema(store.schema))
                if conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema "
                                "= %s LIMIT 1", (store.schema,)).fetchone() is None:
                    # a store not created yet has no views of its own: any left under its
                    # views schema (its own schema dropped by hand) are another store's
                    conn.execute(f"DROP SCHEMA IF EXISTS {views} CASCADE")
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(store.schema)}")
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {views}")
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(7212026)")
    else:
        yield
