"""Recording publish operations under policy §5, on every store.

Given earlier commands, when one command at a time, then the new events or the typed error;
every rejection leaves the store as it was (a scope refusal adds only its audit entry).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from opsledger_test_support import saas_tenant

from opsledger import (
    AuditQuery,
    FrozenClock,
    Governance,
    InvalidRecord,
    MissingIdempotencyKey,
    NaiveDatetime,
    Operations,
    RepositoryOutOfScope,
    RetentionPolicyMissing,
    UnknownTenant,
)

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
H1, H2 = "a" * 64, "b" * 64


@pytest.fixture
def ops(store_url: str) -> Iterator[Operations]:
    with Operations.open(store_url, clock=FrozenClock(T0)) as opened:
        saas_tenant(opened, "acme", ["web", "api"], at=T0, by="alice")
        opened.register_tenant("globex", repositories=["core"], governance=None, by="alice",
                               at=T0)
        yield opened


def publish(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        tenant_id="acme", repository_id="web", idempotency_key="k1", payload_hash=H1,
        outcome="success", attempts=1, latency_ms=120, occurred_at=T0, status=202,
    )
    fields.update(overrides)
    return fields


def test_a_first_operation_starts_a_batch_and_is_in_the_audit_trail(ops: Operations) -> None:
    result = ops.record_publish(**publish(request_id="req-1"))
    assert (result.status, result.retry, result.collision) == ("recorded", False, False)
    (row,) = ops.audit(AuditQuery(tenant_id="acme"))
    assert row["operation_id"] == result.operation_id
    assert (row["outcome"], row["latency_ms"], row["request_id"]) == ("success", 120, "req-1")
    assert row["occurred_at"] == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.mark.policy("5.idempotency_key")
def test_same_key_same_hash_is_a_retry_and_a_different_hash_a_collision(
    ops: Operations,
) -> None:
    first = ops.record_publish(**publish())
    retry = ops.record_publish(**publish(occurred_at=T0.replace(minute=1), outcome="error",
                                         error_code="HTTP_STATUS", status=503))
    collision = ops.record_publish(**publish(occurred_at=T0.replace(minute=2), payload_hash=H2))
    assert retry.batch_id == first.batch_id == collision.batch_id
    assert (retry.retry, retry.collision) == (True, False)
    assert (collision.retry, collision.collision) == (False, True)
    rows = ops.audit(AuditQuery(tenant_id="acme", idempotency_key="k1"))
    assert [r["collision"] for r in rows] == [0, 0, 1]


@pytest.mark.policy("5.audit_trail")
def test_an_exact_duplicate_changes_nothing(ops: Operations, snapshot: Any) -> None:
    ops.record_publish(**publish(operation_id="saas-ingestion-1"))
    before = snapshot(ops)
    again = ops.record_publish(**publish(operation_id="saas-ingestion-1"))
    assert again.status == "duplicate"
    assert snapshot(ops) == before


def test_without_an_operation_id_a_digest_of_the_record_identifies_it(ops: Operations) -> None:
    first = ops.record_publish(**publish())
    assert first.operation_id.startswith("op-")
    assert ops.record_publish(**publish()).status == "duplicate"
    assert ops.record_publish(**publish(latency_ms=121)).status == "recorded"


@pytest.mark.policy("5.idempotency_key")
@pytest.mark.parametrize("key", [None, ""])
def test_a_missing_idempotency_key_is_refused_and_nothing_is_stored(
    ops: Operations, snapshot: Any, key: str | None
) -> None:
    before = snapshot(ops)
    with pytest.raises(MissingIdempotencyKey):
        ops.record_publish(**publish(idempotency_key=key))
    assert snapshot(ops) == before


@pytest.mark.policy("5.idempotency_key")
def test_pumukis_unknown_key_is_accepted_flagged_and_never_a_collision(ops: Operations) -> None:
    a = ops.record_publish(**publish(idempotency_key="unknown", outcome="error", attempts=0,
                                     error_code="AUTH_POLICY_VIOLATION", status=None))
    b = ops.record_publish(**publish(idempotency_key="unknown", payload_hash=H2, outcome="error",
                                     attempts=0, error_code="AUTH_POLICY_VIOLATION",
                                     status=None, latency_ms=3))
    assert a.key_missing and b.key_missing
    assert a.batch_id != b.batch_id and not b.collision
    rows = ops.audit(AuditQuery(tenant_id="acme", idempotency_key="unknown"))
    assert [r["key_missing"] for r in rows] == [1, 1]


def test_a_naive_datetime_is_refused_and_nothing_is_stored(
    ops: Operations, snapshot: Any
) -> None:
    before = snapshot(ops)
    with pytest.raises(NaiveDatetime):
        ops.record_publish(**publish(occurred_at=datetime(2026, 11, 3, 9, 0)))
    assert snapshot(ops) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("payload_hash", "xyz"), ("latency_ms", -1), ("attempts", -2), ("outcome", "maybe"),
     ("error_code", "TEAPOT"), ("tenant_id", ""), ("status", 42)],
)
def test_a_malformed_record_names_the_field_and_stores_nothing(
    ops: Operations, snapshot: Any, field: str, value: Any
) -> None:
    before = snapshot(ops)
    with pytest.raises(InvalidRecord) as caught:
        ops.record_publish(**publish(**{field: value}))
    assert caught.value.problems[0][0] == field
    assert snapshot(ops) == before


def _only_new_event_is_one_refusal(before: dict[str, Any], after: dict[str, Any]) -> None:
    new = [e for e in after["events"] if e not in before["events"]]
    assert [topic for _, _, topic, _ in new] == ["opsledger.RefusedCommand.Refused"]
    assert after["views"]["audit_publish"] == before["views"]["audit_publish"]


@pytest.mark.policy("5.scoping")
def test_an_unknown_tenant_is_refused_and_only_the_refusal_is_audited(
    ops: Operations, snapshot: Any
) -> None:
    before = snapshot(ops)
    with pytest.raises(UnknownTenant, match="initech"):
        ops.record_publish(**publish(tenant_id="initech"))
    after = snapshot(ops)
    _only_new_event_is_one_refusal(before, after)
    (refusal,) = ops.audit_refusals(AuditQuery(all_tenants=True))
    assert (refusal["tenant_id"], refusal["reason"]) == ("initech", "unknown_tenant")


@pytest.mark.policy("5.scoping")
def test_a_repository_out_of_scope_is_refused_and_only_the_refusal_is_audited(
    ops: Operations, snapshot: Any
) -> None:
    before = snapshot(ops)
    with pytest.raises(RepositoryOutOfScope, match="billing"):
        ops.record_publish(**publish(repository_id="billing"))
    _only_new_event_is_one_refusal(before, snapshot(ops))
    (refusal,) = ops.audit_refusals(AuditQuery(tenant_id="acme"))
    assert refusal["reason"] == "repository_out_of_scope"
    # Refusing the same operation again adds nothing.
    again = snapshot(ops)
    with pytest.raises(RepositoryOutOfScope):
        ops.record_publish(**publish(repository_id="billing"))
    assert snapshot(ops) == again


@pytest.mark.policy("5.retention_privacy")
def test_a_tenant_without_a_retention_policy_cannot_receive_records(
    ops: Operations, snapshot: Any
) -> None:
    before = snapshot(ops)
    with pytest.raises(RetentionPolicyMissing, match="globex"):
        ops.record_publish(**publish(tenant_id="globex", repository_id="core"))
    _only_new_event_is_one_refusal(before, snapshot(ops))
    ops.set_governance("globex", Governance(), by="alice")
    assert ops.record_publish(**publish(tenant_id="globex", repository_id="core",
                                        operation_id="other")).status == "recorded"


@pytest.mark.policy("5.scoping")
def test_a_removed_repository_is_out_of_scope_from_then_on(ops: Operations) -> None:
    ops.record_publish(**publish())
    ops.remove_repository("acme", "web", by="alice")
    with pytest.raises(RepositoryOutOfScope):
        ops.record_publish(**publish(idempotency_key="k2"))
    ops.add_repository("acme", "web", by="alice")
    assert ops.record_publish(**publish(idempotency_key="k2")).status == "recorded"


@pytest.mark.policy("5.auth_validation")
@pytest.mark.policy("4.critical.tenant_boundary_violation")
def test_auth_failures_blocked_crossings_and_confirmed_violations_are_recorded_as_such(
    ops: Operations,
) -> None:
    ops.record_publish(**publish(outcome="error", attempts=0, error_code="AUTH_POLICY_VIOLATION",
                                 status=None, latency_ms=1))
    ops.record_publish(**publish(idempotency_key="k2", outcome="error", attempts=0,
                                 error_code="ISOLATION_VIOLATION", status=None, latency_ms=1))
    counts = {r["error_code"]: r["operations"]
              for r in ops.audit_summary(AuditQuery(tenant_id="acme"))}
    assert counts == {"AUTH_POLICY_VIOLATION": 1, "ISOLATION_VIOLATION": 1}
    violation = ops.confirm_boundary_violation("acme", evidence="INC-7: rows of globex seen",
                                               by="bob", repository_id="web")
    assert ops.tenant("acme").boundary_violations[0]["violation_id"] == violation
    actions = [a["action"] for a in ops.audit_actions(AuditQuery(tenant_id="acme"))]
    assert "Tenant.BoundaryViolationConfirmed" in actions


def test_audit_queries_need_a_tenant_or_the_operator_scope(ops: Operations) -> None:
    from opsledger import NotFound

    with pytest.raises(NotFound):
        ops.audit(AuditQuery())
    with pytest.raises(UnknownTenant):
        ops.audit(AuditQuery(tenant_id="nobody"))
