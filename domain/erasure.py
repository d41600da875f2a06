"""The record that a tenant was forgotten (crypto-shredded; policy §5 privacy).

It is stored plain — never sealed with the tenant's key — because it is the proof, for
auditors, that the tenant's history was made unreadable, by whom, when and why. It names
the tenant and nothing else of its data.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.ids import NAMESPACE

__all__ = ["Erasure", "erasure_uuid"]


def erasure_uuid(tenant_id: str) -> UUID:
    """One erasure stream per tenant, so forgetting twice records it once."""
    return uuid5(NAMESPACE, f"erasure/{tenant_id}")


class Erasure(Aggregate):
    """A tenant's erasure: its key was deleted and its views purged."""

    TOPIC = topics.ERASURE_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.ERASURE_CREATED

    @staticmethod
    def create_id(tenant_id: str, by: str, reason: str, occurred_at: datetime) -> UUID:
        """Deterministic: the tenant's erasure stream."""
        return erasure_uuid(tenant_id)

    @event("TenantForgotten", topic=topics.ERASURE_TENANT_FORGOTTEN)
    def __init__(self, tenant_id: str, by: str, reason: str, occurred_at: datetime) -> None:
        self.tenant_id = tenant_id
        self.by = by
        self.reason = reason
        self.forgotten_at = occurred_at
