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
from opsledger.services.importer import ImportSummary
from opsledger.services.records import ImportRefused, InvalidRecord, PublishRecord
from opsledger.services.slo import Period
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
    "Period",
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
    "import_snapshots",
]


#: The importers as functions of the store (the 0.1 embedding API):
#: ``import_pumuki_audit(ops, sources, ...)`` is ``ops.import_pumuki_audit(sources, ...)``.
import_pumuki_audit = Operations.import_pumuki_audit
import_snapshots = Operations.import_snapshots
