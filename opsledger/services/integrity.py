"""Tamper evidence as a service: the hash chain's walk and its signed checkpoints."""

from __future__ import annotations

from opsledger.store import chain
from opsledger.store.chain_verify import verify_chain
from opsledger.store.events import EventStore

__all__ = ["Integrity"]


class Integrity:
    """Verifies the chain over the stored events and signs its head."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def verify_chain(
        self, from_position: int | None = None, checkpoint: chain.Checkpoint | None = None
    ) -> chain.ChainReport:
        """Check the hash chain over the stored events (from ``from_position``, trusting
        the link before it) and, given a verified ``checkpoint``, the history up to it."""
        return verify_chain(self._store.sql, from_position=from_position,
                            checkpoint=checkpoint)

    def checkpoint(self, key: bytes) -> chain.Checkpoint:
        """The chain's head ``(n, h_n)`` signed with ``key`` (HMAC-SHA256)."""
        sql = self._store.sql
        rows = sql.fetch(f"SELECT notification_id, hash FROM {sql.table(chain.CHAIN_TABLE)} "
                         "ORDER BY notification_id DESC LIMIT 1")
        n, digest = (int(rows[0]["notification_id"]), bytes(rows[0]["hash"])) if rows else \
            (0, chain.GENESIS)
        return chain.Checkpoint.signed(n, digest, key)
