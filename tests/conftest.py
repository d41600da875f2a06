"""Shared fixtures: the policy-clause marker, stores on every backend, store snapshots."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _helpers(name: str, file: str) -> Any:
    """``tests/<file>`` loaded as the module ``name``, importable from any test (the tests
    run with ``--import-mode=importlib``: no package to import them from)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The policy clause ids (tests/policy_clauses.py); tests/support.py as
# ``opsledger_test_support``; tests/notify_support.py (the webhook
# receiver, notify configs) as ``opsledger_test_notify``; tests/ui_support.py (the
# dashboard's login, world and serve process) as ``opsledger_test_ui``.
POLICY_CLAUSES: frozenset[str] = _helpers("opsledger_test_policy_clauses",
                                          "policy_clauses.py").POLICY_CLAUSES
support = _helpers("opsledger_test_support", "support.py")
notify_support = _helpers("opsledger_test_notify", "notify_support.py")
ui_support = _helpers("opsledger_test_ui", "ui_support.py")

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
SAMPLE = Path(__file__).resolve().parents[1] / "opsledger" / "samples"
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An unknown policy clause id fails collection (ids live in tests/policy_clauses.py)."""
    for item in items:
        for mark in item.iter_markers("policy"):
            if len(mark.args) != 1 or mark.args[0] not in POLICY_CLAUSES:
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown policy clause {mark.args!r}; "
                    "see tests/policy_clauses.py"
                )


def postgres_available() -> bool:
    """True if the test PostgreSQL server answers."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=2):
            return True
    except Exception:
        return False


def require_postgres() -> None:
    """Skip (or fail under CI=true) when PostgreSQL is not reachable."""
    if postgres_available():
        return
    message = "PostgreSQL not reachable at 127.0.0.1:5432 (user postgres, database test)"
    if IN_CI:
        pytest.fail(message + " — CI=true requires it")
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL in a fresh schema, dropped afterwards."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{PG_BASE}?schema={schema}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_views" CASCADE')  # the views' schema


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on every backend: memory, SQLite file, PostgreSQL."""
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store that outlives one command, for tests through the CLI: a SQLite file, or a
    fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file store."""
    return f"sqlite:///{tmp_path / 'store.db'}"


VIEW_TABLES = {
    "audit_publish": "tenant_id, operation_id",
    "audit_refusal": "refusal_id",
    "slo_minute": "tenant_id, repository_id, minute",
    "slo_latency": "tenant_id, repository_id, minute, latency_ms",
    "slo_freshness": "tenant_id, repository_id, idempotency_key, payload_hash",
    "slo_policy": "effective_at, freshness_bound_minutes",
    "slo_integrity": "incident_id",
}


def store_snapshot(ops: Any) -> dict[str, Any]:
    """Every stored event (minus recording timestamps) and every view row: for equality checks."""
    from opsledger.store.transcoder import OrjsonTranscoder

    transcoder = OrjsonTranscoder()
    sql = ops.sql
    events = []
    with sql.transaction(commit=False) as cursor:
        sql.execute(cursor, f"SELECT originator_id, originator_version, topic, state "
                            f"FROM {sql.table(sql.events_table)}")
        for row in cursor.fetchall():
            state = transcoder.decode(ops.events.plain_state(bytes(row["state"])))
            state.pop("timestamp", None)
            events.append((str(row["originator_id"]).replace("-", ""), row["originator_version"],
                           row["topic"], repr(sorted(state.items()))))
    ops.catch_up()
    views: dict[str, list[Any]] = {}
    for table, order in VIEW_TABLES.items():
        with sql.transaction(commit=False) as cursor:
            sql.execute(cursor, f"SELECT * FROM {sql.table(table)} ORDER BY {order}")
            views[table] = [
                {k: v for k, v in dict(r).items() if k not in ("notification_id", "position")}
                for r in cursor.fetchall()
            ]
    return {"events": sorted(events), "views": views}


@pytest.fixture
def snapshot() -> Any:
    """``snapshot(ops)``: the store's events and view rows, comparable with ``==``."""
    return store_snapshot


@pytest.fixture
def sample_audit() -> Path:
    """The bundled Pumuki sample audit log (571 lines, produced by Pumuki's own code)."""
    return SAMPLE / "saas-ingestion-audit.ndjson"


@pytest.fixture
def sample_dir() -> Path:
    """The bundled sample folder (audit, snapshots, Pumuki's metrics, episodes)."""
    return SAMPLE


@pytest.fixture
def go_live() -> Any:
    """``go_live(ops, at=None)``: a fully evidenced gate, activated."""
    return support.go_live
