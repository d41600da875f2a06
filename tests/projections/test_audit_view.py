"""Audit view contract on every backend: exactly-once, rebuildable, never crosses tenants."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opsledger_test_support import saas_tenant

from opsledger import AuditQuery, Operations, RepositoryOutOfScope

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
TENANTS = {"acme": ["web", "api"], "globex": ["core"], "initech": ["tps"]}


def seed_tenants(ops: Operations) -> None:
    for tenant, repos in TENANTS.items():
        saas_tenant(ops, tenant, repos, at=T0)


def record(ops: Operations, tenant: str, repo: str, n: int, **extra: Any) -> None:
    ops.record_publish(
        tenant_id=tenant, repository_id=repo, idempotency_key=f"k{n % 7}",
        payload_hash=f"{n % 3:064x}", outcome="error" if n % 5 == 0 else "success",
        error_code="HTTP_STATUS" if n % 5 == 0 else None, attempts=1, latency_ms=n,
        occurred_at=T0 + timedelta(seconds=n), **extra,
    )


@pytest.mark.policy("5.audit_trail")
def test_filters_select_exactly_the_matching_rows(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        seed_tenants(ops)
        for n in range(30):
            record(ops, "acme", "web" if n % 2 else "api", n)
        rows = ops.audit(AuditQuery(tenant_id="acme", repository_id="web", outcome="error"))
        assert [r["latency_ms"] for r in rows] == [5, 15, 25]
        window = ops.audit(AuditQuery(tenant_id="acme", since=T0 + timedelta(seconds=10),
                                      until=T0 + timedelta(seconds=13)))
        assert [r["latency_ms"] for r in window] == [10, 11, 12]
        keyed = ops.audit(AuditQuery(tenant_id="acme", idempotency_key="k3"))
        assert {r["idempotency_key"] for r in keyed} == {"k3"} and len(keyed) == 4
        coded = ops.audit(AuditQuery(tenant_id="acme", error_code="HTTP_STATUS", limit=2))
        assert [r["latency_ms"] for r in coded] == [0, 5]


def test_rebuilding_from_zero_equals_the_incremental_view(store_url: str, snapshot: Any) -> None:
    with Operations.open(store_url) as ops:
        seed_tenants(ops)
        for n in range(40):
            record(ops, "acme", "web", n)
            if n % 10 == 0:
                ops.catch_up()  # incremental, in several batches
        incremental = snapshot(ops)
        assert ops.rebuild_views() > 0
        assert snapshot(ops) == incremental


def test_each_event_is_applied_once_even_when_catch_up_runs_again(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        seed_tenants(ops)
        record(ops, "acme", "web", 1)
        ops.catch_up()
        assert ops.catch_up() == 0
        assert len(ops.audit(AuditQuery(tenant_id="acme"))) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(st.tuples(st.sampled_from(sorted(TENANTS)), st.integers(0, 10_000)),
                  min_size=1, max_size=25),
    seed=st.integers(0, 1000),
)
def test_no_query_in_one_tenants_scope_returns_another_tenants_rows(
    plan: list[tuple[str, int]], seed: int
) -> None:
    rng = random.Random(seed)
    recorded: dict[str, set[tuple[str, int]]] = {t: set() for t in TENANTS}
    with Operations.open("memory://") as ops:
        seed_tenants(ops)
        for tenant, n in plan:
            repo = rng.choice(TENANTS[tenant])
            record(ops, tenant, repo, n)
            recorded[tenant].add((repo, n))  # identical facts are one operation
            if rng.random() < 0.2:  # a refused record claiming someone else's repository
                other = rng.choice([r for t, rs in TENANTS.items() if t != tenant for r in rs])
                with pytest.raises(RepositoryOutOfScope):
                    record(ops, tenant, other, n)
        for tenant in TENANTS:
            query = AuditQuery(tenant_id=tenant)
            publish = ops.audit(query)
            rows = publish + ops.audit_refusals(query) + ops.audit_actions(query)
            rows += ops.audit_summary(query)
            assert {r["tenant_id"] for r in rows} <= {tenant}
            assert {(r["repository_id"], r["latency_ms"]) for r in publish} == recorded[tenant]
