"""API tokens of ``opsledger serve`` (policy §5 scoping and audit trail, §6 token rotation).

A token is ``olt_<token id>_<secret>``. Only the SHA-256 of the secret is stored (the secret
is 256 random bits, so a slow hash adds nothing); the token id names the aggregate, so
checking a token is one stream read. A token belongs to one tenant with one scope —
``ingest`` (write publishes and visibility), ``read`` (the tenant's reads) — or is an
``operator`` token, which sees every tenant and may run operator actions.

Rotation issues a successor and keeps the old token valid for an overlap window, after which
it expires; revocation ends it at once. Every change is an event with the operator who made
it and its business time, so each is an audited operator action, and a tenant-scoped token's
events carry the tenant (sealed with the tenant's key: forgetting the tenant ends them).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.errors import IllegalTransition
from opsledger.domain.ids import NAMESPACE

__all__ = ["TOKEN_PREFIX", "ApiToken", "TokenScope", "token_uuid"]

#: Every token starts with this, so secret scanners and log filters can spot one.
TOKEN_PREFIX = "olt_"


class TokenScope(StrEnum):
    """What a token may do."""

    INGEST = "ingest"
    READ = "read"
    OPERATOR = "operator"


def token_uuid(token_id: str) -> UUID:
    """The stream of the token with public id ``token_id``."""
    return uuid5(NAMESPACE, f"api-token/{token_id}")


class ApiToken(Aggregate):
    """One API token: its scope, tenant, owner, the hash of its secret, and its life."""

    TOPIC = topics.API_TOKEN_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.API_TOKEN_CREATED

    @staticmethod
    def create_id(token_id: str, **_: object) -> UUID:
        """Deterministic: the token's own stream."""
        return token_uuid(token_id)

    @event("Issued", topic=topics.API_TOKEN_ISSUED)
    def __init__(
        self,
        token_id: str,
        tenant_id: str | None,
        scope: str,
        owner: str,
        secret_hash: str,
        predecessor: str | None,
        by: str,
        occurred_at: datetime,
    ) -> None:
        self.token_id = token_id
        self.tenant_id = tenant_id
        self.scope = TokenScope(scope)
        self.owner = owner
        self.secret_hash = secret_hash
        self.predecessor = predecessor
        self.issued_by = by
        self.issued_at = occurred_at
        self.successor: str | None = None
        self.expires_at: datetime | None = None
        self.revoked_at: datetime | None = None
        self.revoked_by: str | None = None

    def state_at(self, at: datetime) -> str:
        """``active``, ``overlap`` (rotated, still valid), ``expired`` or ``revoked``."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return "revoked"
        if self.expires_at is not None:
            return "overlap" if at < self.expires_at else "expired"
        return "active"

    def rotate(self, successor: str, expires_at: datetime, by: str, at: datetime) -> None:
        """Hand over to ``successor``; this token stays valid until ``expires_at``."""
        state = self.state_at(at)
        if state != "active":
            raise IllegalTransition(f"token {self.token_id}", "rotate", state)
        self._rotate(tenant_id=self.tenant_id, successor=successor, expires_at=expires_at,
                     by=by, occurred_at=at)

    @event("Rotated", topic=topics.API_TOKEN_ROTATED)
    def _rotate(self, tenant_id: str | None, successor: str, expires_at: datetime, by: str,
                occurred_at: datetime) -> None:
        self.successor = successor
        self.expires_at = expires_at

    def revoke(self, by: str, reason: str, at: datetime) -> None:
        """End the token now."""
        if self.revoked_at is not None:
            raise IllegalTransition(f"token {self.token_id}", "revoke", "revoked")
        self._revoke(tenant_id=self.tenant_id, reason=reason, by=by, occurred_at=at)

    @event("Revoked", topic=topics.API_TOKEN_REVOKED)
    def _revoke(self, tenant_id: str | None, reason: str, by: str,
                occurred_at: datetime) -> None:
        self.revoked_at = occurred_at
        self.revoked_by = by
