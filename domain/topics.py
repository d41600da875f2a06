"""Every event topic opsledger stores, in one place: the aggregates' topics, their events'
topics and prefixes (``opsledger.<Aggregate>.<Event>``, as the eventsourcing library names
them), and :func:`action`, the audit trail's name of a topic (without ``opsledger.``). Code
that reads stored events or the audit trail compares with these constants, never with a
literal (a test reads the source to keep it so)."""

from __future__ import annotations

__all__ = [
    "ALERT_ACKNOWLEDGED",
    "ALERT_AGGREGATE",
    "ALERT_CREATED",
    "ALERT_JUDGED",
    "ALERT_LINKED_TO_INCIDENT",
    "ALERT_PREFIX",
    "ALERT_RESOLVED",
    "ALERT_REVISED",
    "ALERT_TRIGGERED",
    "API_TOKEN_AGGREGATE",
    "API_TOKEN_CREATED",
    "API_TOKEN_ISSUED",
    "API_TOKEN_PREFIX",
    "API_TOKEN_REVOKED",
    "API_TOKEN_ROTATED",
    "ERASURE_AGGREGATE",
    "ERASURE_CREATED",
    "ERASURE_PREFIX",
    "ERASURE_TENANT_FORGOTTEN",
    "GO_LIVE_GATE_ACTIVATED",
    "GO_LIVE_GATE_ACTIVATION_REFUSED",
    "GO_LIVE_GATE_AGGREGATE",
    "GO_LIVE_GATE_COMPLIANCE_BREACHED",
    "GO_LIVE_GATE_CONSTRAINT_DECLARED",
    "GO_LIVE_GATE_CONSTRAINT_LIFTED",
    "GO_LIVE_GATE_CREATED",
    "GO_LIVE_GATE_EVIDENCE_RECORDED",
    "GO_LIVE_GATE_GRACE_MET",
    "GO_LIVE_GATE_OPENED",
    "GO_LIVE_GATE_OWNERS_ASSIGNED",
    "GO_LIVE_GATE_PREFIX",
    "GO_LIVE_GATE_ROLLED_BACK",
    "INCIDENT_ACKNOWLEDGED",
    "INCIDENT_AGGREGATE",
    "INCIDENT_CLOSED",
    "INCIDENT_CREATED",
    "INCIDENT_DEADLINE_MISSED",
    "INCIDENT_FIX_SCHEDULED",
    "INCIDENT_MITIGATION_STARTED",
    "INCIDENT_OPENED",
    "INCIDENT_PREFIX",
    "INCIDENT_RCA_PUBLISHED",
    "INCIDENT_RESOLVED",
    "INCIDENT_SEVERITY_CHANGED",
    "INCIDENT_STATUS_UPDATE_POSTED",
    "INTEGRITY_ALARM_AGGREGATE",
    "INTEGRITY_ALARM_CHAIN_FAILED",
    "INTEGRITY_ALARM_CREATED",
    "INTEGRITY_ALARM_PREFIX",
    "POLICY_LEDGER_ADOPTED",
    "POLICY_LEDGER_AGGREGATE",
    "POLICY_LEDGER_CREATED",
    "POLICY_LEDGER_OPENED",
    "POLICY_LEDGER_PREFIX",
    "PUBLISH_BATCH_AGGREGATE",
    "PUBLISH_BATCH_CREATED",
    "PUBLISH_BATCH_OPERATION_RECORDED",
    "PUBLISH_BATCH_PREFIX",
    "PUBLISH_BATCH_STARTED",
    "REFUSED_COMMAND_AGGREGATE",
    "REFUSED_COMMAND_CREATED",
    "REFUSED_COMMAND_PREFIX",
    "REFUSED_COMMAND_REFUSED",
    "ROOT",
    "TENANT_AGGREGATE",
    "TENANT_BOUNDARY_VIOLATION_CONFIRMED",
    "TENANT_CREATED",
    "TENANT_GOVERNANCE_SET",
    "TENANT_MODE_CHANGED",
    "TENANT_PREFIX",
    "TENANT_REGISTERED",
    "TENANT_REPOSITORY_ADDED",
    "TENANT_REPOSITORY_REMOVED",
    "TENANT_RETENTION_APPLIED",
    "TENANT_TOKEN_ROTATION_OWNER_ASSIGNED",
    "VISIBILITY_AGGREGATE",
    "VISIBILITY_CREATED",
    "VISIBILITY_FRESHNESS_MISSED",
    "VISIBILITY_OBSERVED",
    "VISIBILITY_PREFIX",
    "VISIBILITY_SEEN",
    "VISIBILITY_TRACKED",
    "action",
]

