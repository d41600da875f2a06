"""A fast JSON transcoder (orjson) that round-trips the types opsledger events carry.

Event state is JSON-native except datetimes, which are written as
``{"_type_": "datetime_iso", "_data_": "..."}`` — the same shape as eventsourcing's own
``DatetimeAsISO`` transcoding — so stored events stay readable by the library's default
transcoder. Any ``datetime`` subclass (freezegun's ``FakeDatetime``) is accepted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

__all__ = ["OrjsonTranscoder"]

_DT = "datetime_iso"
_UUID = "uuid_hex"


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {"_type_": _DT, "_data_": obj.isoformat()}
    if isinstance(obj, UUID):
        return {"_type_": _UUID, "_data_": obj.hex}
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"opsledger cannot store a value of type {type(obj).__name__}: {obj!r}")


def _revive(value: Any) -> Any:
    """Turn tagged values back into objects, in place (the decoded JSON is ours)."""
    if isinstance(value, dict):
        kind = value.get("_type_")
        if kind == _DT:
            return datetime.fromisoformat(value["_data_"])
        if kind == _UUID:
            return UUID(value["_data_"])
        for k, v in value.items():
            if isinstance(v, dict | list):
                value[k] = _revive(v)
        return value
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, dict | list):
                value[i] = _revive(v)
    return value


class OrjsonTranscoder(Transcoder):
    """orjson encode/decode with datetime (and UUID) revival."""

    _options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS

    def encode(self, obj: Any) -> bytes:
        """Serialise event state to JSON bytes."""
        return orjson.dumps(obj, default=_default, option=self._options)

    def decode(self, data: bytes) -> Any:
        """Deserialise JSON bytes, reviving tagged values."""
        state = orjson.loads(data)
        for key, value in state.items():
            if isinstance(value, dict | list):
                state[key] = _revive(value)
        return state
