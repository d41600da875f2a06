"""An operation's identity is (tenant, operation id), through ``record_publish``, on every
store: one id under two tenants is two operations; under one tenant in another batch or
with other facts it is a typed refusal, audited once, that changes nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from opsledger.domain.bounds import MAX_ID_CHARS
from opsledger.domain.publish import batch_uuid
from opsledger.domain.refusal import legacy_refusal_uuid, refusal_uuid
from opsledger_test_support import saas_tenant

from opsledger import (
    AuditQuery,
    FrozenClock,
    OperationIdReused,
    Operations,
    RepositoryOutOfScope,
)

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def ops(store_url: str) -> Iterator[Operations]:
    with Operations.open(store_url, clock=FrozenClock(T0)) as opened:
        saas_tenant(opened, "acme", ["web", "api"], at=T0)
        saas_tenant(opened, "globex", ["web"], at=T0)
        yield opened


def publish(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "tenant_id": "acme", "repository_id": "web", "idempotency_key": "k1",
        "payload_hash": "a" * 64, "outcome": "success", "attempts": 1, "latency_ms": 120,
        "occurred_at": T0, "operation_id": "saas-ingestion-000000000000000000000001",
    }
    return {**fields, **overrides}


def events(ops: Operations) -> int:
    return int(ops.sql.fetch(f"SELECT COUNT(*) AS n FROM {ops.sql.table(ops.sql.events_table)}")
               [0]["n"])


@pytest.mark.policy("5.scoping")
def test_one_operation_id_under_two_tenants_is_two_operations(ops: Operations) -> None:
    assert ops.record_publish(**publish()).status == "recorded"
    assert ops.record_publish(**publish(tenant_id="globex")).status == "recorded"
    for tenant in ("acme", "globex"):
        (row,) = ops.audit(AuditQuery(tenant_id=tenant))
        assert (row["tenant_id"], row["operation_id"]) == (tenant, publish()["operation_id"])
    assert ops.record_publish(**publish(tenant_id="globex")).status == "duplicate"


@pytest.mark.policy("5.idempotency_key")
@pytest.mark.policy("5.audit_trail")
@pytest.mark.parametrize("change", [{"idempotency_key": "k2"}, {"repository_id": "api"},
                                    {"latency_ms": 121}, {"outcome": "error"}])
def test_a_reused_operation_id_is_refused_audited_once_and_changes_nothing_else(
        ops: Operations, change: dict[str, Any]) -> None:
    ops.record_publish(**publish())
    before, rows = events(ops), ops.audit(AuditQuery(tenant_id="acme"))
    for _ in range(2):
        with pytest.raises(OperationIdReused) as refused:
            ops.record_publish(**publish(**change))
        assert refused.value.code == "operation_id_reused"
        assert refused.value.tenant_id == "acme"
    assert events(ops) == before + 1  # the refusal's own audit record, once
    assert ops.audit(AuditQuery(tenant_id="acme")) == rows
    (refusal,) = ops.audit_refusals(AuditQuery(tenant_id="acme"))
    assert (refusal["reason"], refusal["subject_id"]) == ("operation_id_reused",
                                                          publish()["operation_id"])
    assert ops.audit_refusals(AuditQuery(tenant_id="globex")) == []
    assert ops.record_publish(**publish()).status == "duplicate"


def test_a_long_reused_id_is_quoted_cut_short(ops: Operations) -> None:
    long_id = "x" * MAX_ID_CHARS  # the longest id the boundary accepts
    ops.record_publish(**publish(operation_id=long_id))
    with pytest.raises(OperationIdReused) as refused:
        ops.record_publish(**publish(operation_id=long_id, idempotency_key="k2"))
    assert len(str(refused.value)) < 200


@pytest.mark.policy("5.scoping")
@pytest.mark.policy("5.audit_trail")
def test_scope_refusals_of_one_id_under_two_tenants_are_two_refusals(ops: Operations) -> None:
    for tenant in ("acme", "globex"):
        with pytest.raises(RepositoryOutOfScope):
            ops.record_publish(**publish(tenant_id=tenant, repository_id="elsewhere"))
    refusals = ops.audit_refusals(AuditQuery(all_tenants=True))
    assert sorted(r["tenant_id"] for r in refusals) == ["acme", "globex"]


def test_an_id_refused_for_scope_then_recorded_and_reused_keeps_both_refusals(
        ops: Operations) -> None:
    with pytest.raises(RepositoryOutOfScope):
        ops.record_publish(**publish(repository_id="elsewhere"))
    ops.record_publish(**publish())
    with pytest.raises(OperationIdReused):
        ops.record_publish(**publish(idempotency_key="k2"))
    reasons = [r["reason"] for r in ops.audit_refusals(AuditQuery(tenant_id="acme"))]
    assert sorted(reasons) == ["operation_id_reused", "repository_out_of_scope"]


def test_stream_ids_are_scoped_by_tenant_whatever_the_ids_contain() -> None:
    assert batch_uuid("a/b", "c", "k", "op") != batch_uuid("a", "b/c", "k", "op")
    assert batch_uuid("t", "r", "unknown", "x/y") != batch_uuid("t", "r", "unknown/x", "y")
    assert batch_uuid("acme", "web", "k1", "op") == batch_uuid("acme", "web", "k1", "other")
    assert refusal_uuid("c", "op", "a") != refusal_uuid("c", "op", "b")
    assert refusal_uuid("c", "b/op", "a") != refusal_uuid("c", "op", "a/b")
    assert refusal_uuid("c", "op", "a", "operation_id_reused") != refusal_uuid("c", "op", "a")
    assert legacy_refusal_uuid("c", "op") not in {refusal_uuid("c", "op", "a")}