ROOT = "opsledger."

# ---- Alert --------------------------------------------------------------------------------
ALERT_AGGREGATE = "opsledger.Alert"
ALERT_PREFIX = "opsledger.Alert."
ALERT_CREATED = "opsledger.Alert.Created"
ALERT_ACKNOWLEDGED = "opsledger.Alert.Acknowledged"
ALERT_JUDGED = "opsledger.Alert.Judged"
ALERT_LINKED_TO_INCIDENT = "opsledger.Alert.LinkedToIncident"
ALERT_RESOLVED = "opsledger.Alert.Resolved"
ALERT_REVISED = "opsledger.Alert.Revised"
ALERT_TRIGGERED = "opsledger.Alert.Triggered"

# ---- ApiToken -----------------------------------------------------------------------------
API_TOKEN_AGGREGATE = "opsledger.ApiToken"
API_TOKEN_PREFIX = "opsledger.ApiToken."
API_TOKEN_CREATED = "opsledger.ApiToken.Created"
API_TOKEN_ISSUED = "opsledger.ApiToken.Issued"
API_TOKEN_REVOKED = "opsledger.ApiToken.Revoked"
API_TOKEN_ROTATED = "opsledger.ApiToken.Rotated"

# ---- Erasure ------------------------------------------------------------------------------
ERASURE_AGGREGATE = "opsledger.Erasure"
ERASURE_PREFIX = "opsledger.Erasure."
ERASURE_CREATED = "opsledger.Erasure.Created"
ERASURE_TENANT_FORGOTTEN = "opsledger.Erasure.TenantForgotten"

# ---- GoLiveGate ---------------------------------------------------------------------------
GO_LIVE_GATE_AGGREGATE = "opsledger.GoLiveGate"
GO_LIVE_GATE_PREFIX = "opsledger.GoLiveGate."
GO_LIVE_GATE_ACTIVATED = "opsledger.GoLiveGate.Activated"
GO_LIVE_GATE_ACTIVATION_REFUSED = "opsledger.GoLiveGate.ActivationRefused"
GO_LIVE_GATE_COMPLIANCE_BREACHED = "opsledger.GoLiveGate.ComplianceBreached"
GO_LIVE_GATE_CONSTRAINT_DECLARED = "opsledger.GoLiveGate.ConstraintDeclared"
GO_LIVE_GATE_CONSTRAINT_LIFTED = "opsledger.GoLiveGate.ConstraintLifted"
GO_LIVE_GATE_CREATED = "opsledger.GoLiveGate.Created"
GO_LIVE_GATE_EVIDENCE_RECORDED = "opsledger.GoLiveGate.EvidenceRecorded"
GO_LIVE_GATE_GRACE_MET = "opsledger.GoLiveGate.GraceMet"
GO_LIVE_GATE_OPENED = "opsledger.GoLiveGate.Opened"
GO_LIVE_GATE_OWNERS_ASSIGNED = "opsledger.GoLiveGate.OwnersAssigned"
GO_LIVE_GATE_ROLLED_BACK = "opsledger.GoLiveGate.RolledBack"

# ---- Incident -----------------------------------------------------------------------------
INCIDENT_AGGREGATE = "opsledger.Incident"
INCIDENT_PREFIX = "opsledger.Incident."
INCIDENT_ACKNOWLEDGED = "opsledger.Incident.Acknowledged"
INCIDENT_CLOSED = "opsledger.Incident.Closed"
INCIDENT_CREATED = "opsledger.Incident.Created"
INCIDENT_DEADLINE_MISSED = "opsledger.Incident.DeadlineMissed"
INCIDENT_FIX_SCHEDULED = "opsledger.Incident.FixScheduled"
INCIDENT_MITIGATION_STARTED = "opsledger.Incident.MitigationStarted"
INCIDENT_OPENED = "opsledger.Incident.Opened"
INCIDENT_RCA_PUBLISHED = "opsledger.Incident.RcaPublished"
INCIDENT_RESOLVED = "opsledger.Incident.Resolved"
INCIDENT_SEVERITY_CHANGED = "opsledger.Incident.SeverityChanged"
INCIDENT_STATUS_UPDATE_POSTED = "opsledger.Incident.StatusUpdatePosted"

