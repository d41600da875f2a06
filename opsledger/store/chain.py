"""Tamper evidence: a hash chain over the stored events, in notification order.

The chain (table ``opsledger_chain``: ``notification_id`` -> ``hash``) holds one link per
stored event, written in the same transaction as the event by every write path (the
recorders in :mod:`opsledger.store.recorders`). Link ``n`` is::

    h_0 = 32 zero bytes
    h_n = SHA-256( h_prev                                   32 bytes
                 || n || originator_version                 8-byte big-endian unsigned each
                 || len(originator_id) || len(topic) || len(state)
                                                            4-byte big-endian unsigned each
                 || originator_id (UTF-8) || topic (UTF-8) || state )

where ``h_prev`` is the link of the previous stored event (ids may have gaps on
PostgreSQL: rolled-back transactions consume sequence values), ``n`` its actual
notification id, ``originator_id`` the aggregate id as 32 lowercase hex digits (as SQLite
stores it; PostgreSQL's ``uuid`` gives the same text) and ``state`` the bytes exactly as
stored — after compression and encryption, so shredding a key never breaks the chain.

Verification (:func:`verify_chain`) walks the events and the chain together in batches and
reports the first bad position: an altered column (the link no longer matches), an event
row without its link, a link without its event row (a deleted event), an edited or deleted
link. Deleting the *tail* of both tables leaves a shorter chain that holds; a signed
:class:`Checkpoint` ``(n, h_n)`` taken earlier catches that (and any rewritten history
before ``n``).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import orjson

from opsledger.domain.errors import (
    CheckpointKeyMissing,
    CheckpointSignatureInvalid,
    InvalidCheckpoint,
)

__all__ = [
    "ALGORITHM",
    "CHAIN_TABLE",
    "GENESIS",
    "HEADER",
    "ChainReport",
    "Checkpoint",
    "CheckpointKeyMissing",
    "CheckpointSignatureInvalid",
    "InvalidCheckpoint",
    "append_links",
    "create_table_statement",
    "head_statement",
    "insert_statement",
    "link",
    "link_existing",
    "next_links",
    "originator_text",
]

CHAIN_TABLE = "opsledger_chain"
GENESIS = bytes(32)
ALGORITHM = "opsledger-chain-v1:sha256/hmac-sha256"
#: n, originator_version, len(originator_id), len(topic), len(state)
HEADER = struct.Struct(">QQIII")
_sha256 = hashlib.sha256


def originator_text(originator_id: UUID | str) -> str:
    """The aggregate id as the chain hashes it: 32 hex digits for a UUID."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def link(prev: bytes, n: int, originator_id: str, version: int, topic: str,
         state: bytes) -> bytes:
    """``h_n`` from ``h_prev`` and event ``n`` as stored (see the module docstring)."""
    o = originator_id.encode()
    t = topic.encode()
    return _sha256(b"".join((prev, HEADER.pack(n, version, len(o), len(t), len(state)), o, t,
                             state))).digest()


def create_table_statement(table: str, *, postgres: bool) -> str:
    """DDL of the chain table (``table`` already schema-qualified on PostgreSQL)."""
    # On SQLite, INTEGER PRIMARY KEY (64-bit) is the rowid itself: one b-tree, not two.
    key, blob = ("BIGINT", "BYTEA") if postgres else ("INTEGER", "BLOB")
    return (f"CREATE TABLE IF NOT EXISTS {table} "
            f"(notification_id {key} PRIMARY KEY, hash {blob} NOT NULL)")


def head_statement(table: str) -> str:
    """The query of the chain's head link (one row, column ``hash``; none when empty)."""
    return f"SELECT hash FROM {table} ORDER BY notification_id DESC LIMIT 1"


def insert_statement(table: str, placeholder: str) -> str:
    """The insert of one link ``(notification_id, hash)``."""
    return (f"INSERT INTO {table} (notification_id, hash) "
            f"VALUES ({placeholder}, {placeholder})")


def next_links(head: Any, ids: Sequence[int], stored_events: Sequence[Any]
               ) -> list[tuple[int, bytes]]:
    """The links of the events just inserted with ``ids`` after the chain's ``head`` row (as
    :func:`head_statement` reads it; ``None`` for an empty chain), in notification order."""
    prev = bytes(head["hash"]) if head is not None else GENESIS
    links = []
    pairs = zip(ids, stored_events, strict=True)
    for n, event in (pairs if len(ids) == 1 else sorted(pairs, key=lambda p: p[0])):
        prev = link(prev, n, originator_text(event.originator_id), event.originator_version,
                    event.topic, bytes(event.state))
        links.append((n, prev))
    return links


