"""The audit trail of one tenant: the list of publish operations a page at a time, and the
compliance export streamed as CSV or NDJSON (``read`` scope; an operator reads every
tenant).

Pages follow the audit's own order — business time, then tenant, then operation id — and
a page's ``next_cursor`` names the last row shown (keyset pagination): rows recorded after
a page was read never shift or repeat a later page, whatever their time. The cursor is
opaque (base64url JSON with a checksum, bound to the tenant and the filters): a cursor
that was changed, or that belongs to another query, is a 422."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

import opsledger
from opsledger import AuditQuery, AuditRow
from opsledger.api.auth import TenantRead, engine_of
from opsledger.api.engine import Engine
from opsledger.api.reads import AsOf, From, Name, To, clamp, locked_stream
from opsledger.api.wire import WireJSON, reply

__all__ = ["AuditPage", "router"]

router = APIRouter(prefix="/v1", tags=["reads"])

MAX_PAGE = 1000
_Key = tuple[datetime, str, str]


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of the audit list: its rows, and the cursor of the next page (``null`` on
    the last)."""

    rows: tuple[AuditRow, ...]
    next_cursor: str | None


def _key(row: AuditRow) -> _Key:
    return row.occurred_at, row.tenant_id, row.operation_id


def _digest(payload: bytes) -> str:
    return hashlib.sha256(b"opsledger-audit-cursor\n" + payload).hexdigest()[:32]


def _scope(query: AuditQuery) -> str:
    """What a cursor is bound to: the tenant and every filter of the query."""
    return _digest(orjson.dumps([query.tenant_id, query.repository_id, query.outcome,
                                 query.error_code, query.idempotency_key,
                                 query.since.isoformat() if query.since else None,
                                 query.until.isoformat() if query.until else None]))[:16]


def encode_cursor(key: _Key, query: AuditQuery) -> str:
    """The opaque cursor after the row ``key`` of ``query``."""
    payload = orjson.dumps({"at": key[0].isoformat(), "tenant": key[1], "op": key[2],
                            "scope": _scope(query)})
    return base64.urlsafe_b64encode(payload + b"." + _digest(payload).encode()).decode()


def decode_cursor(cursor: str, query: AuditQuery) -> _Key:
    """The row key a cursor of ``query`` names; :class:`~opsledger.InvalidInput` for one
    that was altered or belongs to another query."""
    refused = opsledger.InvalidInput("cursor: not a cursor of this audit list")
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
        payload, _, digest = raw.rpartition(b".")
        if digest.decode() != _digest(payload):
            raise refused
        data = orjson.loads(payload)
        if set(data) != {"at", "tenant", "op", "scope"} or data["scope"] != _scope(query):
            raise refused
        at = datetime.fromisoformat(data["at"])
        if at.tzinfo is None or not isinstance(data["tenant"], str) or \
                not isinstance(data["op"], str):
            raise refused
    except (ValueError, TypeError, UnicodeError, orjson.JSONDecodeError):
        raise refused from None
    return at, data["tenant"], data["op"]


def _in_order(rows: Iterator[AuditRow]) -> Iterator[AuditRow]:
    """Rows in business-time order with each run of one time sorted by (tenant, operation)
    as Python sorts text — the order cursors compare in, whatever the database's
    collation."""
    for _, run in itertools.groupby(rows, key=lambda r: r.occurred_at):
        yield from sorted(run, key=_key)


def _page(engine: Engine, asked: AuditQuery, after: _Key | None, limit: int) -> AuditPage:
    """The page of ``asked`` after the row ``after`` (read from that row's time on)."""
    query = asked
    if after is not None and (asked.since is None or after[0] > asked.since):
        query = replace(asked, since=after[0])
    with engine.lock:
        rows = _in_order(engine.ops.audit_stream(query))
        if after is not None:
            rows = itertools.dropwhile(lambda r: _key(r) <= after, rows)
        taken = list(itertools.islice(rows, limit + 1))
        del rows  # the read transaction ends here, under the lock
    shown = tuple(taken[:limit])
    more = len(taken) > limit
    return AuditPage(shown, encode_cursor(_key(shown[-1]), asked) if more else None)


@router.get("/tenants/{tenant_id}/audit", response_model=AuditPage)
def audit(
    request: Request, tenant_id: str, who: TenantRead, as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    since: From = None, until: To = None, repository: Name = None,
    outcome: Annotated[Literal["success", "error"] | None, Query()] = None,
    error_code: Name = None, key: Name = None,
) -> WireJSON:
    """The tenant's publish operations and outcomes in business-time order, ``limit`` a
    page; pass a page's ``next_cursor`` as ``cursor`` for the next. With ``as_of``, only
    operations that happened before then."""
    if since is not None and until is not None and since > until:
        raise opsledger.InvalidInput("to: before from")
    asked = AuditQuery(tenant_id=tenant_id, repository_id=repository, since=since,
                       until=clamp(until, as_of), outcome=outcome, error_code=error_code,
                       idempotency_key=key)
    after = decode_cursor(cursor, asked) if cursor is not None else None
    return reply(_page(engine_of(request), asked, after, limit))


_MEDIA = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


@router.get("/tenants/{tenant_id}/export",
            responses={200: {"content": {m: {} for m in _MEDIA.values()},
                             "description": "the export, streamed"}})
def export(
    request: Request, tenant_id: str, who: TenantRead, as_of: AsOf = None,
    since: From = None, until: To = None,
    fmt: Annotated[Literal["csv", "ndjson"], Query(alias="format")] = "csv",
) -> StreamingResponse:
    """Compliance export of the tenant (``opsledger audit export``): publish attempts and
    outcomes, refusals, operator actions, alerts, incident actions, gate and policy
    changes in ``[from, to)``, the tenant's privacy switches applied — streamed as read
    (memory flat; the engine's lock is taken per batch, not for the whole stream). With
    ``as_of``, nothing after then."""
    engine = engine_of(request)
    end = clamp(until, as_of)
    if since is not None and end is not None and since > end:
        if until is not None and since > until:
            raise opsledger.InvalidInput("to: before from")
        end = since
    rows = engine.run(engine.ops.export_stream, tenant_id, since, end)
    return StreamingResponse(
        locked_stream(engine, rows.chunks(fmt), batch=1),  # a chunk (~1000 rows) per lock
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="export.{fmt}"'})
