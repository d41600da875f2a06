"""Tenants as a service: registration with their scope and governance, repositories,
mode (local-only or SaaS, behind the go-live gate), owners and boundary violations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from opsledger.domain import topics
from opsledger.domain.bounds import bounded
from opsledger.domain.errors import (
    NotFound,
    TenantAlreadyRegistered,
    TenantNotReady,
    UnknownTenant,
)
from opsledger.domain.governance import Governance
from opsledger.domain.tenant import Mode, Tenant, tenant_uuid
from opsledger.domain.time import utc
from opsledger.projections import audit as audit_queries
from opsledger.services.clock import BusinessClock
from opsledger.services.views import Views
from opsledger.store.asof import as_of as tenant_as_of
from opsledger.store.events import EventStore

__all__ = ["Readiness", "TenantState", "Tenants"]

#: What stops a tenant from entering SaaS mode (empty: nothing); see
#: :meth:`opsledger.services.gate.GateState.ready_for_saas`.
Readiness = Callable[[Tenant], list[str]]


@dataclass(frozen=True)
class TenantState:
    """A tenant as it stands: scope, governance, mode, owners, violations."""

    tenant_id: str
    name: str
    repositories: tuple[str, ...]
    governance: Governance | None
    mode: str
    registered_at: datetime
    observed_in_import: bool
    token_rotation_owner: str | None
    boundary_violations: tuple[dict[str, Any], ...] = field(default=())

    @classmethod
    def of(cls, tenant: Tenant) -> TenantState:
        """Snapshot a loaded aggregate."""
        return cls(
            tenant.tenant_id, tenant.name, tuple(sorted(tenant.repositories)), tenant.governance,
            tenant.mode.value, tenant.registered_at, tenant.observed_in_import,
            tenant.token_rotation_owner, tuple(tenant.boundary_violations),
        )


class Tenants:
    """Commands and reads of tenants."""

    def __init__(self, store: EventStore, clock: BusinessClock, views: Views,
                 readiness: Readiness) -> None:
        self._store = store
        self._clock = clock
        self._views = views
        self._readiness = readiness

    def load(self, tenant_id: str) -> Tenant:
        """The tenant aggregate; :class:`UnknownTenant` if not registered."""
        tenant = self._store.get(tenant_uuid(tenant_id), Tenant)
        if tenant is None:
            raise UnknownTenant(tenant_id)
        return tenant

    def check_scope(self, tenant_id: str | None, all_tenants: bool, what: str) -> None:
        """A read's scope: one registered tenant, or every tenant (the operator's);
        :class:`NotFound` names ``what`` needs one, :class:`UnknownTenant` an unknown one."""
        if all_tenants:
            return
        if not tenant_id:
            raise NotFound(f"{what} needs a tenant, or all_tenants=True")
        self.load(tenant_id)

    @bounded(tenant_id="id", repositories="ids", by="id", name="label",
             token_rotation_owner="id", at="time")
    def register_tenant(
        self,
        tenant_id: str,
        *,
        repositories: list[str],
        governance: Governance | None,
        by: str,
        name: str | None = None,
        mode: Mode = Mode.LOCAL_ONLY,
        token_rotation_owner: str | None = None,
        at: datetime | None = None,
    ) -> TenantState:
        """Register a tenant with its repositories and retention/privacy policy (in SaaS
        mode only while the go-live gate is active and its token-rotation owner is named)."""
        now = self._clock.now(at)
        if not tenant_id.strip():
            raise UnknownTenant(tenant_id)
        tenant = Tenant(
            tenant_id=tenant_id, name=name or tenant_id, repositories=sorted(set(repositories)),
            governance=governance.model_dump() if governance else None,
            mode=Mode.LOCAL_ONLY.value, by=by, occurred_at=now, observed_in_import=False,
        )
        if token_rotation_owner:
            tenant.assign_token_rotation_owner(token_rotation_owner, by, now)
        if Mode(mode) is Mode.SAAS:
            missing = self._readiness(tenant)
            if missing:
                raise TenantNotReady(tenant_id, missing)
            tenant.change_mode(Mode.SAAS, "registered in SaaS mode", by, now)
        try:
            self._store.save(tenant)
        except IntegrityError:
            raise TenantAlreadyRegistered(tenant_id) from None
        return TenantState.of(tenant)

    def _change(self, tenant_id: str, change: Callable[[Tenant], object]) -> TenantState:
        def apply(tenant: Tenant) -> TenantState:
            change(tenant)
            return TenantState.of(tenant)

        return self._store.update(lambda: self.load(tenant_id), apply)

    @bounded(tenant_id="id", repository_id="id", by="id", at="time")
    def add_repository(
        self, tenant_id: str, repository_id: str, *, by: str, at: datetime | None = None
    ) -> TenantState:
        """Bring a repository into the tenant's scope."""
        now = self._clock.now(at)
        return self._change(tenant_id, lambda t: t.add_repository(repository_id, by, now))

    @bounded(tenant_id="id", repository_id="id", by="id", at="time")
    def remove_repository(
        self, tenant_id: str, repository_id: str, *, by: str, at: datetime | None = None
    ) -> TenantState:
        """Take a repository out of scope; its later records are refused."""
        now = self._clock.now(at)
        return self._change(tenant_id, lambda t: t.remove_repository(repository_id, by, now))

    @bounded(tenant_id="id", by="id", at="time")
    def set_governance(
        self, tenant_id: str, governance: Governance, *, by: str, at: datetime | None = None
    ) -> TenantState:
        """Set the tenant's retention/privacy policy."""
        now = self._clock.now(at)
        return self._change(tenant_id, lambda t: t.set_governance(governance, by, now))

    @bounded(tenant_id="id", reason="text", by="id", at="time")
    def set_tenant_mode(
        self, tenant_id: str, mode: Mode, *, reason: str, by: str, at: datetime | None = None
    ) -> TenantState:
        """Switch a tenant between ``local_only`` and ``saas``."""
        now = self._clock.now(at)

        def change(tenant: Tenant) -> None:
            if Mode(mode) is Mode.SAAS and (missing := self._readiness(tenant)):
                raise TenantNotReady(tenant_id, missing)
            tenant.change_mode(Mode(mode), reason, by, now)

        return self._change(tenant_id, change)

    @bounded(tenant_id="id", owner="id", by="id", at="time")
    def assign_token_rotation_owner(self, tenant_id: str, owner: str, *, by: str,
                                    at: datetime | None = None) -> TenantState:
        """Name who rotates the tenant's ingestion tokens (policy §6)."""
        now = self._clock.now(at)
        return self._change(tenant_id, lambda t: t.assign_token_rotation_owner(owner, by, now))

    @bounded(tenant_id="id", evidence="text", by="id", repository_id="id", at="time")
    def confirm_boundary_violation(
        self,
        tenant_id: str,
        *,
        evidence: str,
        by: str,
        repository_id: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """Record a confirmed tenant boundary violation; returns its id."""
        now = self._clock.now(at)

        def confirm(tenant: Tenant) -> str:
            violation_id = f"{tenant_id}/violation/{len(tenant.boundary_violations) + 1}"
            tenant.confirm_boundary_violation(violation_id, evidence, repository_id, by, now)
            return violation_id

        return self._store.update(lambda: self.load(tenant_id), confirm)

    def tenant(self, tenant_id: str, *, as_of: datetime | None = None) -> TenantState:
        """The tenant as it stands (or stood at ``as_of``); :class:`UnknownTenant` if not
        registered (then)."""
        tenant = self.load(tenant_id)
        if as_of is not None:
            then: Tenant | None = tenant_as_of(self._store.app, tenant.id, utc(as_of, "as_of"))
            if then is None:
                raise UnknownTenant(tenant_id)
            tenant = then
        return TenantState.of(tenant)

    def tenants(self) -> list[TenantState]:
        """Every registered tenant, by id."""
        self._views.catch_up()
        ids = {r["tenant_id"] for r in audit_queries.actions_named(
            self._store.sql, topics.action(topics.TENANT_REGISTERED))}
        return [self.tenant(t) for t in sorted(ids)]
