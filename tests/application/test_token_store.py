"""The store never holds an API token in clear: not in the events (sealed or opened), not
in a view, not in the SQLite file and its WAL, not in any PostgreSQL table (issue 15)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsledger import FrozenClock, Governance, IssuedToken, Operations

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, or PostgreSQL in a schema of this branch's own (``tokens_…``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import psycopg

    base = str(request.getfixturevalue("pg_url")).partition("?schema=")[0]  # skips if no PG
    schema = f"tokens_{uuid.uuid4().hex[:12]}"
    yield f"{base}?schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_views" CASCADE')  # the views' schema


def _secret(issued: IssuedToken) -> str:
    """The secret part of ``olt_<16 hex id>_<secret>`` (the secret may contain ``_``)."""
    return issued.token[len("olt_") + 16 + 1:]


def _stored_states(ops: Operations) -> tuple[list[bytes], list[str]]:
    """Every stored event's state: as stored (sealed or plain), and opened and decoded."""
    from opsledger.store.transcoder import OrjsonTranscoder

    sql, transcoder = ops.sql, OrjsonTranscoder()
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT {sql.state_bytes()} AS state FROM "
                            f"{sql.table(sql.events_table)}")
        raw = [bytes(row["state"]) for row in cursor.fetchall()]
    decoded = [repr(transcoder.decode(opened)) for state in raw
               if (opened := ops.events.plain_state(state)) is not None]
    return raw, decoded


def _pg_rows_as_text(url: str) -> str:
    """Every row of every table in the store's PostgreSQL schema and its views', as text."""
    import psycopg
    from psycopg import sql as pgsql

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base) as conn:
        tables = [(r[0], r[1]) for r in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN (%s, %s)", (schema, f"{schema}_views"))]
        return "\n".join(str(row[0]) for space, table in tables for row in conn.execute(
            pgsql.SQL("SELECT t::text FROM {}.{} AS t").format(
                pgsql.Identifier(space), pgsql.Identifier(table))))


@pytest.mark.policy("5.auth_validation")
def test_a_token_is_never_in_the_store_in_clear(shared_url: str, tmp_path: Path) -> None:
    with Operations.open(shared_url, clock=FrozenClock(T0)) as ops:
        ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="a")
        first = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        second = ops.rotate_token(first.info.token_id, by="carol")
        operator = ops.create_token(scope="operator", owner="root", by="alice")
        ops.revoke_token(operator.info.token_id, by="alice", reason="test")
        ops.catch_up()
        issued = (first, second, operator)
        raw, decoded = _stored_states(ops)
        plain = b"\n".join(raw) + "\n".join(decoded).encode()
        # the scan sees what is stored: the operator token's hash is there, in clear
        assert hashlib.sha256(_secret(operator).encode()).hexdigest().encode() in plain
        if shared_url.startswith("sqlite"):
            plain += b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
        else:
            rows = _pg_rows_as_text(shared_url).encode()
            assert operator.info.token_id.encode() in rows
            plain += rows
        for token in issued:
            for needle in (_secret(token), _secret(token).encode().hex()):
                assert needle.encode() not in plain
    if shared_url.startswith("sqlite"):  # closed: the WAL is folded into the file
        files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
        assert operator.info.token_id.encode() in files
        assert not any(_secret(t).encode() in files for t in issued)
