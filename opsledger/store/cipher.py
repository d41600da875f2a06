"""The mapper that stores each tenant's events encrypted with that tenant's key
(:mod:`opsledger.store.keys`), and reads a forgotten tenant's events back as :class:`Forgotten`.

The tenant of an event is its ``tenant_id`` field; the events of a tenant's own stream that
do not repeat it (``Tenant.RepositoryAdded`` …) take it from the stream, which this mapper
remembers from the stream's first event (every stream is read, or created, from its start
before it is appended to). Erasure records stay plain: they are the proof of forgetting.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Compressor, Mapper, StoredEvent, Transcoder

from opsledger.domain import topics
from opsledger.domain.errors import TenantForgotten
from opsledger.store.keys import MAGIC, KeyRing

__all__ = ["Forgotten", "TenantCipherMapper"]

_PLAIN = (topics.ERASURE_PREFIX,)
_MUST_HAVE_TENANT = (topics.TENANT_PREFIX, topics.PUBLISH_BATCH_PREFIX, topics.VISIBILITY_PREFIX,
                     topics.REFUSED_COMMAND_PREFIX)
_REMEMBER = (topics.TENANT_PREFIX, topics.INCIDENT_PREFIX, topics.ALERT_PREFIX)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Forgotten(DomainEvent):
    """A stored event of a forgotten tenant: position and topic are known, content is not."""

    tenant_id: str
    forgotten_topic: str

    def mutate(self, aggregate: Any) -> Any:
        """A forgotten tenant's aggregates cannot be rebuilt."""
        raise TenantForgotten(self.tenant_id)


class TenantCipherMapper(Mapper[UUID]):
    """Encrypts the state of every tenant-owned event with the tenant's key (after the
    ``compressor``, if any, compressed it: :mod:`opsledger.store.compress`)."""

    def __init__(self, transcoder: Transcoder, keyring: KeyRing,
                 compressor: Compressor | None = None) -> None:
        super().__init__(transcoder, compressor=compressor)
        self.keyring = keyring
        self._stream_tenant: dict[UUID | str, str] = {}

    def _tenant_of(self, topic: str, originator_id: UUID | str, state: dict[str, Any],
                   strict: bool = True) -> str | None:
        if topic.startswith(_PLAIN):
            return None
        tenant = state.get("tenant_id") or self._stream_tenant.get(originator_id)
        if tenant is None and strict and topic.startswith(_MUST_HAVE_TENANT):
            raise RuntimeError(f"cannot tell the tenant of {topic} on stream {originator_id}: "
                               "its stream was not read from the start in this process")
        if tenant is not None and topic.startswith(_REMEMBER):
            self._stream_tenant[originator_id] = str(tenant)
        return None if tenant is None else str(tenant)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """Compressed and sealed with the tenant's key; plain JSON, for any tool to read,
        for the policy ledger, the gate, global incidents and erasure records."""
        stored = super().to_stored_event(domain_event)
        tenant = self._tenant_of(stored.topic, stored.originator_id, vars(domain_event))
        if tenant is None:
            if self.compressor is None:
                return stored
            return StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                               self.compressor.decompress(stored.state))  # (few events)
        return StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                           self.keyring.seal(tenant, stored.state))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """Open a sealed state; a forgotten tenant's event comes back as ``Forgotten``."""
        state = stored_event.state
        if not state.startswith(MAGIC):
            return super().to_domain_event(stored_event)
        plain = self.keyring.open(state)
        if plain is None:
            forgotten = object.__new__(Forgotten)
            object.__setattr__(forgotten, "__dict__", {
                "originator_id": stored_event.originator_id,
                "originator_version": stored_event.originator_version,
                "timestamp": _EPOCH, "forgotten_topic": stored_event.topic,
                "tenant_id": self.keyring.forgotten_tenant(state) or "?"})
            return forgotten
        event = super().to_domain_event(StoredEvent(
            stored_event.originator_id, stored_event.originator_version, stored_event.topic,
            plain))
        self._tenant_of(stored_event.topic, stored_event.originator_id, vars(event), False)
        return event
