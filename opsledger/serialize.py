"""One serializer for every result opsledger prints or serves: the CLI's ``--json`` and its
streams today, an HTTP API later. No CLI imports here.

* :func:`to_jsonable` turns a result (a typed result of :mod:`opsledger.results` in the shape
  its ``to_dict`` documents, any other frozen dataclass, pydantic model, dict, list, tuple,
  set, Enum, UUID, Decimal, datetime, ...) into plain JSON values;
* :func:`dumps` writes those values as bytes, keys sorted, indented by 2;
* :func:`to_wire` is :func:`to_jsonable` for the HTTP API: a typed result by its attribute
  names (``tenant_id``, not ``to_dict``'s ``tenant``), so a body is exactly what the OpenAPI
  schema generated from that same dataclass describes;
* :func:`export_chunks` writes a compliance export's rows as CSV, a JSON array or NDJSON,
  a chunk at a time (the CLI's ``audit export`` and the HTTP API's export alike);
* :func:`fmt_time` is the one time format of every output, JSON and text alike: RFC 3339 in
  UTC with ``Z`` and exactly millisecond precision (Pumuki's own), e.g.
  ``2026-11-03T07:00:00.123Z``. A time finer than a millisecond is cut, never rounded up.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

import orjson

from opsledger.domain.time import fmt_time

__all__ = ["EXPORT_COLUMNS", "dumps", "dumps_array_chunks", "dumps_wire", "export_chunks",
           "fmt_time", "to_jsonable", "to_wire"]

#: The columns of a compliance export (CSV header; NDJSON and JSON keys).
EXPORT_COLUMNS = ("at", "kind", "tenant", "repository", "actor", "subject", "outcome",
                  "details")

_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)


def to_jsonable(obj: Any) -> Any:
    """``obj`` as JSON values (dict with str keys, list, str, int, float, bool, None); every
    datetime through :func:`fmt_time`."""
    if obj is None or (isinstance(obj, bool | int | float | str) and not isinstance(obj, Enum)):
        return obj
    if isinstance(obj, datetime):
        return fmt_time(obj)
    if isinstance(obj, Mapping):
        return {_key(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        items = [to_jsonable(v) for v in obj]
        return sorted(items, key=orjson.dumps)  # stable whatever the hash seed
    return _scalar_or_structure(obj)


def to_wire(obj: Any) -> Any:
    """``obj`` as JSON values, typed results (and every other dataclass) by attribute name:
    the HTTP API's bodies, which its OpenAPI schema describes field for field."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_wire(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {_key(k): to_wire(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_wire(v) for v in obj]
    return to_jsonable(obj)


def dumps_wire(obj: Any) -> bytes:
    """``obj`` as compact JSON bytes by :func:`to_wire` (keys sorted)."""
    return orjson.dumps(to_wire(obj), option=orjson.OPT_SORT_KEYS)


def _as_is(moment: datetime) -> datetime:
    return moment


def _scalar_or_structure(obj: Any) -> Any:
    results = sys.modules.get("opsledger.results")  # loaded if ``obj`` can be a result
    if results is not None and isinstance(obj, results.Result):  # its documented shape
        return to_jsonable(obj.to_dict(times=_as_is))
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):  # pydantic: its python values, then this module's rules
        return to_jsonable(obj.model_dump(mode="python"))
    if isinstance(obj, Decimal):  # PostgreSQL's SUM of integers: an integer, as on SQLite
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, UUID | PurePath):
        return str(obj)
    if isinstance(obj, date | time):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"cannot serialize {type(obj).__name__} as JSON")


def _key(key: Any) -> str:
    value = to_jsonable(key)
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _default(obj: Any) -> Any:
    """orjson's fallback: what it does not write natively (or is told to pass through)."""
    value = to_jsonable(obj)
    if value is obj:  # pragma: no cover - to_jsonable never returns an unsupported object
        raise TypeError(type(obj).__name__)
    return value


def dumps(obj: Any) -> bytes:
    """``obj`` as JSON bytes: keys sorted, indent 2, times by :func:`fmt_time`, no newline
    at the end. Equal to ``orjson.dumps(to_jsonable(obj))`` with those options, faster."""
    try:
        return orjson.dumps(obj, default=_default, option=_OPTIONS)
    except TypeError:  # e.g. a dict keyed by non-strings: the slow, general path
        return orjson.dumps(to_jsonable(obj), option=_OPTIONS)


def dumps_array_chunks(items: Iterable[Any]) -> Iterator[bytes]:
    """The bytes of :func:`dumps` of ``list(items)``, one item at a time: a JSON array
    written as its items are read (memory flat in the number of items)."""
    first = True
    for item in items:
        body = dumps(item).replace(b"\n", b"\n  ")
        yield (b"[\n  " if first else b",\n  ") + body
        first = False
    yield b"[]" if first else b"\n]"


def export_chunks(rows: Iterable[Mapping[str, Any]], fmt: str) -> Iterator[bytes]:
    """A compliance export's bytes a few rows at a time (an export of any length in flat
    memory): ``csv`` (details as JSON text), ``json`` (a list) or ``ndjson`` (one object a
    line)."""
    if fmt == "json":
        yield from dumps_array_chunks(rows)
        return
    if fmt == "ndjson":
        for r in rows:
            yield orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n"
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "details": orjson.dumps(r["details"],
                                                      option=orjson.OPT_SORT_KEYS).decode()})
        if text.tell() > 65536:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()
