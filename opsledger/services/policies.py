"""The policy ledger as a service: the policy in force at any business time, and its
adoption as an audited event (policy §7)."""

from __future__ import annotations

from datetime import datetime

from opsledger.domain.bounds import bounded
from opsledger.domain.ledger import BEGINNING, PolicyLedger, policy_ledger_uuid
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.time import utc
from opsledger.services.clock import BusinessClock
from opsledger.store.events import EventStore

__all__ = ["Policies"]


class Policies:
    """Reads and adopts the operations policy."""

    def __init__(self, store: EventStore, clock: BusinessClock) -> None:
        self._store = store
        self._clock = clock

    def ledger(self) -> PolicyLedger | None:
        """The policy ledger, or ``None`` before any policy was adopted."""
        return self._store.get(policy_ledger_uuid(), PolicyLedger)

    def adopt_passed(self, policy: OperationsPolicy) -> None:
        """The policy a host passes when opening the store: adopted from the beginning on a
        new store, from now when it differs from the policy in force."""
        ledger = self.ledger()
        if ledger is None:
            self.adopt_policy(policy, effective_at=BEGINNING, by="host", reason="initial policy")
        elif ledger.policy_at(self._clock.now()) != policy:
            self.adopt_policy(policy, by="host", reason="policy passed when opening the store")

    @bounded(by="id", reason="text", at="time")
    def adopt_policy(
        self,
        policy: OperationsPolicy,
        *,
        by: str,
        reason: str,
        effective_at: datetime | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Adopt ``policy`` from ``effective_at`` (default: now). False if already in force."""
        now = self._clock.now(at)
        effective = utc(effective_at, "effective_at") if effective_at is not None else now

        def adopt(ledger: PolicyLedger) -> bool:
            return ledger.adopt(policy, effective_at=effective, by=by, reason=reason, at=now)

        return self._store.update(lambda: self.ledger() or PolicyLedger(), adopt)

    def policy_at(self, at: datetime | None = None) -> OperationsPolicy:
        """The policy in force at business time ``at`` (default: now)."""
        ledger = self.ledger()
        moment = self._clock.now(at, command=False)
        return ledger.policy_at(moment) if ledger else OperationsPolicy()
