"""Operator commands and records are bounded at the boundary (domain/bounds.py): an id with a
control character, NUL anywhere, over-long text, a time outside 2000..2100 or a coerced
number is a typed refusal naming the field, quoting little, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from opsledger.domain.bounds import MAX_ID_CHARS, MAX_TEXT_CHARS, OutOfBounds, TimeBounds
from opsledger.domain.errors import InvalidInput
from opsledger_test_support import go_live

from opsledger import Governance, InvalidRecord, Operations, import_pumuki_audit
from opsledger.cli.main import main

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
HASH = "a" * 64
HUGE = "h" * 10_000_000


def registered(ops: Operations) -> str:
    """Tenant ``acme`` (scope ``web``) and one open incident, whose id is returned."""
    ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="ops", at=T0)
    opened = ops.open_incident(severity="SEV2", title="slow", cause="latency", by="ops",
                               tenant_id="acme", at=T0)
    return str(opened["id"])


COMMANDS: dict[str, tuple[str, Callable[[Operations, str], Any]]] = {
    "nul in tenant id": ("tenant_id", lambda o, _: o.register_tenant(
        "a\x00b", repositories=["web"], governance=Governance(), by="ops", at=T0)),
    "escape in tenant id": ("tenant_id", lambda o, _: o.register_tenant(
        "evil\x1b[2J", repositories=["web"], governance=Governance(), by="ops", at=T0)),
    "257-char tenant id": ("tenant_id", lambda o, _: o.register_tenant(
        "t" * (MAX_ID_CHARS + 1), repositories=["web"], governance=Governance(), by="ops",
        at=T0)),
    "control in a repository": ("repositories", lambda o, _: o.register_tenant(
        "beta", repositories=["web\x07"], governance=Governance(), by="ops", at=T0)),
    "10 MB name": ("name", lambda o, _: o.register_tenant(
        "beta", repositories=["web"], governance=Governance(), by="ops", name=HUGE, at=T0)),
    "control in the actor": ("by", lambda o, _: o.add_repository("acme", "api", by="a\nb",
                                                              at=T0)),
    "year 9999": ("at", lambda o, _: o.add_repository(
        "acme", "api", by="ops", at=datetime(9999, 12, 31, tzinfo=UTC))),
    "year 1999": ("at", lambda o, _: o.add_repository(
        "acme", "api", by="ops", at=datetime(1999, 12, 31, 23, 59, tzinfo=UTC))),
    "nul in evidence text": ("evidence", lambda o, _: o.confirm_boundary_violation(
        "acme", evidence="seen\x00", by="ops", at=T0)),
    "10 MB incident title": ("title", lambda o, _: o.open_incident(
        severity="SEV2", title=HUGE, cause="latency", by="ops", tenant_id="acme", at=T0)),
    "nul in incident title": ("title", lambda o, _: o.open_incident(
        severity="SEV2", title="x\x00", cause="latency", by="ops", tenant_id="acme", at=T0)),
    "nul in a status update": ("message", lambda o, incident: o.post_status_update(
        incident, message="m\x00", by="ops", at=T0 + timedelta(minutes=5))),
    "nul in gate evidence details": ("details.run_ref", lambda o, _: o.record_gate_evidence(
        "typecheck", result="pass", by="ci", at=T0,
        details={"version": "1", "commit": "c", "source": "remote_ci", "run_ref": "r\x00"})),
    "a NaN in gate evidence": ("details.score", lambda o, _: o.record_gate_evidence(
        "typecheck", result="pass", by="ci", at=T0, details={"score": float("nan")})),
    "gate evidence 20 levels deep": ("details", lambda o, _: o.record_gate_evidence(
        "typecheck", result="pass", by="ci", at=T0, details=_deep(20))),
    "nul in a rollback reason": ("reason", lambda o, _: o.rollback_to_local(
        reason="r\x00", by="ops", at=T0)),
}


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"k": value}
    return value


@pytest.mark.parametrize("case", sorted(COMMANDS))
def test_an_out_of_bounds_operator_command_is_refused_by_field_and_stores_nothing(
    sqlite_url: str, case: str, snapshot: Any
) -> None:
    field, command = COMMANDS[case]
    with Operations.open(sqlite_url) as ops:
        incident = registered(ops)
        before = snapshot(ops)
        with pytest.raises(OutOfBounds) as caught:
            command(ops, incident)
        assert caught.value.field.startswith(field.split(".")[0])
        assert field in str(caught.value)
        assert len(str(caught.value)) < 300
        assert snapshot(ops) == before


def test_no_refused_command_reaches_postgresql(pg_url: str, snapshot: Any) -> None:
    with Operations.open(pg_url) as ops:
        incident = registered(ops)
        before = snapshot(ops)
        for field, command in COMMANDS.values():
            with pytest.raises(OutOfBounds, match=field.split(".")[0]):
                command(ops, incident)
        assert snapshot(ops) == before
        assert ops.verify_chain().ok


def test_the_largest_allowed_ids_and_texts_are_accepted(store_url: str) -> None:
    tenant = ("ténant-😀-" * 40)[:MAX_ID_CHARS]
    title = ("line\n\ttab ☃ " * 400)[:MAX_TEXT_CHARS]
    with Operations.open(store_url) as ops:
        ops.register_tenant(tenant, repositories=["r" * MAX_ID_CHARS], governance=Governance(),
                            by="o" * MAX_ID_CHARS, name="ñ" * MAX_TEXT_CHARS, at=T0)
        opened = ops.open_incident(severity="SEV3", title=title, cause="defect", by="ops",
                                   tenant_id=tenant, at=datetime(2000, 1, 1, tzinfo=UTC))
        assert ops.incident(opened["id"])["title"] == title
        assert ops.tenant(tenant).repositories == ("r" * MAX_ID_CHARS,)


@pytest.mark.parametrize(("field", "value"), [
    ("latency_ms", "145"), ("attempts", "1"), ("status", "202"), ("attempts", 1.0),
    ("latency_ms", 2**63), ("attempts", 2**63), ("retryable", "no"), ("latency_ms", True),
    ("occurred_at", 1793000000), ("request_id", "r\x00"), ("endpoint", "e" * 4097),
])
def test_record_publish_refuses_coercions_and_out_of_range_values(
    field: str, value: Any
) -> None:
    fields = dict(tenant_id="acme", repository_id="web", idempotency_key="k",
                  payload_hash=HASH, outcome="success", attempts=1, latency_ms=10,
                  occurred_at=T0, status=202)
    with Operations.open("memory://") as ops:
        registered(ops)
        with pytest.raises(InvalidRecord) as caught:
            ops.record_publish(**{**fields, field: value})
    assert caught.value.field == field
    assert len(str(caught.value)) < 300


def test_visibility_records_are_bounded(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        registered(ops)
        for name, value in (("idempotency_key", "k\x00"), ("payload_hash", "z" * 64),
                            ("visible_at", datetime(2100, 1, 1, tzinfo=UTC))):
            fields: dict[str, Any] = dict(tenant_id="acme", repository_id="web",
                                          idempotency_key="k", payload_hash=HASH,
                                          visible_at=T0)
            with pytest.raises(InvalidRecord) as caught:
                ops.record_visibility(**{**fields, name: value})
            assert caught.value.field == name


def test_the_time_bounds_are_a_parameter_of_the_import(sqlite_url: str) -> None:
    line = (b'{"event_id":"e1","event_at":"1995-06-01T10:00:00+02:00","tenant_id":"acme",'
            b'"repository_id":"web","idempotency_key":"k1","payload_hash":"' + HASH.encode()
            + b'","outcome":"success","attempts":1,"latency_ms":12}')
    with Operations.open(sqlite_url) as ops:
        registered(ops)
        refused = import_pumuki_audit(ops, [[line]])
        assert [r["field"] for r in refused.rejected] == ["event_at"]
        assert "[2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)" in refused.rejected[0]["error"]
        wider = TimeBounds(earliest=datetime(1990, 1, 1, tzinfo=UTC))
        accepted = import_pumuki_audit(ops, [[line]], time_bounds=wider)
        assert (accepted.imported, accepted.rejected) == (1, [])


def test_time_bounds_outside_what_the_views_can_hold_are_refused() -> None:
    for earliest, latest in ((datetime(1, 1, 2, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)),
                             (datetime(2000, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)),
                             (datetime(2050, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))):
        with pytest.raises(InvalidInput):
            TimeBounds(earliest=earliest, latest=latest)


@pytest.mark.parametrize("args", [
    ["tenant", "add", "evil\x1b]0;x\x07", "--repo", "web", "--default-retention"],
    ["tenant", "add", "ok", "--repo", "web\x00", "--default-retention"],
    ["incident", "open", "--severity", "SEV2", "--title", "t" * 5000, "--cause", "latency",
     "--by", "ops"],
    ["incident", "open", "--severity", "SEV2", "--title", "t", "--cause", "latency", "--by",
     "ops", "--at", "9999-12-31T23:59:59-05:00"],
    ["incident", "open", "--severity", "SEV2", "--title", "t", "--cause", "latency", "--by",
     "ops", "--at", "2100-01-01T00:00:00Z"],
])
def test_the_cli_refuses_out_of_bounds_arguments_without_a_traceback(
    sqlite_url: str, args: list[str]
) -> None:
    with Operations.open(sqlite_url) as ops:
        go_live(ops, at=T0)
    result = CliRunner().invoke(main, [*args, "--db", sqlite_url])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and len(result.output) < 600
    with Operations.open(sqlite_url) as ops:
        assert [t.tenant_id for t in ops.tenants()] == []
        assert ops.incidents(all_tenants=True) == []
