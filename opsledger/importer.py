"""Import Pumuki's SaaS-ingestion audit NDJSON as it is (see pumuki-audit-format.md).

Lines are validated one by one; a malformed line is counted and reported with its line
number, never dropped silently. ``strict`` validates the whole input first and writes
nothing if any line is bad. Valid lines go through the same recording path as
``Operations.record_publish`` in chunks of one transaction each, so an import killed at
any point and run again ends in the same store (recorded operations are duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from opsledger.application import Operations
from opsledger.domain.errors import InvalidInput, OpsledgerError
from opsledger.records import ImportRefused, PublishRecord

__all__ = ["ImportRefused", "ImportSummary", "import_pumuki_audit"]

CHUNK = 1000


@dataclass
class ImportSummary:
    """Counts of one import; ``rejected`` lists each refused or malformed line."""

    lines: int = 0
    imported: int = 0
    duplicates: int = 0
    retries: int = 0
    collisions: int = 0
    key_missing: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    #: per tenant, facts that arrived behind that tenant's own event time and were
    #: re-evaluated (filled once the alert rules have run: the CLI's import does)
    late_facts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``opsledger import pumuki-audit --json``."""
        return {
            "lines": self.lines, "imported": self.imported, "duplicates": self.duplicates,
            "retries": self.retries, "collisions": self.collisions,
            "key_missing": self.key_missing, "rejected": self.rejected,
            "late_facts": self.late_facts,
        }


def _parse(raw: bytes) -> PublishRecord:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("not a JSON object")
    return PublishRecord.from_pumuki(data)


def _numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(lines, start=1):
        yield number, raw.rstrip(b"\r\n")


def _error_text(error: OpsledgerError) -> str:
    return f"{error.code}: {error}"


def import_pumuki_audit(
    ops: Operations,
    sources: Iterable[Iterable[bytes]],
    *,
    strict: bool = False,
    register_unknown: bool = False,
    by: str = "import",
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import every line of every source (each an iterable of raw lines)."""
    materialised = [list(source) for source in sources] if strict else list(sources)
    if strict:
        for source in materialised:
            for number, raw in _numbered(source):
                try:
                    _parse(raw)
                except OpsledgerError as error:
                    raise ImportRefused(number, _error_text(error)) from None
    writer = ops.writer(source="pumuki-import", by=by, register_unknown=register_unknown)
    summary = ImportSummary()
    for source in materialised:
        chunk: list[tuple[int, PublishRecord]] = []
        for number, raw in _numbered(source):
            summary.lines += 1
            try:
                chunk.append((number, _parse(raw)))
            except OpsledgerError as error:
                summary.rejected.append({"line": number, "error": _error_text(error)})
            if len(chunk) >= CHUNK:
                _flush(writer, chunk, summary, progress)
        _flush(writer, chunk, summary, progress)
    summary.rejected.sort(key=lambda r: int(r["line"]))
    return summary


def _flush(
    writer: Any,
    chunk: list[tuple[int, PublishRecord]],
    summary: ImportSummary,
    progress: Callable[[int], None] | None,
) -> None:
    if not chunk:
        return
    results = writer.write([record for _, record in chunk])
    for (number, _), item in zip(chunk, results, strict=True):
        if item.status == "duplicate":
            summary.duplicates += 1
        elif item.status == "refused":
            assert item.error is not None
            summary.rejected.append({"line": number, "error": _error_text(item.error)})
        else:
            summary.imported += 1
            summary.retries += int(item.retry)
            summary.collisions += int(item.collision)
            summary.key_missing += int(item.key_missing)
    if progress:
        progress(len(chunk))
    chunk.clear()
