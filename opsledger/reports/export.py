"""Compliance export (policy §5 audit trail) of one tenant, as the CLI writes it: the rows
come from the facade (:meth:`~opsledger.Operations.export_stream`, privacy applied), the
bytes from the one serializer (:func:`~opsledger.serialize.export_chunks`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.serialize import EXPORT_COLUMNS, export_chunks, fmt_time

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["COLUMNS", "export_rows", "iter_export", "render", "render_chunks"]

COLUMNS = EXPORT_COLUMNS


def export_rows(ops: Operations, tenant_id: str, since: datetime | None,
                until: datetime | None) -> list[dict[str, Any]]:
    """Rows in ``[since, until)`` for one tenant, privacy applied, in time order."""
    return list(iter_export(ops, tenant_id, since, until))


def iter_export(ops: Operations, tenant_id: str, since: datetime | None,
                until: datetime | None) -> Iterator[dict[str, Any]]:
    """:func:`export_rows` produced as they are read (memory flat in the number of rows);
    the tenant and the scope are checked before the first row."""
    return (row.to_dict(fmt_time) for row in ops.export_stream(tenant_id, since, until))


def render(rows: Iterable[dict[str, Any]], fmt: str) -> bytes:
    """csv (details as JSON text), json (a list) or ndjson (one object a line)."""
    return b"".join(export_chunks(rows, fmt))


def render_chunks(rows: Iterable[dict[str, Any]], fmt: str) -> Iterator[bytes]:
    """:func:`render`'s bytes a few rows at a time (an export of any length in flat memory)."""
    return export_chunks(rows, fmt)
