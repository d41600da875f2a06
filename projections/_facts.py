"""Stored events as the views read them: lean, without building domain objects.

Views dispatch on the stable event topics (``opsledger.PublishBatch.Started`` …) and read
the JSON state directly, which is what makes a rebuild faster than decoding every event
into objects. Times stay as the stored ISO text until a view needs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

__all__ = ["Fact", "iso", "moment"]


class Fact(NamedTuple):
    """One stored event: notification position, stream id, stable topic and raw state.

    A named tuple: immutable, and built in C (``tuple.__new__``) from each row of a
    decoded batch."""

    position: int
    stream_id: str
    topic: str
    state: dict[str, Any]


def moment(value: Any) -> datetime:
    """A stored datetime (``{"_type_": "datetime_iso", "_data_": …}``) as aware UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    text = value["_data_"] if isinstance(value, dict) else value
    return datetime.fromisoformat(text).astimezone(UTC)


def iso(value: Any) -> str:
    """A stored datetime as fixed-width UTC text (``2026-11-03T07:03:03.583000Z``)."""
    text = value.get("_data_") if type(value) is dict else None
    if type(text) is str and text[-6:] == "+00:00":  # stored UTC: no parsing needed
        if len(text) == 32:
            return text[:26] + "Z"
        if len(text) == 25:
            return text[:19] + ".000000Z"
    v = moment(value)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
        f"{v.second:02d}.{v.microsecond:06d}Z"
    )
