"""opsledger: an embeddable, event-sourced engine for a SaaS Production Operations Policy.

    from opsledger import Operations, OperationsPolicy, FrozenClock

The facade (:class:`Operations`), its typed results (:mod:`opsledger.results`), ``Period``
and every public error (:mod:`opsledger.domain.errors`) are importable from here. They are
loaded on first use (PEP 562 ``__getattr__``): importing one submodule (the CLI's, say) does
not import the store, the services and their drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsledger.application import (
        Operations,
        OpsledgerApp,
        PublishResult,
        TenantState,
        import_pumuki_audit,
        import_snapshots,
    )
    from opsledger.domain import (
        BusinessCalendar,
        Clock,
        FrozenClock,
        Governance,
        Mode,
        OperationsPolicy,
        PrivacySettings,
        RetentionPolicy,
        SystemClock,
    )
    from opsledger.domain.bounds import MAX_LINE_BYTES
    from opsledger.domain.errors import (
        ActivationRefused,
        CheckpointKeyMissing,
        CheckpointSignatureInvalid,
        Conflict,
        DeliveryFailed,
        Forbidden,
        IllegalTransition,
        ImportRefused,
        InvalidCheckpoint,
        InvalidInput,
        InvalidNotifyConfig,
        InvalidPolicy,
        InvalidRecord,
        InvalidStoreIdentifier,
        InvalidStoreUrl,
        KeyStoreMissing,
        LineTooLong,
        MissingIdempotencyKey,
        NaiveDatetime,
        NotFound,
        OperationIdReused,
        OpsledgerError,
        OutOfBounds,
        PayloadTooLarge,
        RepositoryOutOfScope,
        RetentionPolicyMissing,
        ScopeViolation,
        StoreUnavailable,
        TenantAlreadyRegistered,
        TenantForgotten,
        TenantNotReady,
        TrackingConflict,
        Unauthenticated,
        UnknownTenant,
        UnknownToken,
        UnknownView,
        UnsafeOutputPath,
    )
    from opsledger.domain.token import TokenScope
    from opsledger.projections import (
        AuditQuery,
        ViewStatus,
    )
    from opsledger.results import (
        AdvanceReport,
        Alert,
        AlertEvent,
        AlertProcessStatus,
        AlertResolved,
        AlertTriggered,
        AuditAction,
        AuditRow,
        AuditSummary,
        BoundaryViolation,
        DailyFigures,
        Deadline,
        DeadlineCompliance,
        DeadlineDecided,
        DeliveryAttempt,
        DeliveryReport,
        Detection,
        ErrorBudget,
        ErrorsByCode,
        ExportRow,
        FreshnessMissed,
        GateCheck,
        GateConstraint,
        GateEvidence,
        GateOwners,
        GateStatus,
        GraceDeadline,
        Incident,
        IncidentBrief,
        IncidentEvent,
        IncidentTransition,
        IssuedToken,
        LateAlertFacts,
        MonthlyReview,
        MonthlyTenant,
        Notification,
        NotificationDelivery,
        NotificationDetail,
        OperatorAction,
        OutboxStatus,
        PolicyAdoption,
        Principal,
        PublishMinute,
        RefusalRow,
        Rejection,
        Result,
        RuleComparison,
        SlaFigures,
        SloReport,
        SnapshotImportSummary,
        TenantLateFacts,
        TimelineEntry,
        TokenInfo,
        WeeklyReview,
        WeeklyTenant,
        WeekNumbers,
        WhatIfReport,
    )
    from opsledger.scheduler.driver import Periodic
    from opsledger.services.compliance import (
        ForgetReport,
        RetentionReport,
    )
    from opsledger.services.importer import (
        ImportSummary,
    )
    from opsledger.services.notify_channels import verify_signature
    from opsledger.services.notify_config import (
        Channel,
        DeliverySchedule,
        NotifyConfig,
        QuietWindow,
        Route,
        load_notify_config,
    )
    from opsledger.services.records import (
        PublishRecord,
        SnapshotRecord,
    )
    from opsledger.services.slo import (
        Period,
    )
    from opsledger.store.chain import (
        ChainReport,
        Checkpoint,
    )
    from opsledger.store.url import DEFAULT_URL, pg_connect


#: Where each public name lives (the module imported on first access).
_HOMES: dict[str, str] = {
    **dict.fromkeys([
        "Operations", "OpsledgerApp", "PublishResult", "TenantState",
    ], "opsledger.application"),
    **dict.fromkeys([
        "BusinessCalendar", "Clock", "FrozenClock", "Governance", "Mode",
        "OperationsPolicy", "PrivacySettings", "RetentionPolicy", "SystemClock",
    ], "opsledger.domain"),
    **dict.fromkeys([
        "ActivationRefused", "CheckpointKeyMissing", "CheckpointSignatureInvalid",
        "Conflict", "IllegalTransition", "ImportRefused", "InvalidCheckpoint",
        "InvalidInput", "InvalidPolicy", "InvalidRecord", "InvalidStoreIdentifier",
        "InvalidStoreUrl", "KeyStoreMissing", "LineTooLong", "MissingIdempotencyKey",
        "NaiveDatetime", "NotFound", "OperationIdReused", "OpsledgerError", "OutOfBounds",
        "RepositoryOutOfScope", "RetentionPolicyMissing", "ScopeViolation",
        "StoreUnavailable", "TenantAlreadyRegistered", "TenantForgotten", "TenantNotReady",
        "TrackingConflict", "UnknownTenant", "UnknownView", "UnsafeOutputPath",
        "Forbidden", "PayloadTooLarge", "Unauthenticated", "UnknownToken",
        "DeliveryFailed", "InvalidNotifyConfig",
    ], "opsledger.domain.errors"),
    "TokenScope": "opsledger.domain.token",
    **dict.fromkeys([
        "AdvanceReport", "Alert", "AlertEvent", "AlertJudgementEvent", "AlertProcessStatus",
        "AlertResolved", "AlertTriggered", "AuditAction", "AuditRow", "AuditSummary",
        "BoundaryViolation", "DailyFigures", "Deadline", "DeadlineCompliance",
        "DeadlineDecided", "Detection",
        "ErrorBudget", "ErrorsByCode", "ExportRow", "FreshnessMissed", "GateCheck",
        "GateConstraint", "GateEvidence", "GateOwners", "GateStatus", "GraceDeadline",
        "Incident", "IncidentBrief", "IncidentEvent", "IncidentTransition",
        "LateAlertFacts", "MonthlyReview", "MonthlyTenant", "OperatorAction",
        "PolicyAdoption", "PublishMinute", "RefusalRow", "Rejection", "Result",
        "RuleComparison", "SlaFigures", "SloReport", "SnapshotImportSummary",
        "TenantLateFacts", "TimelineEntry", "WeekNumbers", "WeeklyReview", "WeeklyTenant",
        "WhatIfReport", "TokenInfo", "IssuedToken", "Principal", "DeliveryAttempt",
        "DeliveryReport", "Notification", "NotificationDelivery", "NotificationDetail",
        "OutboxStatus",
    ], "opsledger.results"),
    **dict.fromkeys([
        "AuditQuery", "ViewStatus",
    ], "opsledger.projections"),
    **dict.fromkeys([
        "ForgetReport", "RetentionReport",
    ], "opsledger.services.compliance"),
    **dict.fromkeys([
        "ImportSummary",
    ], "opsledger.services.importer"),
    **dict.fromkeys([
        "Channel", "DeliverySchedule", "NotifyConfig", "QuietWindow", "Route",
        "load_notify_config",
    ], "opsledger.services.notify_config"),
    "verify_signature": "opsledger.services.notify_channels",
    **dict.fromkeys([
        "PublishRecord", "SnapshotRecord",
    ], "opsledger.services.records"),
    **dict.fromkeys([
        "Period",
    ], "opsledger.services.slo"),
    **dict.fromkeys([
        "ChainReport", "Checkpoint",
    ], "opsledger.store.chain"),
}
_HOMES["DEFAULT_URL"] = "opsledger.store.url"
#: For ``opsledger serve``: its background tick, and a PostgreSQL connection of its own
#: (the leadership lock).
_HOMES["Periodic"] = "opsledger.scheduler.driver"
_HOMES["pg_connect"] = "opsledger.store.url"
#: The importers as functions of the store: ``import_pumuki_audit(ops, sources, ...)``.
_HOMES.update(dict.fromkeys(["import_pumuki_audit", "import_snapshots"], "opsledger.application"))

#: The longest import line read (longer ones are refused unparsed): the HTTP ingest's too.
_HOMES["MAX_LINE_BYTES"] = "opsledger.domain.bounds"

__all__ = [
    "DEFAULT_URL",
    "MAX_LINE_BYTES",
    "ActivationRefused",
    "AdvanceReport",
    "Alert",
    "AlertEvent",
    "AlertJudgementEvent",
    "AlertProcessStatus",
    "AlertResolved",
    "AlertTriggered",
    "AuditAction",
    "AuditQuery",
    "AuditRow",
    "AuditSummary",
    "BoundaryViolation",
    "BusinessCalendar",
    "ChainReport",
    "Channel",
    "Checkpoint",
    "CheckpointKeyMissing",
    "CheckpointSignatureInvalid",
    "Clock",
    "Conflict",
    "DailyFigures",
    "Deadline",
    "DeadlineCompliance",
    "DeadlineDecided",
    "DeliveryAttempt",
    "DeliveryFailed",
    "DeliveryReport",
    "DeliverySchedule",
    "Detection",
    "ErrorBudget",
    "ErrorsByCode",
    "ExportRow",
    "Forbidden",
    "ForgetReport",
    "FreshnessMissed",
    "FrozenClock",
    "GateCheck",
    "GateConstraint",
    "GateEvidence",
    "GateOwners",
    "GateStatus",
    "Governance",
    "GraceDeadline",
    "IllegalTransition",
    "ImportRefused",
    "ImportSummary",
    "Incident",
    "IncidentBrief",
    "IncidentEvent",
    "IncidentTransition",
    "InvalidCheckpoint",
    "InvalidInput",
    "InvalidNotifyConfig",
    "InvalidPolicy",
    "InvalidRecord",
    "InvalidStoreIdentifier",
    "InvalidStoreUrl",
    "IssuedToken",
    "KeyStoreMissing",
    "LateAlertFacts",
    "LineTooLong",
    "MissingIdempotencyKey",
    "Mode",
    "MonthlyReview",
    "MonthlyTenant",
    "NaiveDatetime",
    "NotFound",
    "Notification",
    "NotificationDelivery",
    "NotificationDetail",
    "NotifyConfig",
    "OperationIdReused",
    "Operations",
    "OperationsPolicy",
    "OperatorAction",
    "OpsledgerApp",
    "OpsledgerError",
    "OutOfBounds",
    "OutboxStatus",
    "PayloadTooLarge",
    "Period",
    "Periodic",
    "PolicyAdoption",
    "Principal",
    "PrivacySettings",
    "PublishMinute",
    "PublishRecord",
    "PublishResult",
    "QuietWindow",
    "RefusalRow",
    "Rejection",
    "RepositoryOutOfScope",
    "Result",
    "RetentionPolicy",
    "RetentionPolicyMissing",
    "RetentionReport",
    "Route",
    "RuleComparison",
    "ScopeViolation",
    "SlaFigures",
    "SloReport",
    "SnapshotImportSummary",
    "SnapshotRecord",
    "StoreUnavailable",
    "SystemClock",
    "TenantAlreadyRegistered",
    "TenantForgotten",
    "TenantLateFacts",
    "TenantNotReady",
    "TenantState",
    "TimelineEntry",
    "TokenInfo",
    "TokenScope",
    "TrackingConflict",
    "Unauthenticated",
    "UnknownTenant",
    "UnknownToken",
    "UnknownView",
    "UnsafeOutputPath",
    "ViewStatus",
    "WeekNumbers",
    "WeeklyReview",
    "WeeklyTenant",
    "WhatIfReport",
    "import_pumuki_audit",
    "import_snapshots",
    "load_notify_config",
    "pg_connect",
    "verify_signature",
]


def __getattr__(name: str) -> Any:
    """Import the module that holds public ``name`` on first access, then cache it here."""
    if (home := _HOMES.get(name)) is not None:
        value = getattr(import_module(home), name)
    else:
        raise AttributeError(f"module 'opsledger' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
