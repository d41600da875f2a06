"""Compressed event states: each event's JSON state is compressed (zstd with a dictionary)
before it is sealed with its tenant's key (:mod:`opsledger.store.keys`) and linked into the
hash chain (:mod:`opsledger.store.chain`) — compress, then seal, then hash what is stored.

Only the states sealed with a tenant's key are compressed; the few events that belong to
no tenant (the policy ledger, the gate, global incidents, erasure records — the proof of
forgetting) stay plain JSON that any tool can read.

A compressed state is a standard zstd frame: it starts with zstd's magic number
``28 B5 2F FD``, which plain JSON (``{``) and a sealed state (``\\x00OLE1``) never do, and its
frame header names the dictionary it was compressed with (zstd's dictionary id). A state
without the magic is read as it is, so events stored before compression existed (or by a
writer that does not compress) keep decoding.

The dictionaries live in the store itself, table ``opsledger_dictionaries`` (``dict_id``,
``dictionary``), written when the schema is created or upgraded and never changed or
deleted: a later dictionary gets a new id, and every event names the one it needs. The
dictionary written today is the one bundled with opsledger (:mod:`opsledger.store.
_dictionary`): trained on simulated events with made-up tenant and repository names, so it
holds no tenant's data — a dictionary trained on a store's own events would keep fragments
of them in clear, beyond the reach of the tenant's key when the tenant is forgotten.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import zstandard
from eventsourcing.persistence import Compressor

from opsledger.store._dictionary import DICTIONARY, DICTIONARY_ID

__all__ = ["DICTIONARY_TABLE", "MAGIC", "MAX_STATE", "StateCodec", "create_table_statements"]

DICTIONARY_TABLE = "opsledger_dictionaries"
MAGIC = b"\x28\xb5\x2f\xfd"
#: The largest state a frame may claim to hold (an event's state is a few KB at most).
MAX_STATE = 16 * 1024 * 1024
_LEVEL = 3
#: Reads the dictionaries stored in the store: ``{dict_id: dictionary}``.
DictionaryLoader = Callable[[], dict[int, bytes]]


def create_table_statements(table: str, *, postgres: bool) -> list[tuple[str, tuple[Any, ...]]]:
    """DDL of the dictionary table and the insert of the bundled dictionary (``?`` marks)."""
    key, blob = ("BIGINT", "BYTEA") if postgres else ("INTEGER", "BLOB")
    return [(f"CREATE TABLE IF NOT EXISTS {table} (dict_id {key} PRIMARY KEY, "
             f"dictionary {blob} NOT NULL)", ()),
            (f"INSERT INTO {table} (dict_id, dictionary) VALUES (?, ?) "
             "ON CONFLICT (dict_id) DO NOTHING", (DICTIONARY_ID, DICTIONARY))]


class StateCodec(Compressor):
    """zstd with the store's dictionaries, as the library's ``Mapper`` compressor hook
    (the mapper compresses after encoding, and decompresses after opening). Thread-safe:
    zstd contexts are per thread."""

    def __init__(self, loader: DictionaryLoader | None = None, *, compress: bool = True) -> None:
        self._loader = loader
        self._compress = compress
        self._dictionaries: dict[int, zstandard.ZstdCompressionDict] = {
            DICTIONARY_ID: zstandard.ZstdCompressionDict(DICTIONARY)}
        self._local = threading.local()
        self._lock = threading.Lock()

    def attach(self, loader: DictionaryLoader) -> None:
        """Where to read dictionaries this process does not hold yet."""
        self._loader = loader

    def compress(self, data: bytes) -> bytes:
        """A zstd frame of ``data`` with the current dictionary (``data`` itself when this
        codec does not compress)."""
        if not self._compress:
            return data
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = zstandard.ZstdCompressor(
                level=_LEVEL, dict_data=self._dictionaries[DICTIONARY_ID],
                write_checksum=False, write_content_size=True, write_dict_id=True)
        frame: bytes = compressor.compress(data)
        return frame

    def decompress(self, data: bytes) -> bytes:
        """The state ``data`` holds: decompressed if it is a zstd frame, else as it is."""
        if not data.startswith(MAGIC):
            return data
        data = bytes(data)
        params = zstandard.get_frame_parameters(data)
        if not 0 <= params.content_size <= MAX_STATE:
            raise ValueError(f"a compressed event state claims {params.content_size} bytes "
                             f"(at most {MAX_STATE}, and its size must be written)")
        plain: bytes = self._decompressor(params.dict_id).decompress(data)
        return plain

    def _decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        cache: dict[int, zstandard.ZstdDecompressor] | None = getattr(
            self._local, "decompressors", None)
        if cache is None:
            cache = self._local.decompressors = {}
        found = cache.get(dict_id)
        if found is None:
            found = cache[dict_id] = zstandard.ZstdDecompressor(
                dict_data=self._dictionary(dict_id))
        return found

    def _dictionary(self, dict_id: int) -> zstandard.ZstdCompressionDict:
        found = self._dictionaries.get(dict_id)
        if found is None and dict_id == 0:  # a frame written without a dictionary
            return zstandard.ZstdCompressionDict(b"")
        if found is None and self._loader is not None:
            loaded = self._loader()
            with self._lock:
                for key, value in loaded.items():
                    self._dictionaries.setdefault(key, zstandard.ZstdCompressionDict(value))
            found = self._dictionaries.get(dict_id)
        if found is None:
            raise LookupError(f"no compression dictionary {dict_id} in the store (table "
                              f"{DICTIONARY_TABLE}): its events cannot be read")
        return found