# ---- IntegrityAlarm -----------------------------------------------------------------------
INTEGRITY_ALARM_AGGREGATE = "opsledger.IntegrityAlarm"
INTEGRITY_ALARM_PREFIX = "opsledger.IntegrityAlarm."
INTEGRITY_ALARM_CHAIN_FAILED = "opsledger.IntegrityAlarm.ChainFailed"
INTEGRITY_ALARM_CREATED = "opsledger.IntegrityAlarm.Created"

# ---- PolicyLedger -------------------------------------------------------------------------
POLICY_LEDGER_AGGREGATE = "opsledger.PolicyLedger"
POLICY_LEDGER_PREFIX = "opsledger.PolicyLedger."
POLICY_LEDGER_ADOPTED = "opsledger.PolicyLedger.Adopted"
POLICY_LEDGER_CREATED = "opsledger.PolicyLedger.Created"
POLICY_LEDGER_OPENED = "opsledger.PolicyLedger.Opened"

# ---- PublishBatch -------------------------------------------------------------------------
PUBLISH_BATCH_AGGREGATE = "opsledger.PublishBatch"
PUBLISH_BATCH_PREFIX = "opsledger.PublishBatch."
PUBLISH_BATCH_CREATED = "opsledger.PublishBatch.Created"
PUBLISH_BATCH_OPERATION_RECORDED = "opsledger.PublishBatch.OperationRecorded"
PUBLISH_BATCH_STARTED = "opsledger.PublishBatch.Started"

# ---- RefusedCommand -----------------------------------------------------------------------
REFUSED_COMMAND_AGGREGATE = "opsledger.RefusedCommand"
REFUSED_COMMAND_PREFIX = "opsledger.RefusedCommand."
REFUSED_COMMAND_CREATED = "opsledger.RefusedCommand.Created"
REFUSED_COMMAND_REFUSED = "opsledger.RefusedCommand.Refused"

# ---- Tenant -------------------------------------------------------------------------------
TENANT_AGGREGATE = "opsledger.Tenant"
TENANT_PREFIX = "opsledger.Tenant."
TENANT_BOUNDARY_VIOLATION_CONFIRMED = "opsledger.Tenant.BoundaryViolationConfirmed"
TENANT_CREATED = "opsledger.Tenant.Created"
TENANT_GOVERNANCE_SET = "opsledger.Tenant.GovernanceSet"
TENANT_MODE_CHANGED = "opsledger.Tenant.ModeChanged"
TENANT_REGISTERED = "opsledger.Tenant.Registered"
TENANT_REPOSITORY_ADDED = "opsledger.Tenant.RepositoryAdded"
TENANT_REPOSITORY_REMOVED = "opsledger.Tenant.RepositoryRemoved"
TENANT_RETENTION_APPLIED = "opsledger.Tenant.RetentionApplied"
TENANT_TOKEN_ROTATION_OWNER_ASSIGNED = "opsledger.Tenant.TokenRotationOwnerAssigned"

# ---- Visibility ---------------------------------------------------------------------------
VISIBILITY_AGGREGATE = "opsledger.Visibility"
VISIBILITY_PREFIX = "opsledger.Visibility."
VISIBILITY_CREATED = "opsledger.Visibility.Created"
VISIBILITY_FRESHNESS_MISSED = "opsledger.Visibility.FreshnessMissed"
VISIBILITY_OBSERVED = "opsledger.Visibility.Observed"
VISIBILITY_SEEN = "opsledger.Visibility.Seen"
VISIBILITY_TRACKED = "opsledger.Visibility.Tracked"


def action(topic: str) -> str:
    """The audit trail's name of an operator action: its topic without ``opsledger.``
    (``Tenant.Registered``)."""
    return topic.removeprefix(ROOT)
