"""The alert process's own records, packed: each rule fact (``alert_facts.fact``) and each
checkpoint (``alert_checkpoints.state``) is stored as a zstd frame of its JSON, compressed
with a dictionary bundled with opsledger (:mod:`opsledger.services._alert_dictionary`).

These records hold a tenant's data in clear beside its sealed events, as they always have:
they are the process's working set, deleted when the tenant is forgotten
(:func:`opsledger.services.alerting.forget_tenant`). The dictionary was trained on simulated
records with made-up names, so it holds no tenant's data, and it is never changed: a frame
names its dictionary's id, and a later dictionary would get a new one.

A record stored before packing existed is plain JSON (text on SQLite; on PostgreSQL the
column becomes ``BYTEA`` holding the same UTF-8 bytes, see :func:`widen_columns`), and
:func:`unpack` reads it as it is: a zstd frame starts with ``28 B5 2F FD``, JSON never does.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import zstandard

from opsledger.services._alert_dictionary import DICTIONARY, DICTIONARY_ID

__all__ = ["MAX_RECORD", "pack", "unpack", "widen_columns"]

_MAGIC = b"\x28\xb5\x2f\xfd"
#: The largest record a frame may claim to hold (a checkpoint is a few hundred KB at most).
MAX_RECORD = 64 * 1024 * 1024
_DICTIONARY = zstandard.ZstdCompressionDict(DICTIONARY)
_local = threading.local()


def pack(value: Any) -> bytes:
    """``value`` as JSON, compressed (a zstd frame naming the bundled dictionary)."""
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(
            level=3, dict_data=_DICTIONARY, write_checksum=False, write_content_size=True,
            write_dict_id=True)
    frame: bytes = compressor.compress(orjson.dumps(value))
    return frame


def unpack(stored: str | bytes | memoryview) -> Any:
    """The value a packed record holds; a record stored before packing (plain JSON, as
    text or bytes) as it is."""
    if isinstance(stored, str):
        return orjson.loads(stored)
    data = bytes(stored)
    if not data.startswith(_MAGIC):
        return orjson.loads(data)
    params = zstandard.get_frame_parameters(data)
    if params.dict_id != DICTIONARY_ID or not 0 <= params.content_size <= MAX_RECORD:
        raise ValueError(f"an alert record names dictionary {params.dict_id} and claims "
                         f"{params.content_size} bytes (expected dictionary {DICTIONARY_ID} "
                         f"and at most {MAX_RECORD} bytes, its size written)")
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor(dict_data=_DICTIONARY)
    return orjson.loads(decompressor.decompress(data))


def widen_columns(sql: Any, cursor: Any, columns: dict[str, str]) -> None:
    """On PostgreSQL, turn each ``{table: column}`` still ``TEXT`` (a store created before
    records were packed) into ``BYTEA`` holding the same UTF-8 bytes; checked again under a
    lock, so concurrent openers convert once. SQLite keeps any value in any column."""
    if not sql.is_postgres:
        return
    for table, column in columns.items():
        for locked in (False, True):
            if locked:
                sql.lock_table(cursor, table)
            sql.execute(cursor, "SELECT data_type FROM information_schema.columns WHERE "
                                "table_schema = ? AND table_name = ? AND column_name = ?",
                        (sql.schema, table, column))
            row = cursor.fetchone()
            if row is None or row["data_type"] != "text":
                break
            if locked:
                sql.execute(cursor, f"ALTER TABLE {sql.table(table)} ALTER COLUMN {column} "
                                    f"TYPE BYTEA USING convert_to({column}, 'UTF8')")
