"""The go-live gate as a service (policy §6, §8): evidence, activation, rollback,
constraints and their grace deadlines, owners; and the SaaS switch of a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import IntegrityError

from opsledger import results as rs
from opsledger.domain import topics
from opsledger.domain.bounds import bounded
from opsledger.domain.errors import ActivationRefused
from opsledger.domain.gate import GoLiveGate, check_states, gate_uuid
from opsledger.domain.tenant import Mode, Tenant
from opsledger.domain.time import iso_utc
from opsledger.projections import audit as audit_queries
from opsledger.services.clock import BusinessClock
from opsledger.services.policies import Policies
from opsledger.services.tenants import Tenants
from opsledger.services.views import Views
from opsledger.store.asof import as_of as as_of_state
from opsledger.store.events import EventStore

__all__ = ["Gate", "GateState"]

DEFAULT_ENV = "production"


class GateState:
    """The go-live gate of an environment as it stands, and what it lets a tenant do."""

    def __init__(self, store: EventStore, policies: Policies) -> None:
        self._store = store
        self._policies = policies

    def gate(self, environment: str) -> GoLiveGate:
        """The gate (a new one, with the policy's owners, if nothing was recorded)."""
        found = self._store.get(gate_uuid(environment), GoLiveGate)
        if found is not None:
            return found
        owners = self._policies.policy_at().ownership
        return GoLiveGate(environment=environment, primary_owner=owners.primary_owner,
                          secondary_owner=owners.secondary_owner)

    def secondary_owner(self, environment: str = DEFAULT_ENV) -> str | None:
        """Who a missed acknowledgement escalates to, if the gate names one."""
        gate = self._store.get(gate_uuid(environment), GoLiveGate)
        return gate.secondary_owner if gate is not None else None

    def ready_for_saas(self, tenant: Tenant, environment: str = DEFAULT_ENV) -> list[str]:
        """What stops the tenant from entering SaaS mode (empty: nothing)."""
        missing = []
        if self.gate(environment).mode != "saas":
            missing.append(f"the {environment} go-live gate is not active")
        if tenant.governance_data is None:
            missing.append("no retention/privacy policy")
        if not tenant.token_rotation_owner:
            missing.append("no token-rotation owner")
        return missing


class Gate:
    """Go-live gate commands and status (policy §6, §8)."""

    def __init__(self, store: EventStore, clock: BusinessClock, policies: Policies,
                 tenants: Tenants, state: GateState, views: Views) -> None:
        self._store = store
        self._clock = clock
        self._policies = policies
        self._tenants = tenants
        self._state = state
        self._views = views

    def _gate(self, environment: str) -> GoLiveGate:
        return self._state.gate(environment)

    def _change_gate(self, environment: str, change: Any) -> Any:
        return self._store.update(lambda: self._gate(environment), change)

    @bounded(check="label", result="label", by="id", details="details", at="time", environment="id")
    def record_gate_evidence(self, check: str, *, result: str, by: str,
                             details: dict[str, Any] | None = None, at: datetime | None = None,
                             environment: str = DEFAULT_ENV) -> rs.GateStatus:
        """Evidence for one of the five checks; returns the gate status."""
        moment = self._clock.now(at)
        self._change_gate(environment, lambda g: g.record_evidence(
            check, result, details or {}, by, moment))
        return self.gate_status(environment, at=moment)

    @bounded(version="id", by="id", at="time", environment="id")
    def activate_saas(self, version: str, *, by: str, at: datetime | None = None,
                      environment: str = DEFAULT_ENV) -> rs.GateStatus:
        """Enable SaaS mode if every check passes; else record the refusal and raise
        :class:`ActivationRefused` listing each check and why."""
        moment = self._clock.now(at)
        refusals = self._change_gate(environment, lambda g: g.activate(
            version, by, moment, self._policies.policy_at(moment)))
        if refusals:
            raise ActivationRefused(version, refusals)
        return self.gate_status(environment, at=moment)

    @bounded(reason="text", by="id", at="time", environment="id")
    def rollback_to_local(self, *, reason: str, by: str, at: datetime | None = None,
                          environment: str = DEFAULT_ENV) -> rs.GateStatus:
        """Back to local-only: the environment and every SaaS tenant (policy §1)."""
        moment = self._clock.now(at)
        for _ in range(10):
            gate = self._gate(environment)
            gate.rollback(reason, by, moment)
            tenants: list[Tenant] = [self._tenants.load(t.tenant_id)
                                     for t in self._tenants.tenants()
                                     if t.mode == Mode.SAAS.value]
            for tenant in tenants:
                tenant.change_mode(Mode.LOCAL_ONLY, f"rollback: {reason}", by, moment)
            try:
                self._store.save(gate, *tenants)
                break
            except IntegrityError:  # a concurrent writer: decide again on fresh state
                continue
        return self.gate_status(environment, at=moment)

    @bounded(kind="label", reason="text", by="id", at="time", environment="id")
    def declare_constraint(self, kind: str, *, reason: str, by: str,
                           at: datetime | None = None,
                           environment: str = DEFAULT_ENV) -> rs.GateStatus:
        """Policy §8: remote CI or scanning unavailable; local evidence is waived in."""
        moment = self._clock.now(at)
        self._change_gate(environment, lambda g: g.declare_constraint(kind, reason, by, moment))
        return self.gate_status(environment, at=moment)

    @bounded(kind="label", reason="text", by="id", at="time", environment="id")
    def lift_constraint(self, kind: str, *, reason: str, by: str, at: datetime | None = None,
                        environment: str = DEFAULT_ENV) -> rs.GateStatus:
        """The constraint is over; the grace period (policy, default 72 h) starts."""
        moment = self._clock.now(at)
        self._change_gate(environment, lambda g: g.lift_constraint(
            kind, reason, by, moment, self._policies.policy_at(moment)))
        return self.gate_status(environment, at=moment)

    @bounded(primary="id", secondary="id", by="id", at="time", environment="id")
    def assign_owners(self, *, primary: str, secondary: str, by: str,
                      at: datetime | None = None, environment: str = DEFAULT_ENV) -> None:
        """Policy §7: the gate's owners; incidents escalate to the secondary."""
        moment = self._clock.now(at)
        self._change_gate(environment, lambda g: g.assign_owners(primary, secondary, by, moment))

    def gate_status(self, environment: str = DEFAULT_ENV, *, at: datetime | None = None,
                    as_of: datetime | None = None) -> rs.GateStatus:
        """Mode, version, each check's state with its evidence, constraints and graces;
        with ``as_of``, as the gate stood then (evidence age judged at that time)."""
        moment = self._clock.now(as_of if as_of is not None else at, command=False)
        gate = self._gate(environment)
        if as_of is not None:
            gate = as_of_state(self._store.app, gate.id, moment) or GoLiveGate(
                environment=environment, primary_owner=gate.primary_owner,
                secondary_owner=gate.secondary_owner)
        checks = check_states(gate.evidence, gate.constraints, moment, None,
                              self._policies.policy_at(moment))
        for c in checks:
            if c["evidence"] is not None:
                c["evidence"] = {**c["evidence"], "at": iso_utc(c["evidence"]["at"])}
        return rs.GateStatus.of({
            "environment": environment, "mode": gate.mode, "version": gate.active_version,
            "owners": {"primary": gate.primary_owner, "secondary": gate.secondary_owner},
            "checks": checks,
            "constraints": [{"kind": k, "reason": v["reason"],
                             "declared_at": iso_utc(v["declared_at"])}
                            for k, v in sorted(gate.constraints.items())],
            "grace": [{"kind": k, "due_at": iso_utc(v["due_at"]), "waived": v["waived"],
                       "status": v["status"]} for k, v in sorted(gate.grace.items())],
        })

    def settle_gate_deadlines(self, now: datetime) -> int:
        """Grace deadlines of lifted constraints due by ``now``: breach or met, once each."""
        self._views.catch_up()
        lifted = audit_queries.actions_named(
            self._store.sql, topics.action(topics.GO_LIVE_GATE_CONSTRAINT_LIFTED))
        settled = 0
        for row in lifted:
            details = orjson.loads(row["details"])
            if datetime.fromisoformat(details["due_at"]["_data_"]) <= now:
                settled += self._settle(details["environment"], details["kind"], now)
        return settled

    def _settle(self, environment: str, kind: str, now: datetime) -> bool:
        def settle(gate: GoLiveGate) -> bool:
            return gate.settle_grace(kind, now)

        result: bool = self._change_gate(environment, settle)
        return result
