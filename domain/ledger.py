"""The PolicyLedger aggregate: which policy was in force when.

Adopting a policy (or tuning a threshold at the monthly review, policy §7) is an event
with an ``effective_at`` business time, so replaying March uses March's thresholds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.ids import NAMESPACE
from opsledger.domain.policy import OperationsPolicy

__all__ = ["BEGINNING", "PolicyLedger", "policy_ledger_uuid"]

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def policy_ledger_uuid() -> UUID:
    """The single ledger stream of a store."""
    return uuid5(NAMESPACE, "policy-ledger")


class PolicyLedger(Aggregate):
    """Every adopted policy with the business time from which it applies."""

    TOPIC = topics.POLICY_LEDGER_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.POLICY_LEDGER_CREATED

    @staticmethod
    def create_id() -> UUID:
        """There is one ledger per store."""
        return policy_ledger_uuid()

    @event("Opened", topic=topics.POLICY_LEDGER_OPENED)
    def __init__(self) -> None:
        self.effective: list[datetime] = []
        self.policies: list[dict[str, Any]] = []

    def adopt(
        self, policy: OperationsPolicy, effective_at: datetime, by: str, reason: str, at: datetime
    ) -> bool:
        """Adopt ``policy`` from ``effective_at``; False (no event) if it is already in force."""
        data = policy.model_dump(mode="json")
        if self.policies and self.policies[-1] == data and self.effective[-1] <= effective_at:
            return False
        self._adopt(policy=data, effective_at=effective_at, by=by, reason=reason, occurred_at=at)
        return True

    @event("Adopted", topic=topics.POLICY_LEDGER_ADOPTED)
    def _adopt(
        self,
        policy: dict[str, Any],
        effective_at: datetime,
        by: str,
        reason: str,
        occurred_at: datetime,
    ) -> None:
        index = bisect_right(self.effective, effective_at)
        self.effective.insert(index, effective_at)
        self.policies.insert(index, policy)

    def timeline(self) -> Callable[[datetime], OperationsPolicy]:
        """A fast ``policy_at`` for evaluating many facts (each policy validated once)."""
        effective = list(self.effective)
        policies = [OperationsPolicy.model_validate(p) for p in self.policies]
        default = OperationsPolicy()

        def policy_at(at: datetime) -> OperationsPolicy:
            index = bisect_right(effective, at)
            return default if index == 0 else policies[index - 1]

        return policy_at

    def policy_at(self, at: datetime) -> OperationsPolicy:
        """The policy in force at business time ``at`` (the defaults before any adoption)."""
        index = bisect_right(self.effective, at)
        if index == 0:
            return OperationsPolicy()
        return OperationsPolicy.model_validate(self.policies[index - 1])
