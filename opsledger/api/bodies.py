"""Reading request bodies for the writes, bounded: every body is read whole through the
size limit (a chunked body over it is the typed 413, never a partial read), counted before
it is parsed, and — for a tenant token's NDJSON — screened for other tenants' lines before
the importer sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

import opsledger
from opsledger import Principal

__all__ = ["BODY", "MAX_ITEMS", "RawBody", "body_of", "documented", "is_ndjson", "items_of",
           "lines_of", "raw_body", "screen"]

#: Records in one JSON body, or lines in one NDJSON body (a bigger batch: split it).
MAX_ITEMS = 50_000
#: How an NDJSON body is named in its rejections (as ``<stdin>`` is for the CLI).
BODY = "<body>"
_NDJSON = frozenset({"application/x-ndjson", "application/jsonl"})
_BOM = b"\xef\xbb\xbf"


async def raw_body(request: Request) -> bytes:
    """The request body, read through the size limit (a chunked body over it: 413)."""
    return await request.body()


#: A route parameter: the raw body.
RawBody = Annotated[bytes, Depends(raw_body)]
M = TypeVar("M", bound=BaseModel)


def body_of(model: type[M]) -> Any:
    """A dependency: the request body (read whole through the size limit) validated as
    ``model``; an empty body is ``{}``. Invalid: 422 naming the field, not echoing it."""

    async def read(request: Request) -> M:
        raw = await request.body()
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None

    read.__name__ = f"body_{model.__name__}"
    return Depends(read)


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing a JSON request body of ``model`` (a flat model)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def is_ndjson(request: Request) -> bool:
    """Whether the body is NDJSON (``application/x-ndjson``; else it is read as JSON)."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return kind in _NDJSON


def _too_many() -> opsledger.InvalidInput:
    return opsledger.InvalidInput(f"a body holds at most {MAX_ITEMS:,} records or lines: "
                                  "split it")


def lines_of(raw: bytes) -> list[bytes]:
    """An NDJSON body's lines (counted before they are split: bounded)."""
    if raw.count(b"\n") > MAX_ITEMS:
        raise _too_many()
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if len(lines) > MAX_ITEMS:
        raise _too_many()
    return lines


def items_of(raw: bytes) -> list[Any]:
    """A JSON body's records: one object, or an array. Objects and arrays are counted
    before parsing, so a body of millions of tiny values is refused unparsed."""
    if not raw.strip():
        raise opsledger.InvalidInput("the body is empty: give a record, an array of records, "
                                     "or NDJSON lines (Content-Type: application/x-ndjson)")
    if raw.count(b"{") + raw.count(b"[") > MAX_ITEMS + 1:
        raise _too_many()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise opsledger.InvalidInput(f"the body is not valid JSON: {exc}") from None
    if isinstance(data, list) and len(data) > MAX_ITEMS:  # (scalars pass the count above)
        raise _too_many()
    return data if isinstance(data, list) else [data]


def screen(lines: list[bytes], who: Principal, validate: Callable[[dict[str, Any]], object]
           ) -> tuple[list[bytes], dict[int, dict[str, Any]]]:
    """For a tenant token: the lines with every valid line of another tenant blanked (the
    importer reads a blank line as a bad one and stores nothing of it), and the rejection
    each blanked line gets instead — an unknown tenant's, as the importer words it. A line
    the importer refuses anyway (too long, not JSON, invalid) is left to it: its refusal does
    not depend on the tenant existing."""
    own = who.tenant_id
    if own is None:
        return lines, {}
    screened, foreign = list(lines), {}
    for number, line in enumerate(lines, start=1):
        text = line.rstrip(b"\r\n")
        if len(text) > opsledger.MAX_LINE_BYTES:
            continue
        if number == 1 and text.startswith(_BOM):
            text = text[len(_BOM):]
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict) or data.get("tenant_id") == own:
            continue
        try:
            validate(data)
        except opsledger.OpsledgerError:
            continue
        screened[number - 1] = b""
        error = opsledger.UnknownTenant(data["tenant_id"])
        foreign[number] = {"file": BODY, "line": number, "field": None,
                           "error": f"{error.code}: {error}"}
    return screened, foreign
