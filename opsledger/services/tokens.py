"""API tokens as a service: issue, rotate with an overlap, revoke, list, and authenticate
(policy §5 scoping and audit trail, §6 token rotation process and ownership).

A token is ``olt_<token id>_<secret>``; the store keeps only the SHA-256 of the secret, in the
token's own stream (:class:`~opsledger.domain.token.ApiToken`), so checking a token is one
stream read and works in every process on the store. Each change is an event with the
operator (``by``) and the business time: an audited operator action.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from opsledger.domain import topics
from opsledger.domain.bounds import bounded
from opsledger.domain.errors import (
    Forbidden,
    InvalidInput,
    TenantForgotten,
    Unauthenticated,
    UnknownToken,
)
from opsledger.domain.time import utc
from opsledger.domain.token import TOKEN_PREFIX, ApiToken, TokenScope, token_uuid
from opsledger.results import IssuedToken, Principal, TokenInfo
from opsledger.services.clock import BusinessClock
from opsledger.services.tenants import Tenants
from opsledger.store.events import EventStore

__all__ = ["DEFAULT_OVERLAP", "MAX_OVERLAP", "Tokens", "allows"]

#: How long a rotated token stays valid beside its successor (``token rotate --overlap``).
DEFAULT_OVERLAP = timedelta(hours=24)
#: The longest overlap a rotation may ask for.
MAX_OVERLAP = timedelta(days=30)
_TOKEN = re.compile(r"olt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")  # fullmatch: no "\n" after
_TOKEN_ID = re.compile(r"[0-9a-f]{16}")
_ATTEMPTS = 10  # a rotation that meets a concurrent writer reloads and decides again


def allows(scope: str, needed: str) -> bool:
    """Whether a token of ``scope`` may make a call that needs ``needed``: a tenant token
    only its own scope, an operator token every scope."""
    return scope == needed or scope == TokenScope.OPERATOR


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(token: ApiToken, at: datetime) -> TokenInfo:
    return TokenInfo(
        token_id=token.token_id, tenant_id=token.tenant_id, scope=token.scope.value,
        owner=token.owner, state=token.state_at(at), issued_at=token.issued_at,
        issued_by=token.issued_by, expires_at=token.expires_at, revoked_at=token.revoked_at,
        revoked_by=token.revoked_by, predecessor=token.predecessor, successor=token.successor)


class Tokens:
    """Commands and reads of API tokens, and the check of a presented token."""

    def __init__(self, store: EventStore, clock: BusinessClock, tenants: Tenants) -> None:
        self._store = store
        self._clock = clock
        self._tenants = tenants

    def _load(self, token_id: str) -> ApiToken:
        if not _TOKEN_ID.fullmatch(token_id):  # never quoted: it may be a whole token
            raise UnknownToken("no such API token: give its id, the 16 hex digits after "
                               f"{TOKEN_PREFIX!r} (never the whole token)")
        token = self._store.get(token_uuid(token_id), ApiToken)
        if token is None:
            raise UnknownToken(f"no API token {token_id!r}")
        return token

    def _issue(self, *, tenant_id: str | None, scope: TokenScope, owner: str, by: str,
               now: datetime, predecessor: str | None) -> tuple[str, ApiToken]:
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        token = ApiToken(token_id=token_id, tenant_id=tenant_id, scope=scope.value, owner=owner,
                         secret_hash=_hash(secret), predecessor=predecessor, by=by,
                         occurred_at=now)
        return f"{TOKEN_PREFIX}{token_id}_{secret}", token

    @bounded(tenant_id="id", owner="id", by="id", at="time")
    def create_token(
        self, *, scope: str, owner: str, by: str, tenant_id: str | None = None,
        at: datetime | None = None,
    ) -> IssuedToken:
        """A new token of ``scope`` (``ingest`` or ``read`` for ``tenant_id``; ``operator``
        for every tenant, without one). The secret is in the result only."""
        now = self._clock.now(at)
        try:
            kind = TokenScope(scope)
        except ValueError:
            raise InvalidInput(f"scope must be one of ingest, read, operator, not "
                               f"{scope[:40]!r}") from None
        if kind is TokenScope.OPERATOR and tenant_id is not None:
            raise InvalidInput("an operator token is for every tenant: give no tenant")
        if kind is not TokenScope.OPERATOR:
            if tenant_id is None:
                raise InvalidInput(f"a {kind.value} token needs a tenant")
            self._tenants.load(tenant_id)  # UnknownTenant / TenantForgotten
        secret, token = self._issue(tenant_id=tenant_id, scope=kind, owner=owner, by=by,
                                    now=now, predecessor=None)
        self._store.save(token)
        return IssuedToken(token=secret, info=_info(token, now))

    @bounded(token_id="id", by="id", owner="id", at="time")
    def rotate_token(
        self, token_id: str, *, by: str, overlap: timedelta = DEFAULT_OVERLAP,
        owner: str | None = None, at: datetime | None = None,
    ) -> IssuedToken:
        """Issue a successor of the same tenant and scope (its owner: ``owner``, else the
        old one's); the old token stays valid for ``overlap`` (default 24 h), then
        expires. Old and new are saved in one transaction; when another process changed the
        old token meanwhile, the rotation is decided again on its fresh state (rotated or
        revoked already: :class:`IllegalTransition`)."""
        now = self._clock.now(at)
        if not timedelta(0) <= overlap <= MAX_OVERLAP:
            raise InvalidInput(f"overlap must lie between 0 and {MAX_OVERLAP.days} days")
        for attempt in range(_ATTEMPTS):
            old = self._load(token_id)
            secret, new = self._issue(tenant_id=old.tenant_id, scope=old.scope,
                                      owner=owner or old.owner, by=by, now=now,
                                      predecessor=old.token_id)
            old.rotate(new.token_id, now + overlap, by, now)  # IllegalTransition unless active
            try:
                self._store.save(old, new)
            except IntegrityError:  # another process changed it first: decide again
                if attempt == _ATTEMPTS - 1:
                    raise
                continue
            return IssuedToken(token=secret, info=_info(new, now))
        raise AssertionError("unreachable")

    @bounded(token_id="id", by="id", reason="text", at="time")
    def revoke_token(
        self, token_id: str, *, by: str, reason: str = "", at: datetime | None = None
    ) -> TokenInfo:
        """End the token now (every process refuses it from its next call)."""
        now = self._clock.now(at)

        def revoke(token: ApiToken) -> TokenInfo:
            token.revoke(by, reason, now)
            return _info(token, now)

        return self._store.update(lambda: self._load(token_id), revoke)

    @bounded(tenant_id="id")
    def tokens(self, tenant_id: str | None = None, *, at: datetime | None = None
               ) -> tuple[TokenInfo, ...]:
        """Every token (of ``tenant_id`` only, if given: :class:`UnknownTenant` if it is
        not registered, like every tenant read) in the order issued, with its state at
        ``at`` (default now). Secrets and hashes never leave the store."""
        now = self._clock.now(at, command=False)
        if tenant_id is not None:
            self._tenants.load(tenant_id)  # UnknownTenant / TenantForgotten
        sql = self._store.sql
        with sql.transaction(commit=False) as cursor:
            sql.execute(cursor, f"SELECT originator_id FROM {sql.table(sql.events_table)} "
                                f"WHERE topic = ? ORDER BY {sql.position_column()}",
                        (topics.API_TOKEN_ISSUED,))
            ids = [row[0] if isinstance(row, tuple) else row["originator_id"]
                   for row in cursor.fetchall()]
        found = []
        for stream in ids:
            try:
                token = self._store.get(
                    UUID(stream) if isinstance(stream, str) else stream, ApiToken)
            except TenantForgotten:
                continue
            if token is not None and (tenant_id is None or token.tenant_id == tenant_id):
                found.append(token)
        found.sort(key=lambda t: t.issued_at)  # stable: same time, in the log's order
        return tuple(_info(t, now) for t in found)

    def authenticate(self, presented: str | None, *, needs: str | None = None,
                     at: datetime | None = None) -> Principal:
        """Who ``presented`` (a whole token) acts as, now: :class:`Unauthenticated` (with
        its ``reason``) unless it is a known token, its secret matches, and it is neither
        revoked, expired nor of a forgotten tenant; :class:`Forbidden` when ``needs`` is a
        scope it lacks."""
        now = utc(at, "at") if at is not None else self._clock.now()
        if not presented:
            raise Unauthenticated("missing")
        match = _TOKEN.fullmatch(presented)
        if match is None:
            raise Unauthenticated("malformed")
        token_id, secret = match.groups()
        try:
            token = self._store.get(token_uuid(token_id), ApiToken)
        except TenantForgotten:
            raise Unauthenticated("forgotten") from None
        if token is None:
            raise Unauthenticated("unknown")
        if not hmac.compare_digest(token.secret_hash, _hash(secret)):
            raise Unauthenticated("mismatch")
        state = token.state_at(now)
        if state in ("revoked", "expired"):
            raise Unauthenticated(state)
        if needs is not None and not allows(token.scope, needs):
            raise Forbidden(needs, token.scope.value)
        return Principal(token_id=token.token_id, tenant_id=token.tenant_id,
                         scope=token.scope.value, owner=token.owner)

