"""A business time from the future is refused at the boundary (issue 13: no input may wedge
the store): a line dated years ahead would carry its tenant's event time there, turning
every later real fact into a late one and making the incident sweep record one missed
status slot per 30 minutes up to that date (over a million events for 2099). The store
accepts times up to a day ahead of its clock (clock drift, a wrong offset).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from opsledger.domain.bounds import MAX_AHEAD, OutOfBounds
from opsledger.domain.time import FrozenClock

from opsledger import Governance, Operations
from opsledger.cli.main import main
from opsledger.services.records import InvalidRecord

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


def run(*args: str, db: str) -> Result:
    return CliRunner().invoke(main, [*args, "--db", db], catch_exceptions=False)


def event_count(db: str) -> int:
    with Operations.open(db) as ops:
        return ops.views.head()


@pytest.mark.parametrize("db", ["sqlite", POSTGRES_SLOW], indirect=True)
def test_a_line_from_the_future_is_refused_and_the_sweep_stays_bounded(
        db: str, sample_audit: Path, tmp_path: Path) -> None:
    """The sample (which opens SEV1 incidents) imports; a line of the same tenant dated
    2099 is refused with its line and field, nothing is stored for it, and the import,
    the sweep and the reads finish at once instead of recording missed status slots to
    2099."""
    assert run("import", "pumuki-audit", str(sample_audit), "--register-unknown",
               db=db).exit_code == 0
    before = event_count(db)
    lines = sample_audit.read_bytes().splitlines()
    future = json.loads(lines[0])
    future.update(event_id="saas-ingestion-" + "f" * 24, event_at="2099-12-31T23:00:00Z")
    soon = json.loads(lines[1])
    soon.update(event_id="saas-ingestion-" + "e" * 24,
                event_at=(datetime.now(UTC) + MAX_AHEAD / 2).isoformat())
    path = tmp_path / "future.ndjson"
    path.write_bytes(json.dumps(future).encode() + b"\n" + json.dumps(soon).encode() + b"\n")
    result = run("import", "pumuki-audit", str(path), "--json", db=db)
    summary = json.loads(result.output)
    assert [(r["line"], r["field"]) for r in summary["rejected"]] == [(1, "event_at")]
    assert "ahead of the clock" in summary["rejected"][0]["error"]
    assert summary["imported"] == 1  # within a day ahead: clock drift is accepted
    assert run("scheduler", "run", "--once", db=db).exit_code == 0
    # Only the sweep to the clock's time (the missed status slots of the sample's open
    # SEV1s up to now, as a store without the two lines records too) and the accepted
    # line's own facts were added: nothing was swept towards 2099.
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    run("import", "pumuki-audit", str(sample_audit), "--register-unknown", db=reference)
    run("scheduler", "run", "--once", db=reference)
    assert before < event_count(db) <= event_count(reference) + 100
    tenant = future["tenant_id"]
    assert run("slo", "--tenant", tenant, "--month", "2099-12", "--json", db=db).exit_code == 0
    assert run("projections", "verify", db=db).exit_code == 0


def test_record_publish_and_commands_refuse_times_more_than_a_day_ahead(db: str) -> None:
    """Through the Python API with an injected clock: a publish or an operator command
    more than a day after the clock is an OutOfBounds refusal naming the field, and the
    store is unchanged; one just inside the day is accepted."""
    ops = Operations.open(db, clock=FrozenClock(NOW))
    try:
        ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="alice")
        head = ops.views.head()
        record = {"tenant_id": "acme", "repository_id": "web", "idempotency_key": "k1",
                  "payload_hash": "a" * 64, "outcome": "success", "attempts": 1,
                  "latency_ms": 120}
        with pytest.raises(InvalidRecord) as refused:
            ops.record_publish(occurred_at=NOW + MAX_AHEAD + timedelta(seconds=1), **record)
        assert [p[0] for p in refused.value.problems] == ["occurred_at"]
        assert "ahead of the clock" in str(refused.value)
        with pytest.raises(OutOfBounds):
            ops.open_incident(tenant_id="acme", severity="SEV2", title="t", cause="c",
                              by="alice", at=NOW + timedelta(days=400))
        assert ops.views.head() == head
        ops.record_publish(occurred_at=NOW + MAX_AHEAD, **record)
        assert ops.views.head() > head
    finally:
        ops.close()
