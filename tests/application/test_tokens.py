"""API tokens on the facade: scopes, rotation with an overlap, revocation seen by another
process, the reasons a token is refused, and a store that never holds a token in clear."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsledger import (
    AuditQuery,
    Forbidden,
    FrozenClock,
    Governance,
    IllegalTransition,
    InvalidInput,
    IssuedToken,
    Operations,
    OutOfBounds,
    Unauthenticated,
    UnknownTenant,
    UnknownToken,
)
from opsledger.services.tokens import allows

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def url(store_url: str) -> str:
    """Every backend (the shared ``store_url``: memory, SQLite file, PostgreSQL)."""
    return store_url


@pytest.fixture
def shared_url(db: str) -> str:
    """A store two ``Operations`` can open at once (the shared ``db``: a SQLite file, or
    PostgreSQL)."""
    return db


def _tenants(ops: Operations, *names: str) -> None:
    for name in names:
        ops.register_tenant(name, repositories=["web"], governance=Governance(), by="alice")


def _secret(issued: IssuedToken) -> str:
    """The secret part of ``olt_<16 hex id>_<secret>`` (the secret may contain ``_``)."""
    return issued.token[len("olt_") + 16 + 1:]


@pytest.mark.policy("5.scoping")
def test_each_scope_authenticates_as_its_tenant_scope_and_owner(url: str) -> None:
    with Operations.open(url, clock=FrozenClock(T0)) as ops:
        _tenants(ops, "acme")
        ingest = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        read = ops.create_token(scope="read", tenant_id="acme", owner="bob", by="alice")
        operator = ops.create_token(scope="operator", owner="root", by="alice")
        for issued, tenant, scope in ((ingest, "acme", "ingest"), (read, "acme", "read"),
                                      (operator, None, "operator")):
            assert issued.token.startswith(f"olt_{issued.info.token_id}_")
            assert len(_secret(issued)) == 43 and issued.info.state == "active"
            principal = ops.authenticate(issued.token, needs=scope)
            assert (principal.token_id, principal.tenant_id, principal.scope) == (
                issued.info.token_id, tenant, scope)
        assert len({ingest.token, read.token, operator.token}) == 3


@pytest.mark.policy("5.scoping")
def test_a_tenant_token_has_only_its_scope_and_an_operator_token_every_scope(url: str) -> None:
    with Operations.open(url, clock=FrozenClock(T0)) as ops:
        _tenants(ops, "acme")
        ingest = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        read = ops.create_token(scope="read", tenant_id="acme", owner="bob", by="alice")
        operator = ops.create_token(scope="operator", owner="root", by="alice")
        for token, lacks in ((ingest, "read"), (ingest, "operator"), (read, "ingest"),
                             (read, "operator")):
            with pytest.raises(Forbidden) as refused:
                ops.authenticate(token.token, needs=lacks)
            assert (refused.value.needed, refused.value.scope) == (lacks, token.info.scope)
        for needed in ("ingest", "read", "operator"):
            assert ops.authenticate(operator.token, needs=needed).scope == "operator"
    assert [allows(s, n) for s in ("ingest", "read", "operator")
            for n in ("ingest", "read", "operator")] == [
        True, False, False, False, True, False, True, True, True]


@pytest.mark.policy("6.token_rotation")
def test_a_rotated_token_works_during_the_overlap_and_expires_after_it(url: str) -> None:
    clock = FrozenClock(T0)
    with Operations.open(url, clock=clock) as ops:
        _tenants(ops, "acme")
        old = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        clock.advance(timedelta(days=10))
        new = ops.rotate_token(old.info.token_id, by="carol", owner="dave",
                               overlap=timedelta(hours=6))
        assert (new.info.predecessor, new.info.owner, new.info.issued_by) == (
            old.info.token_id, "dave", "carol")
        clock.advance(timedelta(hours=6) - timedelta(seconds=1))
        assert ops.authenticate(old.token, needs="ingest").token_id == old.info.token_id
        assert ops.authenticate(new.token, needs="ingest").owner == "dave"
        states = {t.token_id: (t.state, t.successor) for t in ops.tokens("acme")}
        assert states[old.info.token_id] == ("overlap", new.info.token_id)
        clock.advance(timedelta(seconds=1))
        with pytest.raises(Unauthenticated) as expired:
            ops.authenticate(old.token)
        assert expired.value.reason == "expired"
        assert ops.authenticate(new.token, needs="ingest").token_id == new.info.token_id
        assert {t.token_id: t.state for t in ops.tokens()} == {
            old.info.token_id: "expired", new.info.token_id: "active"}


def test_the_default_overlap_is_a_day_and_longer_than_30_days_is_refused(url: str,
                                                                         snapshot: Any) -> None:
    clock = FrozenClock(T0)
    with Operations.open(url, clock=clock) as ops:
        _tenants(ops, "acme")
        old = ops.create_token(scope="read", tenant_id="acme", owner="bob", by="alice")
        before = snapshot(ops)
        with pytest.raises(InvalidInput):
            ops.rotate_token(old.info.token_id, by="carol", overlap=timedelta(days=30, seconds=1))
        assert snapshot(ops) == before
        ops.rotate_token(old.info.token_id, by="carol")
        clock.advance(timedelta(hours=24))
        with pytest.raises(Unauthenticated, match="valid API token"):
            ops.authenticate(old.token)


@pytest.mark.policy("5.auth_validation")
def test_a_revoked_token_fails_at_once_in_this_and_in_another_process(shared_url: str) -> None:
    with Operations.open(shared_url, clock=FrozenClock(T0)) as ops, \
            Operations.open(shared_url, clock=FrozenClock(T0)) as other:
        _tenants(ops, "acme")
        issued = ops.create_token(scope="read", tenant_id="acme", owner="bob", by="alice")
        assert other.authenticate(issued.token, needs="read").tenant_id == "acme"
        info = ops.revoke_token(issued.info.token_id, by="alice", reason="leaked")
        assert (info.state, info.revoked_by, info.revoked_at) == ("revoked", "alice", T0)
        for engine in (ops, other):
            with pytest.raises(Unauthenticated) as refused:
                engine.authenticate(issued.token)
            assert refused.value.reason == "revoked"
        assert [t.state for t in other.tokens("acme")] == ["revoked"]


@pytest.mark.policy("6.token_rotation")
def test_a_rotation_racing_another_process_is_decided_again_on_fresh_state(
    shared_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Operations.open(shared_url, clock=FrozenClock(T0)) as ops, \
            Operations.open(shared_url, clock=FrozenClock(T0)) as other:
        _tenants(ops, "acme")
        old = ops.create_token(scope="read", tenant_id="acme", owner="bob", by="alice")
        service = other.services.tokens
        load = service._load
        loads: list[str] = []

        def stale_load(token_id: str) -> Any:  # `ops` rotates between this read and the save
            token = load(token_id)
            if not loads:
                ops.rotate_token(token_id, by="carol")
            loads.append(token_id)
            return token

        monkeypatch.setattr(service, "_load", stale_load)
        with pytest.raises(IllegalTransition):
            other.rotate_token(old.info.token_id, by="dave")
        assert len(loads) == 2  # the conflict was seen, and the second read decided
        assert [(t.issued_by, t.predecessor) for t in other.tokens("acme")] == [
            ("alice", None), ("carol", old.info.token_id)]


@pytest.mark.policy("5.auth_validation")
def test_missing_malformed_unknown_and_wrong_secret_tokens_are_refused_with_their_reason(
    url: str,
) -> None:
    with Operations.open(url, clock=FrozenClock(T0)) as ops:
        _tenants(ops, "acme")
        issued = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        token_id, secret = issued.info.token_id, _secret(issued)
        wrong = ("A" if secret[0] != "A" else "B") + secret[1:]
        cases = {
            None: "missing", "": "missing", "Bearer x": "malformed", secret: "malformed",
            issued.token + "\n": "malformed", issued.token + "x": "malformed",
            issued.token.upper(): "malformed", f"olt_{token_id}_{secret[:-1]}": "malformed",
            f"olt_{'0' * 16}_{secret}": "unknown", f"olt_{token_id}_{wrong}": "mismatch",
        }
        for presented, reason in cases.items():
            with pytest.raises(Unauthenticated) as refused:
                ops.authenticate(presented)
            assert refused.value.reason == reason, presented
            assert secret not in str(refused.value) and token_id not in str(refused.value)


def test_rotating_or_revoking_an_unknown_or_malformed_id_never_quotes_a_token(url: str) -> None:
    with Operations.open(url, clock=FrozenClock(T0)) as ops:
        _tenants(ops, "acme")
        issued = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        for given in ("0" * 16, issued.token, "x"):
            with pytest.raises(UnknownToken) as refused:
                ops.revoke_token(given, by="alice")
            assert _secret(issued)[:8] not in str(refused.value)
            with pytest.raises(UnknownToken):
                ops.rotate_token(given, by="alice")
        assert ops.authenticate(issued.token).token_id == issued.info.token_id


@pytest.mark.policy("5.audit_trail")
def test_token_actions_are_audited_with_actor_and_tenant_and_never_the_hash(url: str) -> None:
    with Operations.open(url, clock=FrozenClock(T0)) as ops:
        _tenants(ops, "acme")
        first = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        second = ops.rotate_token(first.info.token_id, by="carol")
        ops.revoke_token(second.info.token_id, by="erin", reason="leaked")
        operator = ops.create_token(scope="operator", owner="root", by="frank")
        actions = [(a.action, a.actor, a.tenant_id, a.details.get("token_id"))
                   for a in ops.audit_actions(AuditQuery(all_tenants=True))
                   if a.action.startswith("ApiToken.")]
        assert actions == [
            ("ApiToken.Issued", "alice", "acme", first.info.token_id),
            ("ApiToken.Rotated", "carol", "acme", None),
            ("ApiToken.Issued", "carol", "acme", second.info.token_id),
            ("ApiToken.Revoked", "erin", "acme", None),
            ("ApiToken.Issued", "frank", None, operator.info.token_id),
        ]
        assert len([a for a in ops.audit_actions(AuditQuery(tenant_id="acme"))
                    if a.action.startswith("ApiToken.")]) == 4
        rotated = [a for a in ops.audit_actions(AuditQuery(tenant_id="acme"))
                   if a.action == "ApiToken.Rotated"]
        assert rotated[0].details["expires_at"] == "2026-11-04T09:00:00.000Z"  # RFC 3339 text
        dumped = repr([a.to_dict() for a in ops.audit_actions(AuditQuery(all_tenants=True))])
        for issued in (first, second, operator):
            assert hashlib.sha256(_secret(issued).encode()).hexdigest() not in dumped
            assert _secret(issued) not in dumped


@pytest.mark.policy("5.retention_privacy")
def test_forgetting_a_tenant_ends_its_tokens_and_the_list_skips_them(url: str) -> None:
    with Operations.open(url, clock=FrozenClock(T0)) as ops:
        _tenants(ops, "acme", "beta")
        gone = ops.create_token(scope="ingest", tenant_id="acme", owner="bob", by="alice")
        kept = ops.create_token(scope="read", tenant_id="beta", owner="bob", by="alice")
        operator = ops.create_token(scope="operator", owner="root", by="alice")
        ops.forget_tenant("acme", by="alice", reason="erasure request")
        with pytest.raises(Unauthenticated) as refused:
            ops.authenticate(gone.token)
        assert refused.value.reason == "forgotten"
        assert [t.token_id for t in ops.tokens()] == [kept.info.token_id,
                                                      operator.info.token_id]
        assert ops.authenticate(kept.token).tenant_id == "beta"
        with pytest.raises(UnknownTenant):
            ops.tokens("acme")
        with pytest.raises(UnknownTenant):
            ops.create_token(scope="read", tenant_id="acme", owner="bob", by="alice")


@pytest.mark.policy("5.scoping")
def test_refused_creations_leave_the_store_unchanged(url: str, snapshot: Any) -> None:
    with Operations.open(url, clock=FrozenClock(T0)) as ops:
        _tenants(ops, "acme")
        before = snapshot(ops)
        for refusal, kwargs in (
            (UnknownTenant, {"scope": "ingest", "tenant_id": "nobody"}),
            (InvalidInput, {"scope": "operator", "tenant_id": "acme"}),
            (InvalidInput, {"scope": "read"}),
            (InvalidInput, {"scope": "admin", "tenant_id": "acme"}),
            (OutOfBounds, {"scope": "read", "tenant_id": "acme", "owner": "bob\x1b[2J"}),
            (OutOfBounds, {"scope": "read", "tenant_id": "acme", "owner": "x" * 300}),
            (OutOfBounds, {"scope": "read", "tenant_id": "acme", "by": "eve\n"}),
        ):
            with pytest.raises(refusal):
                ops.create_token(**{"owner": "bob", "by": "alice", **kwargs})
        assert snapshot(ops) == before
        assert ops.tokens() == ()

