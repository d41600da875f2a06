"""The Tenant aggregate: scope (repositories), governance, SaaS mode and boundary violations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.errors import RepositoryOutOfScope, RetentionPolicyMissing
from opsledger.domain.governance import Governance
from opsledger.domain.ids import NAMESPACE

__all__ = ["Mode", "Tenant", "tenant_uuid"]


class Mode(StrEnum):
    """Whether the policy applies (``saas``) or local operation is authoritative."""

    LOCAL_ONLY = "local_only"
    SAAS = "saas"


@lru_cache(maxsize=4096)
def tenant_uuid(tenant_id: str) -> UUID:
    """The aggregate id of a tenant: one stream per tenant id."""
    return uuid5(NAMESPACE, f"tenant/{tenant_id}")


class Tenant(Aggregate):
    """A customer of the SaaS ingestion endpoint and the repositories in its scope."""

    TOPIC = topics.TENANT_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.TENANT_CREATED

    @staticmethod
    def create_id(tenant_id: str) -> UUID:
        """One stream per tenant id, so a racing second registration conflicts."""
        return tenant_uuid(tenant_id)

    @event("Registered", topic=topics.TENANT_REGISTERED)
    def __init__(
        self,
        tenant_id: str,
        name: str,
        repositories: list[str],
        governance: dict[str, Any] | None,
        mode: str,
        by: str,
        occurred_at: datetime,
        observed_in_import: bool,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.repositories: set[str] = set(repositories)
        self.governance_data = governance
        self.mode = Mode(mode)
        self.registered_at = occurred_at
        self.observed_in_import = observed_in_import
        self.token_rotation_owner: str | None = None
        self.boundary_violations: list[dict[str, Any]] = []

    @property
    def governance(self) -> Governance | None:
        """The retention/privacy policy, or None while it is missing."""
        if self.governance_data is None:
            return None
        return Governance.model_validate(self.governance_data)

    def check_scope(self, repository_id: str) -> None:
        """Raise unless the tenant may receive a record for ``repository_id`` (policy §5)."""
        if self.governance_data is None:
            raise RetentionPolicyMissing(self.tenant_id)
        if repository_id not in self.repositories:
            raise RepositoryOutOfScope(self.tenant_id, repository_id)

    def add_repository(self, repository_id: str, by: str, at: datetime) -> bool:
        """Bring a repository into scope; False (and no event) if it already is."""
        if repository_id in self.repositories:
            return False
        self._add_repository(repository_id=repository_id, by=by, occurred_at=at)
        return True

    @event("RepositoryAdded", topic=topics.TENANT_REPOSITORY_ADDED)
    def _add_repository(self, repository_id: str, by: str, occurred_at: datetime) -> None:
        self.repositories.add(repository_id)

    def remove_repository(self, repository_id: str, by: str, at: datetime) -> None:
        """Take a repository out of scope; its later records are refused."""
        if repository_id not in self.repositories:
            raise RepositoryOutOfScope(self.tenant_id, repository_id)
        self._remove_repository(repository_id=repository_id, by=by, occurred_at=at)

    @event("RepositoryRemoved", topic=topics.TENANT_REPOSITORY_REMOVED)
    def _remove_repository(self, repository_id: str, by: str, occurred_at: datetime) -> None:
        self.repositories.discard(repository_id)

    def set_governance(self, governance: Governance, by: str, at: datetime) -> None:
        """Set (or change) the retention/privacy policy."""
        self._set_governance(governance=governance.model_dump(), by=by, occurred_at=at)

    @event("GovernanceSet", topic=topics.TENANT_GOVERNANCE_SET)
    def _set_governance(self, governance: dict[str, Any], by: str, occurred_at: datetime) -> None:
        self.governance_data = governance

    def change_mode(self, mode: Mode, reason: str, by: str, at: datetime) -> bool:
        """Switch between local-only and SaaS; False (no event) if already in ``mode``."""
        if self.mode is mode:
            return False
        self._change_mode(mode=mode.value, reason=reason, by=by, occurred_at=at)
        return True

    @event("ModeChanged", topic=topics.TENANT_MODE_CHANGED)
    def _change_mode(self, mode: str, reason: str, by: str, occurred_at: datetime) -> None:
        self.mode = Mode(mode)

    def assign_token_rotation_owner(self, owner: str, by: str, at: datetime) -> None:
        """Record who owns token rotation for this tenant (policy §6)."""
        self._assign_token_rotation_owner(owner=owner, by=by, occurred_at=at)

    @event("TokenRotationOwnerAssigned", topic=topics.TENANT_TOKEN_ROTATION_OWNER_ASSIGNED)
    def _assign_token_rotation_owner(self, owner: str, by: str, occurred_at: datetime) -> None:
        self.token_rotation_owner = owner

    def confirm_boundary_violation(
        self, violation_id: str, evidence: str, repository_id: str | None, by: str, at: datetime
    ) -> None:
        """Record a confirmed tenant boundary violation (policy §4 critical)."""
        self._confirm_boundary_violation(
            tenant_id=self.tenant_id,
            violation_id=violation_id,
            evidence=evidence,
            repository_id=repository_id,
            by=by,
            occurred_at=at,
        )

    @event("BoundaryViolationConfirmed", topic=topics.TENANT_BOUNDARY_VIOLATION_CONFIRMED)
    def _confirm_boundary_violation(
        self,
        tenant_id: str,
        violation_id: str,
        evidence: str,
        repository_id: str | None,
        by: str,
        occurred_at: datetime,
    ) -> None:
        self.boundary_violations.append(
            {"violation_id": violation_id, "evidence": evidence, "repository_id": repository_id,
             "by": by, "occurred_at": occurred_at}
        )

    def record_retention(
        self,
        audit_before: datetime,
        metrics_before: datetime,
        removed: dict[str, int],
        by: str,
        at: datetime,
    ) -> None:
        """Record that rows older than the retention horizons left the views (policy §5)."""
        self._record_retention(
            tenant_id=self.tenant_id, audit_before=audit_before, metrics_before=metrics_before,
            removed=dict(removed), by=by, occurred_at=at,
        )

    @event("RetentionApplied", topic=topics.TENANT_RETENTION_APPLIED)
    def _record_retention(
        self,
        tenant_id: str,
        audit_before: datetime,
        metrics_before: datetime,
        removed: dict[str, int],
        by: str,
        occurred_at: datetime,
    ) -> None:
        self.audit_before = audit_before
        self.metrics_before = metrics_before
