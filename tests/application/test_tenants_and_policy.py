"""Tenants (scope, governance, mode) and the policy ledger (adoption is an event)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsledger import (
    AuditQuery,
    FrozenClock,
    Governance,
    InvalidInput,
    Mode,
    NaiveDatetime,
    Operations,
    OperationsPolicy,
    PrivacySettings,
    RepositoryOutOfScope,
    TenantAlreadyRegistered,
    UnknownTenant,
)

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def test_registering_a_tenant_twice_conflicts_and_changes_nothing(
    store_url: str, snapshot: Any
) -> None:
    with Operations.open(store_url, clock=FrozenClock(T0)) as ops:
        ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="alice")
        before = snapshot(ops)
        with pytest.raises(TenantAlreadyRegistered):
            ops.register_tenant("acme", repositories=["api"], governance=None, by="mallory")
        assert snapshot(ops) == before
        assert ops.tenant("acme").repositories == ("web",)


def test_naive_times_on_any_command_are_refused(snapshot: Any) -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        before = snapshot(ops)
        with pytest.raises(NaiveDatetime):
            ops.register_tenant("acme", repositories=[], governance=None, by="a",
                                at=datetime(2026, 11, 3))
        assert snapshot(ops) == before


def test_changes_to_an_unknown_tenant_are_typed_errors(snapshot: Any) -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        before = snapshot(ops)
        with pytest.raises(UnknownTenant):
            ops.add_repository("nobody", "web", by="a")
        with pytest.raises(UnknownTenant):
            ops.tenant("nobody")
        assert snapshot(ops) == before


def test_removing_a_repository_not_in_scope_is_refused_and_changes_nothing(
    snapshot: Any,
) -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="a")
        before = snapshot(ops)
        with pytest.raises(RepositoryOutOfScope):
            ops.remove_repository("acme", "api", by="a")
        assert snapshot(ops) == before


@pytest.mark.policy("5.retention_privacy")
def test_privacy_redacting_the_tenant_requires_redacting_the_repository() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="redact_repository_id"):
        PrivacySettings(redact_tenant_id=True)
    assert PrivacySettings(redact_tenant_id=True, redact_repository_id=True).redact_tenant_id


@pytest.mark.policy("1.saas_only")
def test_mode_changes_are_events_with_actor_and_reason(go_live: Any) -> None:
    from opsledger import Conflict

    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="a")
        assert ops.tenant("acme").mode == "local_only"
        with pytest.raises(Conflict, match=r"gate is not active.*token-rotation owner"):
            ops.set_tenant_mode("acme", Mode.SAAS, reason="go-live", by="bob")
        go_live(ops)
        ops.assign_token_rotation_owner("acme", "carol", by="bob")
        ops.set_tenant_mode("acme", Mode.SAAS, reason="go-live", by="bob")
        ops.set_tenant_mode("acme", Mode.SAAS, reason="again", by="bob")  # no-op
        assert ops.tenant("acme").mode == "saas"
        actions = [(a["action"], a["actor"]) for a in ops.audit_actions(
            AuditQuery(tenant_id="acme"))]
        assert actions == [("Tenant.Registered", "a"),
                           ("Tenant.TokenRotationOwnerAssigned", "bob"),
                           ("Tenant.ModeChanged", "bob")]


def test_the_policy_in_force_follows_adoptions_by_business_time() -> None:
    clock = FrozenClock(T0)
    with Operations.open("memory://", clock=clock) as ops:
        assert ops.policy_at() == OperationsPolicy()
        tuned = OperationsPolicy.from_toml("[alerts]\nerror_rate_threshold = 0.03\n")
        assert ops.adopt_policy(tuned, by="review", reason="monthly tuning",
                                effective_at=T0 + timedelta(days=1))
        assert not ops.adopt_policy(tuned, by="review", reason="same again",
                                    effective_at=T0 + timedelta(days=2))
        assert ops.policy_at(T0).alerts.error_rate_threshold == 0.02
        assert ops.policy_at(T0 + timedelta(days=1)).alerts.error_rate_threshold == 0.03
        (action,) = ops.audit_actions(AuditQuery(all_tenants=True))
        assert (action["action"], action["actor"]) == ("PolicyLedger.Adopted", "review")


def test_a_policy_passed_by_the_host_is_adopted_once(sqlite_url: str) -> None:
    tuned = OperationsPolicy.from_toml("[slo]\navailability_target = 0.999\n")
    with Operations.open(sqlite_url, clock=FrozenClock(T0), policy=tuned) as ops:
        assert ops.policy_at(datetime(2000, 1, 1, tzinfo=UTC)) == tuned
    with Operations.open(sqlite_url, clock=FrozenClock(T0), policy=tuned) as ops:
        assert len(ops.audit_actions(AuditQuery(all_tenants=True))) == 1


def test_a_store_url_opsledger_does_not_understand_is_a_typed_error() -> None:
    with pytest.raises(InvalidInput, match="mysql"):
        Operations.open("mysql://root@localhost/x")
    with pytest.raises(InvalidInput):
        Operations.open("sqlite://")


def test_the_store_url_can_come_from_the_hosts_env(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    with Operations.open(env={"OPSLEDGER_DB": url}) as ops:
        assert ops.store.path == str(tmp_path / "env.db")


def test_a_tenant_change_by_another_process_is_seen_by_the_next_record(sqlite_url: str) -> None:
    from opsledger import RepositoryOutOfScope as OutOfScope

    fields = dict(tenant_id="acme", repository_id="web", payload_hash="a" * 64,
                  outcome="success", attempts=1, latency_ms=5, occurred_at=T0)
    with Operations.open(sqlite_url, clock=FrozenClock(T0)) as writer:
        writer.register_tenant("acme", repositories=["web"], governance=Governance(), by="a")
        writer.record_publish(idempotency_key="k1", **fields)  # the writer now holds acme
        with Operations.open(sqlite_url, clock=FrozenClock(T0)) as admin:
            admin.remove_repository("acme", "web", by="admin")
        with pytest.raises(OutOfScope):
            writer.record_publish(idempotency_key="k2", **fields)
