"""Per-tenant keys for crypto-shredding (policy §5 privacy; issue 8).

Every event that belongs to a tenant is stored encrypted (AES-256-GCM) with that tenant's
key; forgetting the tenant deletes the key, and its events can never be read again, while
the stored bytes — and so the hash chain over them — stay exactly as they were.

Stored state of an encrypted event::

    b"\\x00OLE1" || key_id (16 bytes) || nonce (12 bytes) || AES-GCM(key, nonce, state)

where ``state`` is the event's JSON compressed (a zstd frame, :mod:`opsledger.store.compress`)
or, for events stored before compression, the JSON itself. Plain JSON always starts with
``{``, so the prefix cannot be mistaken for it. Events that belong to no tenant (the
policy ledger, the go-live gate, global incidents, erasure records) stay plain JSON.

Keys live apart from the events: beside a SQLite store in its own file ``<db>.keys``
(rollback journal, ``secure_delete``, so a deleted key leaves no bytes behind); on
PostgreSQL in the table ``opsledger_tenant_keys`` of the store's schema (rewritten with
``VACUUM FULL`` after a deletion); for ``memory://`` in memory. The key ring caches keys in
the process; a miss re-reads the store, so keys made by another process are found.

The key file is created ``0600`` (:mod:`opsledger.store.files`). Opening a store whose key file
group or others can read or write logs a warning (it is not refused: the owner may have
reasons); :func:`key_file_exposure` gives the same finding to ``opsledger doctor``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.domain.errors import KeyStoreMissing, TenantForgotten
from opsledger.domain.time import iso_utc
from opsledger.store.files import create_private, exposure
from opsledger.store.url import StoreUrl, pg_connect, quote_identifier

if TYPE_CHECKING:  # (cryptography is imported when a key is first used)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["MAGIC", "KeyRing", "KeyStoreMissing", "key_file_exposure", "key_file_path"]

log = logging.getLogger(__name__)

MAGIC = b"\x00OLE1"
_ID, _NONCE = 16, 12
_KEY_AT = len(MAGIC)  # a sealed state: MAGIC, key id, nonce, ciphertext + tag
_NONCE_AT = _KEY_AT + _ID
_SEALED_AT = _NONCE_AT + _NONCE
KEYS = "opsledger_tenant_keys"
FORGOTTEN = "opsledger_forgotten_tenants"


def key_file_path(store: StoreUrl) -> str | None:
    """The key file of a SQLite store (``<db>.keys``); None for other stores."""
    return f"{store.path}.keys" if store.kind == "sqlite" and store.path else None


def key_file_exposure(path: str | os.PathLike[str]) -> str | None:
    """A one-line warning when group or others can read or write the key file at ``path``
    (its AES keys open every tenant's events), with the fix; None when only the owner can,
    or there is no such file."""
    found = exposure(path)
    if found is None:
        return None
    return (f"the key file {os.fspath(path)} is {found}: anyone who can read it can decrypt "
            f"every tenant's events; run: chmod 600 {os.fspath(path)}")


class _Backend:
    """Where keys are kept: a SQLite file / in-memory database, or PostgreSQL."""

    def __init__(self, store: StoreUrl) -> None:
        self.store = store
        self.postgres = store.kind == "postgresql"
        self._memory: sqlite3.Connection | None = None
        if store.kind == "memory":
            self._memory = sqlite3.connect(":memory:", check_same_thread=False)
        self.mark = "%s" if self.postgres else "?"
        prefix = f"{quote_identifier(store.schema)}." if self.postgres else ""
        self.keys, self.forgotten = f"{prefix}{KEYS}", f"{prefix}{FORGOTTEN}"

    @property
    def path(self) -> str | None:
        """The key file beside a SQLite store."""
        return key_file_path(self.store)

    def _connect(self, mode: str) -> sqlite3.Connection:
        """The key file: ``rwc`` creates it (``0600``, with the schema), ``rw`` requires it."""
        if mode == "rwc" and self.path:
            create_private(self.path)
        try:
            return sqlite3.connect(f"file:{self.path}?mode={mode}", uri=True, timeout=30)
        except sqlite3.OperationalError:
            raise KeyStoreMissing(f"the key store {self.path} is missing: without it no "
                                  "tenant's events can be read; restore it") from None

    @contextmanager
    def cursor(self, create: bool = False) -> Iterator[Any]:
        """One committed transaction."""
        if self.postgres:
            with pg_connect(self.store) as conn, conn.cursor() as cur:
                yield cur
            return
        lite = self._memory or self._connect("rwc" if create else "rw")
        try:
            lite.execute("PRAGMA secure_delete = ON")
            with lite:
                yield lite.cursor()
        finally:
            if lite is not self._memory:
                lite.close()

    def create(self) -> None:
        binary = "BYTEA" if self.postgres else "BLOB"
        with self.cursor(create=True) as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.keys} (key_id {binary} PRIMARY KEY, "
                        f"tenant_id TEXT UNIQUE NOT NULL, key {binary} NOT NULL)")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.forgotten} (tenant_id TEXT PRIMARY "
                        f"KEY, key_id {binary} NOT NULL, forgotten_at TEXT NOT NULL)")

    def vacuum(self) -> None:
        """Rewrite the key store so no deleted key survives in free space."""
        if self.postgres:
            with pg_connect(self.store, autocommit=True) as conn:
                conn.execute(f"VACUUM FULL {self.keys}")
        elif self._memory is None and self.path:
            lite = sqlite3.connect(self.path, timeout=30)
            try:
                lite.execute("VACUUM")
            finally:
                lite.close()


class KeyRing:
    """Seals and opens tenant-owned event state; forgets tenants."""

    def __init__(self, store: StoreUrl) -> None:
        self._backend = _Backend(store)
        self._lock = threading.Lock()
        self._by_tenant: dict[str, tuple[bytes, AESGCM]] = {}
        self._by_id: dict[bytes, AESGCM] = {}
        self._forgotten: dict[bytes, str] = {}
        self._forgotten_tenants: set[str] = set()
        if store.kind == "memory":
            self._backend.create()
        elif self._backend.path:
            warning = key_file_exposure(self._backend.path)
            if warning:
                log.warning("%s", warning)

    def create_tables(self) -> None:
        """Create the key store (with the event store's schema)."""
        self._backend.create()

    def _reload(self) -> None:
        with self._backend.cursor() as cur:
            cur.execute(f"SELECT key_id, tenant_id, key FROM {self._backend.keys}")
            rows = cur.fetchall()
            cur.execute(f"SELECT tenant_id, key_id FROM {self._backend.forgotten}")
            forgotten = cur.fetchall()
        with self._lock:
            for key_id, tenant_id, key in rows:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM

                aead = AESGCM(bytes(key))
                self._by_tenant[tenant_id] = (bytes(key_id), aead)
                self._by_id[bytes(key_id)] = aead
            for tenant_id, key_id in forgotten:
                self._forgotten[bytes(key_id)] = tenant_id
                self._forgotten_tenants.add(tenant_id)
                self._by_tenant.pop(tenant_id, None)
                self._by_id.pop(bytes(key_id), None)

    def is_forgotten(self, tenant_id: str) -> bool:
        """True once ``tenant_id`` has been forgotten (here or by another process)."""
        if tenant_id in self._forgotten_tenants:
            return True
        if tenant_id not in self._by_tenant:
            self._reload()
        return tenant_id in self._forgotten_tenants

    def _key_for(self, tenant_id: str) -> tuple[bytes, AESGCM]:
        found = self._by_tenant.get(tenant_id)
        if found is not None:
            return found
        self._reload()
        if tenant_id in self._forgotten_tenants:
            raise TenantForgotten(tenant_id)
        if tenant_id not in self._by_tenant:
            with self._backend.cursor() as cur:
                cur.execute(f"INSERT INTO {self._backend.keys} VALUES ({self._backend.mark}, "
                            f"{self._backend.mark}, {self._backend.mark}) "
                            "ON CONFLICT (tenant_id) DO NOTHING",
                            (os.urandom(_ID), tenant_id, os.urandom(32)))  # an AES-256 key
            self._reload()
        return self._by_tenant[tenant_id]

    def seal(self, tenant_id: str, state: bytes) -> bytes:
        """Encrypt one event's state with the tenant's key."""
        key_id, aead = self._key_for(tenant_id)
        nonce = os.urandom(_NONCE)
        return MAGIC + key_id + nonce + aead.encrypt(nonce, state, None)

    def open(self, state: bytes) -> bytes | None:
        """The plain state of a stored event; ``None`` if its tenant was forgotten."""
        if not state.startswith(MAGIC):
            return state
        aead = self._by_id.get(bytes(state[_KEY_AT:_NONCE_AT]))
        if aead is None:
            return self._open_unknown(state)
        return aead.decrypt(state[_NONCE_AT:_SEALED_AT], state[_SEALED_AT:], None)

    def _open_unknown(self, state: bytes) -> bytes | None:
        """A state sealed with a key this ring does not hold (yet): reload the key store;
        ``None`` if the key was forgotten, else an error (an incomplete key store)."""
        key_id = bytes(state[_KEY_AT:_NONCE_AT])
        if key_id not in self._forgotten:
            self._reload()
            if key_id in self._by_id:
                return self.open(state)
        if key_id in self._forgotten:
            return None
        raise KeyStoreMissing(f"no key {key_id.hex()} in the key store: it is incomplete "
                              "(a key file from another store, or restored from an older "
                              "backup)")

    def forgotten_tenant(self, state: bytes) -> str | None:
        """The tenant whose forgotten key sealed ``state`` (None if not forgotten)."""
        return self._forgotten.get(bytes(state[_KEY_AT:_NONCE_AT]))

    def forget(self, tenant_id: str, at: datetime) -> bool:
        """Delete the tenant's key for good (False if it had none or was forgotten)."""
        self._reload()
        if tenant_id in self._forgotten_tenants or tenant_id not in self._by_tenant:
            return False
        key_id = self._by_tenant[tenant_id][0]
        m = self._backend.mark
        with self._backend.cursor() as cur:
            cur.execute(f"INSERT INTO {self._backend.forgotten} VALUES ({m}, {m}, {m}) "
                        "ON CONFLICT (tenant_id) DO NOTHING", (tenant_id, key_id, iso_utc(at)))
            cur.execute(f"DELETE FROM {self._backend.keys} WHERE tenant_id = {m}", (tenant_id,))
        self._backend.vacuum()
        self._reload()
        return True

    def copy_to(self, other: KeyRing) -> None:
        """Give a scratch store (verification, what-if) the same keys and forgettings."""
        self._reload()
        m = other._backend.mark
        with self._lock:
            forgotten = list(self._forgotten.items())
        with self._backend.cursor() as cur:
            cur.execute(f"SELECT key_id, tenant_id, key FROM {self._backend.keys}")
            rows = [(bytes(k), t, bytes(v)) for k, t, v in cur.fetchall()]
        with other._backend.cursor() as cur:
            for row in rows:
                cur.execute(f"INSERT INTO {other._backend.keys} VALUES ({m}, {m}, {m}) "
                            "ON CONFLICT (tenant_id) DO NOTHING", row)
            for key_id, tenant_id in forgotten:
                cur.execute(f"INSERT INTO {other._backend.forgotten} VALUES ({m}, {m}, {m}) "
                            "ON CONFLICT (tenant_id) DO NOTHING", (tenant_id, key_id, ""))
        other._reload()
