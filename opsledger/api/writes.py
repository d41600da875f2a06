"""Ingest writes (``ingest`` scope; an operator token writes for every tenant): publish
operations and downstream visibility, each through the same service call as the CLI's, and
the operator writes of :mod:`opsledger.api.writes_ops` under the same router (bodies are
read and bounded by :mod:`opsledger.api.bodies`).

A body is one JSON record, a JSON array of them, or (``Content-Type: application/x-ndjson``)
lines exactly as Pumuki writes its audit (downstream snapshots as ``import snapshots`` reads
them). The answer is per item — ``recorded``, ``retry``, ``collision``, ``duplicate`` or
``refused`` with its code, message and field — with the summary the importer gives. An NDJSON
body goes through the importer itself (``Operations.import_pumuki_audit`` /
``import_snapshots``), which reports refused lines only: its ``items`` are those lines, and
every other line is counted in the summary.

Policy §5: a tenant token writes only its tenant's records. A record or line naming another
tenant is refused exactly as an unknown tenant's is (``unknown_tenant``, whether or not that
tenant exists) and nothing of it is stored — not even the refusal the importer audits for a
really unknown tenant. Replaying a body records nothing new (duplicates); a malformed line
or record never stores part of itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from fastapi import APIRouter, Request

import opsledger
from opsledger import (
    ImportSummary,
    Principal,
    PublishRecord,
    Rejection,
    SnapshotImportSummary,
    SnapshotRecord,
)
from opsledger.api.auth import Ingest, engine_of, visible_tenant
from opsledger.api.bodies import BODY, RawBody, is_ndjson, items_of, lines_of, screen
from opsledger.api.wire import WireJSON, reply
from opsledger.api.writes_ops import router as operator_router

__all__ = ["PublishAnswer", "PublishItem", "Refusal", "VisibilityAnswer",
           "VisibilityItem", "router"]

router = APIRouter()
router.include_router(operator_router)

_CHUNK = 1000  # records per transaction, as the importer's
#: What a record may be refused for; anything else (the store unreachable) fails the call.
_REFUSALS = (opsledger.InvalidInput, opsledger.ScopeViolation, opsledger.Conflict)


@dataclass(frozen=True)
class Refusal:
    """Why an item was refused: the error's ``code``, its message (quoting little) and the
    field it names (``None`` when the record as a whole is refused)."""

    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True)
class PublishItem:
    """One publish record (``item``: its position from 1, or its NDJSON line number)."""

    item: int
    status: Literal["recorded", "retry", "collision", "duplicate", "refused"]
    operation_id: str | None = None
    batch_id: str | None = None
    key_missing: bool = False
    error: Refusal | None = None


@dataclass(frozen=True)
class PublishAnswer:
    """Per item (an NDJSON body: its refused lines) and the import summary of the body."""

    items: tuple[PublishItem, ...]
    summary: ImportSummary


@dataclass(frozen=True)
class VisibilityItem:
    """One snapshot record (``item``: its position from 1, or its NDJSON line number)."""

    item: int
    status: Literal["recorded", "duplicate", "refused"]
    error: Refusal | None = None


@dataclass(frozen=True)
class VisibilityAnswer:
    """Per item (an NDJSON body: its refused lines) and the snapshot import summary. For a
    tenant token, the store-wide figures (freshness deadlines missed by the snapshots'
    watermark) are left out: ``missed`` 0, no ``watermark``."""

    items: tuple[VisibilityItem, ...]
    summary: SnapshotImportSummary


def _body_doc(schema: dict[str, Any], lines: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"anyOf": [schema, {"type": "array", "items": schema}]}},
        "application/x-ndjson": {"schema": {"type": "string", "description": lines}},
    }}}


_PUBLISH_BODY = _body_doc(PublishRecord.model_json_schema(),
                          "Pumuki's saas-ingestion-audit lines, exactly as Pumuki writes them")
_VISIBILITY_BODY = _body_doc(SnapshotRecord.model_json_schema(),
                             "downstream-snapshot lines, as import snapshots reads them")


@router.post("/v1/publishes", tags=["ingest"], response_model=PublishAnswer,
             openapi_extra=_PUBLISH_BODY)
def publishes(request: Request, who: Ingest, raw: RawBody,
              register_unknown: bool = False) -> WireJSON:
    """Record publish operations (policy §5: idempotency key mandatory, tenant/repository
    scope checked, refusals audited). JSON records go through ``record_publish``'s recording
    path (``Operations.writer``, source ``api``); NDJSON through ``import_pumuki_audit``.
    ``register_unknown`` (operator tokens only): register unseen tenants and repositories,
    as ``opsledger import pumuki-audit --register-unknown``."""
    if register_unknown and who.tenant_id is not None:
        raise opsledger.Forbidden("operator", who.scope)
    engine = engine_of(request)
    if is_ndjson(request):
        return reply(engine.run(_import_publishes, engine.ops, lines_of(raw), who,
                                register_unknown))
    return reply(engine.run(_record_publishes, engine.ops, items_of(raw), who,
                            register_unknown))


@router.post("/v1/visibility", tags=["ingest"], response_model=VisibilityAnswer,
             openapi_extra=_VISIBILITY_BODY)
def visibility(request: Request, who: Ingest, raw: RawBody) -> WireJSON:
    """Record when accepted payloads became visible downstream (freshness, policy §2): JSON
    records as ``opsledger record visibility``; NDJSON as ``opsledger import snapshots``
    (which then settles freshness deadlines by the snapshots' own time)."""
    engine = engine_of(request)
    if is_ndjson(request):
        return reply(engine.run(_import_visibility, engine.ops, lines_of(raw), who))
    return reply(engine.run(_record_visibility, engine.ops, items_of(raw), who))


def _refusal(error: opsledger.OpsledgerError) -> Refusal:
    return Refusal(error.code, str(error), getattr(error, "field", None))


def _rejected(rejection: dict[str, Any]) -> Refusal:
    """A refused line of an import (``error`` is ``code: message``)."""
    code, _, message = str(rejection["error"]).partition(": ")
    return Refusal(code, message, rejection.get("field"))


def _publish_record(item: Any, bounds: Any) -> PublishRecord:
    """A JSON record: a :class:`~opsledger.PublishRecord` (``occurred_at``), or a Pumuki
    audit object as it is (``event_at``, ``event_id``)."""
    if not isinstance(item, dict):
        raise opsledger.InvalidInput("a record must be a JSON object")
    if "event_at" in item or "event_id" in item:
        return PublishRecord.from_pumuki(item, bounds)
    # only the record's fields (the rest is ignored anyway): no key reaches create's own
    # parameters (``cls``, ``time_bounds``)
    fields = {k: v for k, v in item.items() if k in PublishRecord.model_fields}
    return PublishRecord.create(time_bounds=bounds, **fields)


def _record_publishes(ops: opsledger.Operations, items: list[Any], who: Principal,
                      register_unknown: bool) -> PublishAnswer:
    bounds = ops.time_bounds()
    answers: dict[int, PublishItem] = {}
    valid: list[tuple[int, PublishRecord]] = []
    for number, item in enumerate(items, start=1):
        try:
            record = _publish_record(item, bounds)
            visible_tenant(who, record.tenant_id)  # another tenant's: as if unknown
        except _REFUSALS as error:
            answers[number] = PublishItem(number, "refused", error=_refusal(error))
            continue
        valid.append((number, record))
    writer = ops.writer(source="api", by=who.owner, register_unknown=register_unknown)
    for start in range(0, len(valid), _CHUNK):
        chunk = valid[start:start + _CHUNK]
        results = writer.write([record for _, record in chunk])
        for (number, _), result in zip(chunk, results, strict=True):
            answers[number] = _publish_item(number, result)
    ordered = tuple(answers[n] for n in sorted(answers))
    return PublishAnswer(ordered, _publish_summary(ordered))


def _publish_item(number: int, result: Any) -> PublishItem:
    if result.status == "refused":
        return PublishItem(number, "refused", result.operation_id, error=_refusal(result.error))
    status: Literal["recorded", "retry", "collision", "duplicate"] = (
        "duplicate" if result.status == "duplicate" else "collision" if result.collision
        else "retry" if result.retry else "recorded")
    return PublishItem(number, status, result.operation_id, str(result.batch_id),
                       result.key_missing)


def _publish_summary(items: tuple[PublishItem, ...]) -> ImportSummary:
    """The importer's summary of a JSON body (its items numbered as lines)."""
    summary = ImportSummary(lines=len(items))
    for item in items:
        if item.error is not None:
            summary.rejected.append({"file": BODY, "line": item.item,
                                     "field": item.error.field,
                                     "error": f"{item.error.code}: {item.error.message}"})
        elif item.status == "duplicate":
            summary.duplicates += 1
        else:
            summary.imported += 1
            summary.retries += item.status == "retry"
            summary.collisions += item.status == "collision"
            summary.key_missing += item.key_missing
    return summary


def _import_publishes(ops: opsledger.Operations, lines: list[bytes], who: Principal,
                      register_unknown: bool) -> PublishAnswer:
    bounds = ops.time_bounds()
    screened, foreign = screen(lines, who, lambda d: PublishRecord.from_pumuki(d, bounds))
    summary = ops.import_pumuki_audit([screened], register_unknown=register_unknown,
                                      by=who.owner, names=[BODY])
    summary.rejected = [foreign.get(r["line"], r) for r in summary.rejected]
    items = tuple(PublishItem(r["line"], "refused", error=_rejected(r))
                  for r in summary.rejected)
    return PublishAnswer(items, summary)


def _record_visibility(ops: opsledger.Operations, items: list[Any],
                       who: Principal) -> VisibilityAnswer:
    bounds = ops.time_bounds()
    answers: list[VisibilityItem] = []
    for number, item in enumerate(items, start=1):
        try:
            if not isinstance(item, dict):
                raise opsledger.InvalidInput("a record must be a JSON object")
            record = SnapshotRecord.create(item, bounds)
            visible_tenant(who, record.tenant_id)  # another tenant's: as if unknown
            new = ops.record_visibility(
                tenant_id=record.tenant_id, repository_id=record.repository_id,
                idempotency_key=record.idempotency_key, payload_hash=record.payload_hash,
                visible_at=record.visible_at)
        except _REFUSALS as error:
            answers.append(VisibilityItem(number, "refused", _refusal(error)))
            continue
        answers.append(VisibilityItem(number, "recorded" if new else "duplicate"))
    rejected = tuple(Rejection(BODY, a.item, a.error.field,
                               f"{a.error.code}: {a.error.message}")
                     for a in answers if a.error is not None)
    summary = SnapshotImportSummary(
        lines=len(answers), recorded=sum(a.status == "recorded" for a in answers),
        duplicates=sum(a.status == "duplicate" for a in answers), rejected=rejected, missed=0)
    return VisibilityAnswer(tuple(answers), summary)


def _import_visibility(ops: opsledger.Operations, lines: list[bytes],
                       who: Principal) -> VisibilityAnswer:
    bounds = ops.time_bounds()
    screened, foreign = screen(lines, who, lambda d: SnapshotRecord.create(d, bounds))
    summary = ops.import_snapshots([screened], names=[BODY])
    rejected = tuple(Rejection.of(foreign[r.line]) if r.line in foreign else r
                     for r in summary.rejected)
    summary = replace(summary, rejected=rejected)
    if who.tenant_id is not None:  # misses and watermark count every tenant's: not told
        summary = replace(summary, missed=0, watermark=None)
    items = tuple(VisibilityItem(r.line, "refused", _rejected(r.to_dict())) for r in rejected)
    return VisibilityAnswer(items, summary)


