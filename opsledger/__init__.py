"""opsledger: an embeddable, event-sourced engine for a SaaS Production Operations Policy.

    from opsledger import Operations, OperationsPolicy, FrozenClock
"""

from opsledger._compliance import ForgetReport, RetentionReport
from opsledger.application import Operations, OpsledgerApp, PublishResult, TenantState
from opsledger.chain import ChainReport, Checkpoint
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
from opsledger.importer import ImportRefused, ImportSummary, import_pumuki_audit
from opsledger.keys import KeyStoreMissing
from opsledger.projections import AuditQuery
from opsledger.records import InvalidRecord, PublishRecord

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
