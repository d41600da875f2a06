"""``Operations``: the facade a service embeds. It opens one store, composes the services
(:mod:`opsledger.services`) over it, and forwards each public call to the service that owns
it — with that service's own signature and types
(:class:`~opsledger.services.compose.Forward`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import Clock, SystemClock
from opsledger.services.alert_judgement import AlertJudgement
from opsledger.services.alerting import AlertProcess
from opsledger.services.clock import BusinessClock
from opsledger.services.compliance import Compliance
from opsledger.services.compose import Forward, Services, open_store, view_runner
from opsledger.services.export import Export
from opsledger.services.freshness import Freshness
from opsledger.services.gate import Gate, GateState
from opsledger.services.importer import Importer
from opsledger.services.incidents import Incidents
from opsledger.services.integrity import Integrity
from opsledger.services.notifications import Notifications
from opsledger.services.policies import Policies
from opsledger.services.reads import AuditReads, SloReads, Sweeps, Timeline
from opsledger.services.recording import PublishResult, Recording
from opsledger.services.tenants import Tenants, TenantState
from opsledger.services.tokens import Tokens
from opsledger.services.views import Views
from opsledger.store.events import OpsledgerApp
from opsledger.store.url import DEFAULT_URL, StoreUrl, parse_store_url

if TYPE_CHECKING:
    from opsledger.results import AdvanceReport
    from opsledger.scheduler.driver import Driver

__all__ = ["Operations", "OpsledgerApp", "PublishResult", "TenantState", "import_pumuki_audit",
           "import_snapshots"]

class Operations:
    """Everything a service embeds: commands (each with a business time) and queries.

    Open with :meth:`open`. Pass ``clock`` (default: the system clock) and optionally
    ``policy`` (adopted as an event if it differs from the policy in force). The services
    themselves are :attr:`services`; each method here is one of theirs.
    """

    def __init__(
        self, store: StoreUrl, *, clock: Clock | None = None, policy: OperationsPolicy | None = None
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.events = open_store(store)
        self.app = self.events.app
        self.sql = self.events.sql
        self.keyring = self.events.keyring
        self.views = view_runner(self.events)
        self.views.ensure_versions()  # a view built by another version: rebuilt
        self.services = Services.build(self.events, self.clock, self.views)
        if policy is not None:
            self.services.policies.adopt_passed(policy)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        policy: OperationsPolicy | None = None,
        env: dict[str, str] | None = None,
    ) -> Operations:
        """Open (creating if needed) the store at ``url``; ``env`` may give OPSLEDGER_DB."""
        chosen = url or (env or {}).get("OPSLEDGER_DB") or DEFAULT_URL
        return cls(parse_store_url(chosen), clock=clock, policy=policy)

    def scheduler(self, *, blocking: bool = True) -> Driver[AdvanceReport]:
        """The deadline scheduler over this store: sweeps now, then at each next due time
        by the clock (``start()`` runs it)."""
        from opsledger.scheduler.driver import Driver  # (APScheduler: only when asked for)

        return Driver(self, self.clock.now, blocking=blocking)

    def close(self) -> None:
        """Release connections."""
        self.events.close()

    def __enter__(self) -> Operations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    time_bounds = Forward("clock", BusinessClock.bounds)
    # policies
    adopt_policy = Forward("policies", Policies.adopt_policy)
    policy_at = Forward("policies", Policies.policy_at)
    # tenants
    register_tenant = Forward("tenants", Tenants.register_tenant)
    add_repository = Forward("tenants", Tenants.add_repository)
    remove_repository = Forward("tenants", Tenants.remove_repository)
    set_governance = Forward("tenants", Tenants.set_governance)
    set_tenant_mode = Forward("tenants", Tenants.set_tenant_mode)
    assign_token_rotation_owner = Forward("tenants", Tenants.assign_token_rotation_owner)
    confirm_boundary_violation = Forward("tenants", Tenants.confirm_boundary_violation)
    tenant = Forward("tenants", Tenants.tenant)
    tenants = Forward("tenants", Tenants.tenants)
    # recording
    writer = Forward("recording", Recording.writer)
    record_publish = Forward("recording", Recording.record_publish)
    # importer
    import_pumuki_audit = Forward("importer", Importer.import_pumuki_audit)
    # freshness
    record_visibility = Forward("freshness", Freshness.record_visibility)
    import_snapshots = Forward("freshness", Freshness.import_snapshots)
    freshness_deadlines = Forward("freshness", Freshness.freshness_deadlines)
    # views
    catch_up = Forward("views", Views.catch_up)
    rebuild_views = Forward("views", Views.rebuild_views)
    view_status = Forward("views", Views.view_status)
    # audit
    audit = Forward("audit", AuditReads.audit)
    audit_stream = Forward("audit", AuditReads.audit_stream)
    audit_refusals = Forward("audit", AuditReads.audit_refusals)
    audit_refusals_stream = Forward("audit", AuditReads.audit_refusals_stream)
    audit_actions = Forward("audit", AuditReads.audit_actions)
    audit_summary = Forward("audit", AuditReads.audit_summary)
    export_stream = Forward("export", Export.export_stream)
    # slo
    slo = Forward("slo", SloReads.slo)
    # timeline
    replay = Forward("timeline", Timeline.replay)
    replay_stream = Forward("timeline", Timeline.replay_stream)
    advance = Forward("sweeps", Sweeps.advance)
    advance_by_event_time = Forward("sweeps", Sweeps.advance_by_event_time)
    next_due = Forward("sweeps", Sweeps.next_due)
    # alerts, and operators' judgement of them
    subscribe = Forward("alerts", AlertProcess.subscribe)
    evaluate_alerts = Forward("alerts", AlertProcess.evaluate_alerts)
    alerts = Forward("alerts", AlertProcess.alerts)
    late_alert_facts = Forward("alerts", AlertProcess.late_alert_facts)
    alert_process_status = Forward("alerts", AlertProcess.alert_process_status)
    acknowledge_alert = Forward("judgement", AlertJudgement.acknowledge_alert)
    judge_alert = Forward("judgement", AlertJudgement.judge_alert)
    link_alert = Forward("judgement", AlertJudgement.link_alert)
    # incidents
    open_incident = Forward("incidents", Incidents.open_incident)
    acknowledge = Forward("incidents", Incidents.acknowledge)
    start_mitigation = Forward("incidents", Incidents.start_mitigation)
    post_status_update = Forward("incidents", Incidents.post_status_update)
    change_severity = Forward("incidents", Incidents.change_severity)
    resolve_incident = Forward("incidents", Incidents.resolve_incident)
    publish_rca = Forward("incidents", Incidents.publish_rca)
    schedule_fix = Forward("incidents", Incidents.schedule_fix)
    close_incident = Forward("incidents", Incidents.close_incident)
    incident = Forward("incidents", Incidents.incident)
    incidents = Forward("incidents", Incidents.incidents)
    incident_timeline = Forward("incidents", Incidents.incident_timeline)
    incident_deadlines = Forward("incidents", Incidents.incident_deadlines)
    sla = Forward("incidents", Incidents.sla)
    record_due_incident_deadlines = Forward("incidents", Incidents.record_due_incident_deadlines)
    record_due_incident_deadlines_per_tenant = Forward(
        "incidents", Incidents.record_due_incident_deadlines_per_tenant)
    # gate
    record_gate_evidence = Forward("gate", Gate.record_gate_evidence)
    activate_saas = Forward("gate", Gate.activate_saas)
    rollback_to_local = Forward("gate", Gate.rollback_to_local)
    declare_constraint = Forward("gate", Gate.declare_constraint)
    lift_constraint = Forward("gate", Gate.lift_constraint)
    assign_owners = Forward("gate", Gate.assign_owners)
    gate_status = Forward("gate", Gate.gate_status)
    settle_gate_deadlines = Forward("gate", Gate.settle_gate_deadlines)
    # gate state
    secondary_owner = Forward("gate_state", GateState.secondary_owner)
    ready_for_saas = Forward("gate_state", GateState.ready_for_saas)
    # compliance
    apply_retention = Forward("compliance", Compliance.apply_retention)
    forget_tenant = Forward("compliance", Compliance.forget_tenant)
    # integrity
    verify_chain = Forward("integrity", Integrity.verify_chain)
    checkpoint = Forward("integrity", Integrity.checkpoint)
    # API tokens
    create_token = Forward("tokens", Tokens.create_token)
    rotate_token = Forward("tokens", Tokens.rotate_token)
    revoke_token = Forward("tokens", Tokens.revoke_token)
    tokens = Forward("tokens", Tokens.tokens)
    authenticate = Forward("tokens", Tokens.authenticate)
    notifications = Forward("notifications", Notifications.notifications)
    notification = Forward("notifications", Notifications.notification)
    outbox = Forward("notifications", Notifications.outbox)
    outbox_status = Forward("notifications", Notifications.outbox_status)
    retry_notifications = Forward("notifications", Notifications.retry_notifications)
    deliver_notifications = Forward("notifications", Notifications.deliver_notifications)
    test_notification_route = Forward("notifications", Notifications.test_notification_route)


#: The importers as functions of the store (the 0.1 embedding API):
#: ``import_pumuki_audit(ops, sources, ...)`` is ``ops.import_pumuki_audit(sources, ...)``.
import_pumuki_audit = Operations.import_pumuki_audit
import_snapshots = Operations.import_snapshots
