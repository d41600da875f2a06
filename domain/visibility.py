"""Downstream visibility of an accepted publish, for the freshness objective (policy §2).

One stream per (tenant, repository, key, payload hash). ``Observed`` records when the
payload became visible downstream (the first observation counts; repeats change
nothing). A stream begins with ``Tracked`` when a deadline finds it first, or with ``Seen``
— its creation and its first observation in one event, the usual case — when a snapshot does
(a store written before ``Seen`` existed holds ``Tracked`` then ``Observed`` there: the views
read both the same way). ``FreshnessMissed`` is the deadline fact: the publish accepted at
``accepted_at`` was not visible by ``due_at`` — recorded with ``occurred_at = due_at``
whenever it is detected, so living through it and importing it afterwards agree. A
later observation does not make a stale publish fresh; it is recorded as visible late.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.ids import NAMESPACE

__all__ = ["Visibility", "visibility_uuid"]


def visibility_uuid(tenant_id: str, repository_id: str, key: str, payload_hash: str) -> UUID:
    """The stream of one accepted payload's downstream visibility."""
    return uuid5(NAMESPACE, f"visibility/{tenant_id}/{repository_id}/{key}/{payload_hash}")


class Visibility(Aggregate):
    """When one accepted payload became visible downstream, and whether it missed 15 min."""

    TOPIC = topics.VISIBILITY_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.VISIBILITY_CREATED

    @staticmethod
    def create_id(
        tenant_id: str, repository_id: str, idempotency_key: str, payload_hash: str
    ) -> UUID:
        """Deterministic: a racing second writer conflicts in the store."""
        return visibility_uuid(tenant_id, repository_id, idempotency_key, payload_hash)

    class Seen(Aggregate.Created):
        """Created by its first observation: the stream's ids and when it became visible
        (``occurred_at``, as in ``Observed``)."""

        TOPIC = topics.VISIBILITY_SEEN
        tenant_id: str
        repository_id: str
        idempotency_key: str
        payload_hash: str
        occurred_at: datetime

        def apply(self, aggregate: Aggregate) -> None:
            """The observation it carries."""
            aggregate.visible_at = self.occurred_at  # type: ignore[attr-defined]

    @classmethod
    def seen(cls, tenant_id: str, repository_id: str, idempotency_key: str, payload_hash: str,
             visible_at: datetime) -> Visibility:
        """A stream created by its first observation (one event, ``Seen``)."""
        return cls._create(cls.Seen, tenant_id=tenant_id, repository_id=repository_id,
                           idempotency_key=idempotency_key, payload_hash=payload_hash,
                           occurred_at=visible_at)

    @event("Tracked", topic=topics.VISIBILITY_TRACKED)
    def __init__(
        self, tenant_id: str, repository_id: str, idempotency_key: str, payload_hash: str
    ) -> None:
        self.tenant_id = tenant_id
        self.repository_id = repository_id
        self.idempotency_key = idempotency_key
        self.payload_hash = payload_hash
        self.visible_at: datetime | None = None
        self.missed_due_at: datetime | None = None

    def observe(self, visible_at: datetime) -> bool:
        """Record the downstream visibility; False (no event) if already observed earlier."""
        if self.visible_at is not None and self.visible_at <= visible_at:
            return False
        self._observe(
            tenant_id=self.tenant_id, repository_id=self.repository_id,
            idempotency_key=self.idempotency_key, payload_hash=self.payload_hash,
            occurred_at=visible_at,
        )
        return True

    @event("Observed", topic=topics.VISIBILITY_OBSERVED)
    def _observe(
        self, tenant_id: str, repository_id: str, idempotency_key: str, payload_hash: str,
        occurred_at: datetime,
    ) -> None:
        self.visible_at = occurred_at

    def fresh_by(self, due_at: datetime) -> bool:
        """True if it was visible by ``due_at``."""
        return self.visible_at is not None and self.visible_at <= due_at

    def miss(self, accepted_at: datetime, due_at: datetime) -> bool:
        """Record the missed freshness deadline once; False if fresh or already recorded."""
        if self.missed_due_at is not None or self.fresh_by(due_at):
            return False
        self._miss(
            tenant_id=self.tenant_id, repository_id=self.repository_id,
            idempotency_key=self.idempotency_key, payload_hash=self.payload_hash,
            accepted_at=accepted_at, due_at=due_at, occurred_at=due_at,
        )
        return True

    @event("FreshnessMissed", topic=topics.VISIBILITY_FRESHNESS_MISSED)
    def _miss(
        self, tenant_id: str, repository_id: str, idempotency_key: str, payload_hash: str,
        accepted_at: datetime, due_at: datetime, occurred_at: datetime,
    ) -> None:
        self.missed_due_at = due_at
