"""opsledger: an embeddable, event-sourced engine for a SaaS Production Operations Policy.

    from opsledger import Operations, OperationsPolicy, FrozenClock

The public names are loaded on first use (PEP 562 ``__getattr__``): importing one
submodule (the CLI's, say) does not import the store, the services and their drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsledger.application import Operations, OpsledgerApp, PublishResult, TenantState
    from opsledger.domain import (
        BusinessCalendar,
        Clock,
        Conflict,
        FrozenClock,
        Governance,
        IllegalTransition,
        InvalidInput,
        InvalidPolicy,
        MissingIdempotencyKey,
        Mode,
        NaiveDatetime,
        NotFound,
        OperationIdReused,
        OperationsPolicy,
        OpsledgerError,
        PrivacySettings,
        RepositoryOutOfScope,
        RetentionPolicy,
        RetentionPolicyMissing,
        ScopeViolation,
        SystemClock,
        TenantAlreadyRegistered,
        TenantForgotten,
        UnknownTenant,
    )
    from opsledger.projections import AuditQuery
    from opsledger.services.compliance import ForgetReport, RetentionReport
    from opsledger.services.importer import ImportRefused, ImportSummary, import_pumuki_audit
    from opsledger.services.records import InvalidRecord, PublishRecord
    from opsledger.store.chain import ChainReport, Checkpoint
    from opsledger.store.keys import KeyStoreMissing

#: Where each public name lives (the module imported on first access).
_HOMES: dict[str, str] = {
    **dict.fromkeys(["Operations", "OpsledgerApp", "PublishResult", "TenantState"],
                    "opsledger.application"),
    **dict.fromkeys([
        "BusinessCalendar", "Clock", "Conflict", "FrozenClock", "Governance",
        "IllegalTransition", "InvalidInput", "InvalidPolicy", "MissingIdempotencyKey", "Mode",
        "NaiveDatetime", "NotFound", "OperationIdReused", "OperationsPolicy", "OpsledgerError",
        "PrivacySettings", "RepositoryOutOfScope", "RetentionPolicy", "RetentionPolicyMissing",
        "ScopeViolation", "SystemClock", "TenantAlreadyRegistered", "TenantForgotten",
        "UnknownTenant",
    ], "opsledger.domain"),
    "AuditQuery": "opsledger.projections",
    "ForgetReport": "opsledger.services.compliance",
    "RetentionReport": "opsledger.services.compliance",
    "ImportRefused": "opsledger.services.importer",
    "ImportSummary": "opsledger.services.importer",
    "import_pumuki_audit": "opsledger.services.importer",
    "InvalidRecord": "opsledger.services.records",
    "PublishRecord": "opsledger.services.records",
    "ChainReport": "opsledger.store.chain",
    "Checkpoint": "opsledger.store.chain",
    "KeyStoreMissing": "opsledger.store.keys",
}

__all__ = [
    "AuditQuery",
    "BusinessCalendar",
    "ChainReport",
    "Checkpoint",
    "Clock",
    "Conflict",
    "ForgetReport",
    "FrozenClock",
    "Governance",
    "IllegalTransition",
    "ImportRefused",
    "ImportSummary",
    "InvalidInput",
    "InvalidPolicy",
    "InvalidRecord",
    "KeyStoreMissing",
    "MissingIdempotencyKey",
    "Mode",
    "NaiveDatetime",
    "NotFound",
    "OperationIdReused",
    "Operations",
    "OperationsPolicy",
    "OpsledgerApp",
    "OpsledgerError",
    "PrivacySettings",
    "PublishRecord",
    "PublishResult",
    "RepositoryOutOfScope",
    "RetentionPolicy",
    "RetentionPolicyMissing",
    "RetentionReport",
    "ScopeViolation",
    "SystemClock",
    "TenantAlreadyRegistered",
    "TenantForgotten",
    "TenantState",
    "UnknownTenant",
    "import_pumuki_audit",
]


def __getattr__(name: str) -> Any:
    """Import the module that holds public ``name`` on first access, then cache it here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'opsledger' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
