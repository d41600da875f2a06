"""``Operations``: the facade a service embeds. It opens one store, composes the services
(:mod:`opsledger.services`) over it, and forwards each public call to the service that owns
it — with that service's own signature and types (:class:`_Forward`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import Clock, SystemClock
from opsledger.services.alerting import AlertProcess
from opsledger.services.clock import BusinessClock
from opsledger.services.compliance import Compliance
from opsledger.services.compose import Services, open_store, view_runner
from opsledger.services.freshness import Freshness
from opsledger.services.gate import Gate, GateState
from opsledger.services.importer import Importer
from opsledger.services.incidents import Incidents
from opsledger.services.integrity import Integrity
from opsledger.services.policies import Policies
from opsledger.services.reads import AuditReads, SloReads, Sweeps, Timeline
from opsledger.services.recording import PublishResult, Recording
from opsledger.services.tenants import Tenants, TenantState
from opsledger.services.views import Views
from opsledger.store.events import OpsledgerApp
from opsledger.store.url import DEFAULT_URL, StoreUrl, parse_store_url

__all__ = ["Operations", "OpsledgerApp", "PublishResult", "TenantState"]

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")


class _Forward(Generic[S, P, R]):
    """A facade method that is the named service's own bound method (same signature,
    same docstring, same types)."""

    def __init__(self, service: str, method: Callable[Concatenate[S, P], R]) -> None:
        self.service = service
        self.name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Forward[S, P, R]: ...
    @overload
    def __get__(self, obj: Operations, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, obj: Operations | None, owner: type[Any]
                ) -> _Forward[S, P, R] | Callable[P, R]:
        if obj is None:
            return self
        method: Callable[P, R] = getattr(getattr(obj.services, self.service), self.name)
        return method

    def __call__(self, ops: Operations, /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Called on the class, as an unbound method: ``Operations.slo(ops, ...)``."""
        method: Callable[P, R] = getattr(getattr(ops.services, self.service), self.name)
        return method(*args, **kwargs)


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

    def close(self) -> None:
        """Release connections."""
        self.events.close()

    def __enter__(self) -> Operations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def decode_state(self, state: bytes) -> dict[str, Any] | None:
        """A stored event's state as JSON (``None``: a forgotten tenant's event)."""
        return self.events.decode_state(state)

    # clock
    time_bounds = _Forward("clock", BusinessClock.bounds)
    # policies
    adopt_policy = _Forward("policies", Policies.adopt_policy)
    policy_at = _Forward("policies", Policies.policy_at)
    # tenants
    register_tenant = _Forward("tenants", Tenants.register_tenant)
    add_repository = _Forward("tenants", Tenants.add_repository)
    remove_repository = _Forward("tenants", Tenants.remove_repository)
    set_governance = _Forward("tenants", Tenants.set_governance)
    set_tenant_mode = _Forward("tenants", Tenants.set_tenant_mode)
    assign_token_rotation_owner = _Forward("tenants", Tenants.assign_token_rotation_owner)
    confirm_boundary_violation = _Forward("tenants", Tenants.confirm_boundary_violation)
    tenant = _Forward("tenants", Tenants.tenant)
    tenants = _Forward("tenants", Tenants.tenants)
    # recording
    writer = _Forward("recording", Recording.writer)
    record_publish = _Forward("recording", Recording.record_publish)
    # importer
    import_pumuki_audit = _Forward("importer", Importer.import_pumuki_audit)
    # freshness
    record_visibility = _Forward("freshness", Freshness.record_visibility)
    import_snapshots = _Forward("freshness", Freshness.import_snapshots)
    freshness_deadlines = _Forward("freshness", Freshness.freshness_deadlines)
    # views
    catch_up = _Forward("views", Views.catch_up)
    rebuild_views = _Forward("views", Views.rebuild_views)
    view_status = _Forward("views", Views.view_status)
    # audit
    audit = _Forward("audit", AuditReads.audit)
    audit_stream = _Forward("audit", AuditReads.audit_stream)
    audit_refusals = _Forward("audit", AuditReads.audit_refusals)
    audit_refusals_stream = _Forward("audit", AuditReads.audit_refusals_stream)
    audit_actions = _Forward("audit", AuditReads.audit_actions)
    audit_summary = _Forward("audit", AuditReads.audit_summary)
    # slo
    slo = _Forward("slo", SloReads.slo)
    # timeline
    replay = _Forward("timeline", Timeline.replay)
    replay_stream = _Forward("timeline", Timeline.replay_stream)
    # sweeps
    advance = _Forward("sweeps", Sweeps.advance)
    advance_by_event_time = _Forward("sweeps", Sweeps.advance_by_event_time)
    next_due = _Forward("sweeps", Sweeps.next_due)
    # alerts
    subscribe = _Forward("alerts", AlertProcess.subscribe)
    evaluate_alerts = _Forward("alerts", AlertProcess.evaluate_alerts)
    alerts = _Forward("alerts", AlertProcess.alerts)
    late_alert_facts = _Forward("alerts", AlertProcess.late_alert_facts)
    alert_process_status = _Forward("alerts", AlertProcess.alert_process_status)
    # incidents
    open_incident = _Forward("incidents", Incidents.open_incident)
    acknowledge = _Forward("incidents", Incidents.acknowledge)
    start_mitigation = _Forward("incidents", Incidents.start_mitigation)
    post_status_update = _Forward("incidents", Incidents.post_status_update)
    change_severity = _Forward("incidents", Incidents.change_severity)
    resolve_incident = _Forward("incidents", Incidents.resolve_incident)
    publish_rca = _Forward("incidents", Incidents.publish_rca)
    schedule_fix = _Forward("incidents", Incidents.schedule_fix)
    close_incident = _Forward("incidents", Incidents.close_incident)
    incident = _Forward("incidents", Incidents.incident)
    incidents = _Forward("incidents", Incidents.incidents)
    incident_timeline = _Forward("incidents", Incidents.incident_timeline)
    incident_deadlines = _Forward("incidents", Incidents.incident_deadlines)
    sla = _Forward("incidents", Incidents.sla)
    record_due_incident_deadlines = _Forward("incidents", Incidents.record_due_incident_deadlines)
    record_due_incident_deadlines_per_tenant = _Forward(
        "incidents", Incidents.record_due_incident_deadlines_per_tenant)
    # gate
    record_gate_evidence = _Forward("gate", Gate.record_gate_evidence)
    activate_saas = _Forward("gate", Gate.activate_saas)
    rollback_to_local = _Forward("gate", Gate.rollback_to_local)
    declare_constraint = _Forward("gate", Gate.declare_constraint)
    lift_constraint = _Forward("gate", Gate.lift_constraint)
    assign_owners = _Forward("gate", Gate.assign_owners)
    gate_status = _Forward("gate", Gate.gate_status)
    settle_gate_deadlines = _Forward("gate", Gate.settle_gate_deadlines)
    # gate_state
    secondary_owner = _Forward("gate_state", GateState.secondary_owner)
    ready_for_saas = _Forward("gate_state", GateState.ready_for_saas)
    # compliance
    apply_retention = _Forward("compliance", Compliance.apply_retention)
    forget_tenant = _Forward("compliance", Compliance.forget_tenant)
    # integrity
    verify_chain = _Forward("integrity", Integrity.verify_chain)
    checkpoint = _Forward("integrity", Integrity.checkpoint)
