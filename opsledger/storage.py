"""Store selection by URL, safe schema creation, and a small SQL layer shared by the views.

``sqlite:///path.db`` (embedded default, WAL), ``postgresql://user[:pw]@host[:port]/db
[?schema=name]`` (several processes and hosts share one store) and ``memory://`` (an
in-memory SQLite database, so tests exercise the same SQL as production).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import uuid4

from opsledger.domain.errors import InvalidInput

__all__ = [
    "DEFAULT_URL", "InvalidStoreUrl", "StoreUrl", "parse_store_url", "pg_connect", "schema_lock",
]

DEFAULT_URL = "sqlite:///opsledger.db"


class InvalidStoreUrl(InvalidInput):
    """The store URL is not one opsledger understands."""

    code = "invalid_store_url"


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL and the eventsourcing environment it maps to."""

    kind: Literal["sqlite", "postgresql", "memory"]
    env: dict[str, str]
    path: str | None = None
    schema: str = "public"


def parse_store_url(url: str) -> StoreUrl:
    """Map a store URL to eventsourcing settings; raise :class:`InvalidStoreUrl` if unusable."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        name = f"file:opsledger-{uuid4().hex}?mode=memory&cache=shared"
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": name}
        return StoreUrl("memory", env)
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise InvalidStoreUrl(f"{url!r}: expected sqlite:///relative.db or sqlite:////abs.db")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
        return StoreUrl("sqlite", env, path=path)
    if parts.scheme in ("postgresql", "postgres"):
        query = parse_qs(parts.query)
        schema = query.get("schema", ["public"])[0]
        if not parts.hostname or not parts.path.strip("/"):
            raise InvalidStoreUrl(f"{url!r}: expected postgresql://user@host:port/dbname")
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
        return StoreUrl("postgresql", env, schema=schema)
    raise InvalidStoreUrl(f"{url!r}: use sqlite:///path.db, postgresql://… or memory://")


def pg_connect(store: StoreUrl, *, autocommit: bool = False) -> Any:
    """A connection of its own to the PostgreSQL store (outside the event store's pool)."""
    import psycopg

    e = store.env
    return psycopg.connect(
        dbname=e["POSTGRES_DBNAME"], host=e["POSTGRES_HOST"], port=e["POSTGRES_PORT"],
        user=e["POSTGRES_USER"], password=e["POSTGRES_PASSWORD"] or None,
        autocommit=autocommit, connect_timeout=5,
    )


@contextmanager
def schema_lock(store: StoreUrl) -> Iterator[None]:
    """Serialise schema creation between processes starting at once."""
    if store.kind == "sqlite" and store.path:
        directory = os.path.dirname(os.path.abspath(store.path))
        os.makedirs(directory, exist_ok=True)
        with open(store.path + ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif store.kind == "postgresql":
        with pg_connect(store, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(7212026)")
            try:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{store.schema}"')
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(7212026)")
    else:
        yield
