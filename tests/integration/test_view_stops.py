"""A view that cannot apply an event stops alone (issue 13, point 4): the other views and
every write go on, ``projections status`` and ``doctor`` name the view, the event and the
error, another view still rebuilds, and once the fault is gone ``catch-up --retry`` or
``rebuild --view`` resumes it to exactly what an uninterrupted run gives."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opsledger.projections import AuditView, Fact, SqlStore

from opsledger import Operations
from opsledger.cli.main import main
from opsledger.reports.verify import verify_views


class InjectedFault(RuntimeError):
    """The test's stand-in for a view bug."""


class Fault:
    """Makes ``AuditView.apply`` fail on the batch holding one event: first it wipes the
    view's table (which the rollback must undo), then it fails — in Python, or in the
    database (a NOT NULL violation, which aborts a PostgreSQL transaction)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
        self.position: int | None = None
        self.kind = kind
        original = AuditView.apply

        def apply(view: AuditView, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
            if self.position is not None and any(f.position == self.position for f in facts):
                sql.execute(cursor, f"DELETE FROM {sql.table('audit_publish')}")
                if self.kind == "database":
                    sql.execute(cursor, f"INSERT INTO {sql.table('opsledger_tracking')} "
                                        "VALUES (NULL, NULL)")
                raise InjectedFault(f"cannot apply event {self.position}")
            original(view, sql, cursor, facts)

        monkeypatch.setattr(AuditView, "apply", apply)


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file store and a PostgreSQL store."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def _status(url: str) -> dict[str, dict[str, Any]]:
    result = _cli("projections", "status", "--db", url, "--json")
    assert result.exit_code == 0, result.output
    return {row["view"]: row for row in json.loads(result.stdout)}


@pytest.mark.parametrize(("kind", "resume"), [("python", "retry"), ("database", "rebuild")])
def test_a_failing_view_stops_alone_and_resumes_to_an_uninterrupted_run(
    url: str, sample_audit: Path, monkeypatch: pytest.MonkeyPatch, kind: str, resume: str
) -> None:
    fault = Fault(monkeypatch, kind)
    fault.position = 300  # an event of the sample's import (a publish operation)

    imported = _cli("import", "pumuki-audit", str(sample_audit), "--register-unknown",
                    "--db", url, "--json")
    assert imported.exit_code == 0, imported.output  # every write went through
    assert json.loads(imported.stdout)["imported"] == 571
    assert _cli("projections", "catch-up", "--db", url).exit_code == 0  # the alert events

    status = _status(url)
    audit = status["audit"]
    expected = {"python": {"InjectedFault"}, "database": {"IntegrityError", "NotNullViolation"}}
    assert (audit["stopped"], audit["failed_at"]) == (True, 300)
    assert audit["error_type"] in expected[kind] and audit["message"]
    assert audit["position"] == 299  # narrowed: every event before it applied
    assert status["retention"]["stopped"] and "audit" in status["retention"]["message"]
    head = audit["head"]
    for other in ("slo", "alerts", "incidents"):
        assert not status[other]["stopped"] and status[other]["position"] == head

    # a write still succeeds, and the running views follow it; the stopped one stays put
    wrote = _cli("record", "publish", "--db", url, "--tenant", "tenant-solo", "--repo",
                 "repo-solo-api", "--key", "k-after", "--payload-hash", "ab" * 32, "--outcome",
                 "success", "--latency-ms", "12", "--attempts", "1", "--at",
                 "2026-11-03T12:00:00Z")
    assert wrote.exit_code == 0, wrote.output
    listed = _cli("audit", "list", "--all-tenants", "--db", url, "--json")
    assert listed.exit_code == 0, listed.output  # the stopped view answers from its rows
    assert 0 < len(json.loads(listed.stdout)) < 571
    assert "view audit is stopped at event 300" in listed.stderr  # and it says so
    status = _status(url)
    assert status["slo"]["position"] == status["slo"]["head"] > head
    assert (status["audit"]["position"], status["audit"]["failed_at"]) == (299, 300)

    doctor = _cli("doctor", "--db", url, "--json")
    assert doctor.exit_code == 1
    stopped = [f for f in json.loads(doctor.stdout)["findings"]
               if f["check"] == "view" and f["level"] == "action"]
    assert [(f["subject"], f["position"]) for f in stopped] == [("audit", 300), ("retention", 300)]
    assert "opsledger projections rebuild --view audit" in stopped[0]["fix"]
    assert audit["error_type"] in stopped[0]["message"]

    verified = _cli("projections", "verify", "--db", url, "--json")
    assert verified.exit_code == 1  # a stopped view is not current, whatever it holds
    assert json.loads(verified.stdout)["stopped"] == ["audit", "retention"]

    # another view rebuilds while audit is stopped
    rebuilt = _cli("projections", "rebuild", "--view", "slo", "--db", url)
    assert rebuilt.exit_code == 0, rebuilt.output
    status = _status(url)
    assert status["slo"]["position"] == status["slo"]["head"] and status["audit"]["stopped"]

    # a plain catch-up does not retry it (nor fail); after the fix, it resumes
    assert _cli("projections", "catch-up", "--db", url).exit_code == 0
    assert _status(url)["audit"]["stopped"]
    fault.position = None
    command = ["projections", "catch-up", "--retry"] if resume == "retry" else \
        ["projections", "rebuild", "--view", "audit"]
    assert _cli(*command, "--db", url).exit_code == 0
    status = _status(url)
    assert all(not row["stopped"] and row["lag"] == 0
               for name, row in status.items() if name != "alert-process")
    with Operations.open(url) as ops:
        assert verify_views(ops).ok  # equal to a rebuild from zero: an uninterrupted run
    doctor = _cli("doctor", "--db", url, "--json")
    assert not [f for f in json.loads(doctor.stdout)["findings"]
                if f["check"] == "view" and f["level"] != "ok"]


def test_rebuild_of_an_unknown_view_is_a_typed_error(sqlite_url: str) -> None:
    result = _cli("projections", "rebuild", "--view", "nope", "--db", sqlite_url)
    assert result.exit_code == 2 and "unknown_view" in result.output


def test_an_event_stored_below_the_bounds_stops_only_the_views_that_cannot_hold_it(
    url: str, sample_audit: Path
) -> None:
    """The finding of issue 13 (2), written below the bounds (``model_construct`` skips the
    validation a boundary would apply): a latency of 2^63 fits no BIGINT column, so the
    views that store latencies stop at that event; the others and every write go on."""
    from datetime import UTC, datetime

    from opsledger import PublishRecord, import_pumuki_audit

    with Operations.open(url) as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()[:100]],
                            register_unknown=True)
        ops.catch_up()
        huge = PublishRecord.model_construct(
            tenant_id="tenant-solo", repository_id="repo-solo-api", idempotency_key="huge",
            payload_hash="ab" * 32, outcome="success", attempts=1, latency_ms=2**63,
            occurred_at=datetime(2026, 11, 3, 12, tzinfo=UTC), error_code=None, status=None,
            request_id=None, endpoint=None, retryable=None, operation_id=None)
        ops.record_publish(huge, by="test")
        at = ops.views.head()
        ops.catch_up()
        stopped = {s.view: s for s in ops.view_status() if s.stopped}
        assert stopped and "audit" in stopped and {s.failed_at for s in stopped.values()} == {at}
        assert {"alerts", "incidents"}.isdisjoint(stopped)
        ops.record_publish(tenant_id="tenant-solo", repository_id="repo-solo-api",
                           idempotency_key="after", payload_hash="cd" * 32, outcome="success",
                           attempts=1, latency_ms=5,
                           occurred_at=datetime(2026, 11, 3, 12, 1, tzinfo=UTC), by="test")
        ops.rebuild_views(views=["alerts"])
        status = {s.view: s for s in ops.view_status()}
        assert status["alerts"].lag == status["incidents"].lag == 0
        assert status["audit"].failed_at == at and status["audit"].position < at
