"""opsledger.projections — read models kept beside the events, applied exactly once."""

from opsledger.domain.errors import TrackingConflict, UnknownView
from opsledger.projections._facts import Fact
from opsledger.projections._sql import SqlStore
from opsledger.projections._status import ViewStatus
from opsledger.projections.alerts import AlertsView, alert_rows
from opsledger.projections.audit import (
    AuditQuery,
    AuditView,
    action_rows,
    publish_rows,
    refusal_rows,
    summary_rows,
)
from opsledger.projections.incidents import IncidentsView
from opsledger.projections.outbox import OutboxView
from opsledger.projections.retention import RetentionView
from opsledger.projections.runner import View, ViewRunner
from opsledger.projections.slo import SloView

__all__ = [
    "AlertsView",
    "AuditQuery",
    "AuditView",
    "Fact",
    "IncidentsView",
    "OutboxView",
    "RetentionView",
    "SloView",
    "SqlStore",
    "TrackingConflict",
    "UnknownView",
    "View",
    "ViewRunner",
    "ViewStatus",
    "action_rows",
    "alert_rows",
    "publish_rows",
    "refusal_rows",
    "summary_rows",
]
