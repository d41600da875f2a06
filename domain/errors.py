"""Typed errors raised by opsledger.

Hierarchy (every error a caller can provoke derives from ``OpsledgerError``)::

    OpsledgerError
    ├── InvalidInput                     bad value in a command (never stored)
    │   ├── NaiveDatetime                a datetime without a time zone
    │   ├── MissingIdempotencyKey        publish without an idempotency key (policy §5)
    │   ├── OutOfBounds                  outside the bounds of domain/bounds.py; names the field
    │   ├── LineTooLong                  an import line over the line-size limit, never parsed
    │   └── InvalidPolicy                a policy file/value that does not validate
    ├── ScopeViolation                   policy §5 scoping: refused, audited as a refusal
    │   ├── UnknownTenant
    │   ├── RepositoryOutOfScope
    │   └── RetentionPolicyMissing       tenant has no retention/privacy policy yet
    ├── Conflict                         the command contradicts stored state
    │   ├── TenantAlreadyRegistered
    │   ├── IllegalTransition            names the current state
    │   └── OperationIdReused            a tenant's operation id with other facts or batch:
    │                                    refused, audited as a refusal
    └── NotFound                         asked for something that does not exist

Errors carry their facts as attributes so callers and the CLI can render them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "IllegalTransition",
    "InvalidInput",
    "InvalidPolicy",
    "MissingIdempotencyKey",
    "NaiveDatetime",
    "NotFound",
    "OperationIdReused",
    "OpsledgerError",
    "RepositoryOutOfScope",
    "RetentionPolicyMissing",
    "ScopeViolation",
    "TenantAlreadyRegistered",
    "TenantForgotten",
    "TenantNotReady",
    "UnknownTenant",
]


class OpsledgerError(Exception):
    """Base of every error opsledger raises on purpose."""

    code = "error"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: the error code and message."""
        return {"code": self.code, "message": str(self)}


class InvalidInput(OpsledgerError, ValueError):
    """A command argument is malformed; nothing was stored."""

    code = "invalid_input"


class NaiveDatetime(InvalidInput):
    """A business time was given without a time zone."""

    code = "naive_datetime"

    def __init__(self, field: str, value: object) -> None:
        self.field = field
        self.value = value
        super().__init__(
            f"{field}={value!r} has no time zone; opsledger needs tz-aware UTC business times"
        )


class MissingIdempotencyKey(InvalidInput):
    """A publish record arrived without an idempotency key (policy §5)."""

    code = "missing_idempotency_key"

    def __init__(self) -> None:
        super().__init__("an idempotency key is mandatory for each published batch (policy §5)")


class InvalidPolicy(InvalidInput):
    """A policy value failed validation; names the key, the value and why."""

    code = "invalid_policy"

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        lines = [f"{key} = {value!r}: {why}" for key, value, why in problems]
        super().__init__("invalid policy: " + "; ".join(lines))


class ScopeViolation(OpsledgerError):
    """A publish record outside the tenant/repository scope (policy §5)."""

    code = "scope_violation"


class UnknownTenant(ScopeViolation, LookupError):
    """The tenant is not registered."""

    code = "unknown_tenant"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"unknown tenant {tenant_id!r}")


class TenantForgotten(UnknownTenant):
    """The tenant was forgotten (crypto-shredded): its events can no longer be read, and
    nothing more can be recorded for it."""

    code = "tenant_forgotten"

    def __init__(self, tenant_id: str) -> None:
        super().__init__(tenant_id)
        self.args = (f"tenant {tenant_id!r} was forgotten: its history is unreadable "
                     "and nothing more can be recorded for it",)


class RepositoryOutOfScope(ScopeViolation):
    """The repository is not in the tenant's scope."""

    code = "repository_out_of_scope"

    def __init__(self, tenant_id: str, repository_id: str) -> None:
        self.tenant_id = tenant_id
        self.repository_id = repository_id
        super().__init__(
            f"repository {repository_id!r} is not in the scope of tenant {tenant_id!r}"
        )


class RetentionPolicyMissing(ScopeViolation):
    """The tenant has no retention/privacy policy, so it cannot receive records (policy §5)."""

    code = "retention_policy_missing"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(
            f"tenant {tenant_id!r} has no retention/privacy policy; "
            "set one before it can receive publish records"
        )


class Conflict(OpsledgerError):
    """The command contradicts stored state."""

    code = "conflict"



class TenantNotReady(Conflict):
    """A tenant cannot be switched to SaaS mode yet; says what is missing."""

    code = "tenant_not_ready"

    def __init__(self, tenant_id: str, missing: list[str]) -> None:
        self.tenant_id = tenant_id
        self.missing = missing
        super().__init__(f"tenant {tenant_id!r} cannot enter SaaS mode: {'; '.join(missing)}")

class TenantAlreadyRegistered(Conflict):
    """A tenant with this id exists already."""

    code = "tenant_already_registered"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant {tenant_id!r} is already registered")


class IllegalTransition(Conflict):
    """The command is not allowed in the aggregate's current state."""

    code = "illegal_transition"

    def __init__(self, subject: str, command: str, state: str) -> None:
        self.subject = subject
        self.command = command
        self.state = state
        super().__init__(f"cannot {command} {subject}: it is {state}")


def _short(value: str, limit: int = 40) -> str:
    """``value`` quoted, cut to ``limit`` characters (untrusted ids are never echoed whole)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


class OperationIdReused(Conflict):
    """A tenant's operation id (Pumuki's ``event_id``) arrived again in another batch (other
    repository or idempotency key) or with other facts: an operation's identity is (tenant,
    operation id), so the line is refused and audited, and the store keeps the first."""

    code = "operation_id_reused"

    def __init__(self, tenant_id: str, operation_id: str, what: str) -> None:
        self.tenant_id = tenant_id
        self.operation_id = operation_id
        self.what = what
        super().__init__(f"operation id {_short(operation_id)} of tenant {_short(tenant_id)} "
                         f"is already recorded {what}")


class NotFound(OpsledgerError, LookupError):
    """The requested object does not exist."""

    code = "not_found"
