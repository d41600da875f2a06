"""opsledger.domain — aggregates, events and policy rules. Pure: no I/O, no wall clock.

The names below load on first use (PEP 562 ``__getattr__``): importing one domain module
(``opsledger.domain.time``, say) does not import every aggregate and the policy's models."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsledger.domain.errors import (
        Conflict,
        IllegalTransition,
        InvalidInput,
        InvalidPolicy,
        MissingIdempotencyKey,
        NaiveDatetime,
        NotFound,
        OperationIdReused,
        OpsledgerError,
        RepositoryOutOfScope,
        RetentionPolicyMissing,
        ScopeViolation,
        TenantAlreadyRegistered,
        TenantForgotten,
        UnknownTenant,
    )
    from opsledger.domain.governance import Governance, PrivacySettings, RetentionPolicy
    from opsledger.domain.ledger import PolicyLedger
    from opsledger.domain.policy import OperationsPolicy
    from opsledger.domain.publish import UNKNOWN_KEY, PublishBatch, batch_uuid
    from opsledger.domain.refusal import RefusedCommand
    from opsledger.domain.tenant import Mode, Tenant, tenant_uuid
    from opsledger.domain.time import BusinessCalendar, Clock, FrozenClock, SystemClock, utc

_HOMES: dict[str, str] = {
    "BusinessCalendar": "opsledger.domain.time",
    "Clock": "opsledger.domain.time",
    "Conflict": "opsledger.domain.errors",
    "FrozenClock": "opsledger.domain.time",
    "Governance": "opsledger.domain.governance",
    "IllegalTransition": "opsledger.domain.errors",
    "InvalidInput": "opsledger.domain.errors",
    "InvalidPolicy": "opsledger.domain.errors",
    "MissingIdempotencyKey": "opsledger.domain.errors",
    "Mode": "opsledger.domain.tenant",
    "NaiveDatetime": "opsledger.domain.errors",
    "NotFound": "opsledger.domain.errors",
    "OperationIdReused": "opsledger.domain.errors",
    "OperationsPolicy": "opsledger.domain.policy",
    "OpsledgerError": "opsledger.domain.errors",
    "PolicyLedger": "opsledger.domain.ledger",
    "PrivacySettings": "opsledger.domain.governance",
    "PublishBatch": "opsledger.domain.publish",
    "RefusedCommand": "opsledger.domain.refusal",
    "RepositoryOutOfScope": "opsledger.domain.errors",
    "RetentionPolicy": "opsledger.domain.governance",
    "RetentionPolicyMissing": "opsledger.domain.errors",
    "ScopeViolation": "opsledger.domain.errors",
    "SystemClock": "opsledger.domain.time",
    "Tenant": "opsledger.domain.tenant",
    "TenantAlreadyRegistered": "opsledger.domain.errors",
    "TenantForgotten": "opsledger.domain.errors",
    "UNKNOWN_KEY": "opsledger.domain.publish",
    "UnknownTenant": "opsledger.domain.errors",
    "batch_uuid": "opsledger.domain.publish",
    "tenant_uuid": "opsledger.domain.tenant",
    "utc": "opsledger.domain.time",
}

__all__ = [
    "UNKNOWN_KEY",
    "BusinessCalendar",
    "Clock",
    "Conflict",
    "FrozenClock",
    "Governance",
    "IllegalTransition",
    "InvalidInput",
    "InvalidPolicy",
    "MissingIdempotencyKey",
    "Mode",
    "NaiveDatetime",
    "NotFound",
    "OperationIdReused",
    "OperationsPolicy",
    "OpsledgerError",
    "PolicyLedger",
    "PrivacySettings",
    "PublishBatch",
    "RefusedCommand",
    "RepositoryOutOfScope",
    "RetentionPolicy",
    "RetentionPolicyMissing",
    "ScopeViolation",
    "SystemClock",
    "Tenant",
    "TenantAlreadyRegistered",
    "TenantForgotten",
    "UnknownTenant",
    "batch_uuid",
    "tenant_uuid",
    "utc",
]


def __getattr__(name: str) -> Any:
    """Import the module that holds public ``name`` on first access, then cache it here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'opsledger.domain' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
