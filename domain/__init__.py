"""opsledger.domain — aggregates, events and policy rules. Pure: no I/O, no wall clock."""

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