def append_links(cursor: Any, table: str, placeholder: str, ids: Sequence[int],
                 stored_events: Sequence[Any]) -> None:
    """Extend the chain by the events just inserted with ``ids``, in the caller's
    transaction (which holds the writer lock, so the head read here is the head)."""
    if not stored_events:
        return
    cursor.execute(head_statement(table))
    links = next_links(cursor.fetchone(), ids, stored_events)
    if len(links) == 1:
        cursor.execute(insert_statement(table, placeholder), links[0])
    else:
        cursor.executemany(insert_statement(table, placeholder), links)


def link_existing(sql: Any, cursor: Any, batch: int = 5000) -> int:
    """Link the events stored after the chain's head — those of a store created before the
    chain existed (schema version 1) — in the caller's transaction; returns how many."""
    events, chain = sql.table(sql.events_table), sql.table(CHAIN_TABLE)
    key = "notification_id" if sql.is_postgres else "rowid"
    if sql.is_postgres:
        sql.execute(cursor, f"LOCK TABLE {events} IN EXCLUSIVE MODE")
    linked = 0
    while True:
        sql.execute(cursor, f"SELECT {key} AS n, originator_id, originator_version, topic, "
                            f"state FROM {events} WHERE {key} > COALESCE((SELECT "
                            f"MAX(notification_id) FROM {chain}), 0) ORDER BY {key} LIMIT ?",
                    (batch,))
        rows = [dict(r) for r in cursor.fetchall()]
        if not rows:
            return linked
        append_links(cursor, chain, "%s" if sql.is_postgres else "?", [r["n"] for r in rows],
                     [SimpleNamespace(**r) for r in rows])
        linked += len(rows)


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a chain verification: ``ok``, how many events were checked, the
    first bad position (a notification id) and why."""

    ok: bool
    events_checked: int
    first_bad_position: int | None = None
    reason: str | None = None
    head: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON contract: ok, events_checked, first_bad_position (+ reason)."""
        return {"ok": self.ok, "events_checked": self.events_checked,
                "first_bad_position": self.first_bad_position, "reason": self.reason}


@dataclass(frozen=True)
class Checkpoint:
    """A signed ``(n, h_n)``: proves the history up to ``n`` unchanged later on."""

    n: int
    hash: bytes
    signature: str

    @staticmethod
    def _mac(key: bytes, n: int, digest: bytes) -> str:
        message = f"{ALGORITHM}\n{n}\n{digest.hex()}\n".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    @classmethod
    def signed(cls, n: int, digest: bytes, key: bytes) -> Checkpoint:
        """Sign ``(n, h_n)`` with ``key`` (HMAC-SHA256 over a canonical text of both)."""
        if not key:
            raise CheckpointKeyMissing("an empty checkpoint key cannot sign")
        return cls(n, digest, cls._mac(key, n, digest))

    def to_json(self) -> bytes:
        """The checkpoint file: ``{"n", "hash", "signature", "algorithm"}``."""
        return orjson.dumps({"n": self.n, "hash": self.hash.hex(), "signature": self.signature,
                             "algorithm": ALGORITHM}, option=orjson.OPT_INDENT_2)

    @classmethod
    def load(cls, data: bytes | str, key: bytes) -> Checkpoint:
        """Parse a checkpoint file and check its signature with ``key``.

        Raises :class:`InvalidCheckpoint` if it is not one, and
        :class:`CheckpointSignatureInvalid` if it was not signed with ``key`` or was edited.
        """
        if not key:
            raise CheckpointKeyMissing("an empty checkpoint key cannot verify")
        try:
            doc = orjson.loads(data)
            n, digest, signature = doc["n"], bytes.fromhex(doc["hash"]), doc["signature"]
            algorithm = doc["algorithm"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidCheckpoint(f"not an opsledger checkpoint: {exc}") from None
        if algorithm != ALGORITHM:
            raise InvalidCheckpoint(f"unknown checkpoint algorithm {algorithm!r}")
        if type(n) is not int or n < 0 or len(digest) != 32 or not isinstance(signature, str):
            raise InvalidCheckpoint("checkpoint fields n/hash/signature are malformed")
        if not hmac.compare_digest(cls._mac(key, n, digest), signature):
            raise CheckpointSignatureInvalid(
                f"checkpoint (n={n}) signature does not match: wrong key or edited file")
        return cls(n, digest, signature)
