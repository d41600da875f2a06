"""opsledger: an embeddable, event-sourced engine for a SaaS Production Operations Policy.

    from opsledger import Operations, OperationsPolicy, FrozenClock
"""

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
