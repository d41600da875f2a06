"""The services of one store, composed: each takes only what it needs (the store, the
clock, the policy ledger, the views, the tenants), built here in dependency order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from opsledger.domain.time import Clock
from opsledger.projections import (
    AlertsView,
    AuditView,
    IncidentsView,
    OutboxView,
    RetentionView,
    SloView,
    View,
    ViewRunner,
)
from opsledger.services import alerting, identity, outbox_store
from opsledger.services.alert_judgement import AlertJudgement
from opsledger.services.alerting import AlertProcess
from opsledger.services.clock import BusinessClock
from opsledger.services.compliance import Compliance
from opsledger.services.export import Export
from opsledger.services.freshness import Freshness
from opsledger.services.gate import Gate, GateState
from opsledger.services.importer import Importer
from opsledger.services.incidents import Incidents
from opsledger.services.integrity import Integrity
from opsledger.services.notifications import Notifications
from opsledger.services.policies import Policies
from opsledger.services.reads import AuditReads, SloReads, Sweeps, Timeline
from opsledger.services.recording import Recording
from opsledger.services.tenants import Tenants
from opsledger.services.tokens import Tokens
from opsledger.services.views import Views
from opsledger.store.events import EventStore
from opsledger.store.url import StoreUrl

__all__ = ["Forward", "Services", "open_store", "view_runner"]

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")


def view_runner(store: EventStore) -> ViewRunner:
    """The views over ``store``'s log (audit, SLO, alerts, incidents, retention, the
    notification outbox)."""
    views: list[View] = [AuditView(), SloView(), AlertsView(), IncidentsView(), OutboxView(),
                         RetentionView()]
    return ViewRunner(store.app.recorder, store.sql, views, decode=store.decode_state)


def _create_tables(store: EventStore) -> None:
    """Every table above the events: the views, the alert process, operation identities."""
    runner = view_runner(store)
    runner.create_tables()
    with store.sql.transaction(commit=True) as cursor:
        alerting.create_tables(store.sql, cursor)
        outbox_store.create_tables(store.sql, cursor)
        identity.create_table(store.sql, cursor, runner)


def open_store(url: StoreUrl) -> EventStore:
    """Open (creating or upgrading the schema of) the store at ``url``."""
    return EventStore(url, _create_tables)


@dataclass(frozen=True)
class Services:
    """Every service of one store, sharing one clock and one set of views."""

    clock: BusinessClock
    views: Views
    policies: Policies
    gate_state: GateState
    tenants: Tenants
    recording: Recording
    importer: Importer
    freshness: Freshness
    alerts: AlertProcess
    judgement: AlertJudgement
    incidents: Incidents
    gate: Gate
    compliance: Compliance
    audit: AuditReads
    slo: SloReads
    timeline: Timeline
    sweeps: Sweeps
    integrity: Integrity
    tokens: Tokens
    export: Export
    notifications: Notifications

    @classmethod
    def build(cls, store: EventStore, clock: Clock, runner: ViewRunner) -> Services:
        """Compose the services of ``store`` in dependency order."""
        time = BusinessClock(clock)
        views = Views(runner)
        policies = Policies(store, time)
        gate_state = GateState(store, policies)
        tenants = Tenants(store, time, views, gate_state.ready_for_saas)
        recording = Recording(store, time, policies)
        freshness = Freshness(store, time, policies, tenants, views)
        alerts = AlertProcess(store, policies, views, tenants)
        incidents = Incidents(store, time, policies, tenants, gate_state, views)
        gate = Gate(store, time, policies, tenants, gate_state, views)
        audit = AuditReads(store, tenants, views)
        return cls(
            clock=time, views=views, policies=policies, gate_state=gate_state, tenants=tenants,
            recording=recording, importer=Importer(time, recording), freshness=freshness,
            alerts=alerts, judgement=AlertJudgement(store, time, views), incidents=incidents,
            gate=gate,
            compliance=Compliance(store, time, tenants, views, recording, alerts),
            audit=audit,
            slo=SloReads(store, time, policies, tenants, views),
            timeline=Timeline(store, tenants, views),
            sweeps=Sweeps(store, time, alerts, freshness, incidents, gate),
            integrity=Integrity(store, clock),
            tokens=Tokens(store, time, tenants),
            export=Export(store, tenants, audit, alerts, incidents),
            notifications=Notifications(store, clock, views),
        )


class Composed(Protocol):
    """What a facade built on :class:`Services` has."""

    services: Services


class Forward(Generic[S, P, R]):
    """A facade method that is the named service's own bound method (same signature,
    same docstring, same types): ``slo = Forward("slo", SloReads.slo)``."""

    def __init__(self, service: str, method: Callable[Concatenate[S, P], R]) -> None:
        self.service = service
        self.name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Forward[S, P, R]: ...
    @overload
    def __get__(self, obj: Composed, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, obj: Composed | None, owner: type[Any]
                ) -> Forward[S, P, R] | Callable[P, R]:
        if obj is None:
            return self
        method: Callable[P, R] = getattr(getattr(obj.services, self.service), self.name)
        return method

    def __call__(self, facade: Composed, /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Called on the class, as an unbound method: ``Operations.slo(ops, ...)``."""
        method: Callable[P, R] = getattr(getattr(facade.services, self.service), self.name)
        return method(*args, **kwargs)
