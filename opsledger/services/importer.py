"""Import Pumuki's SaaS-ingestion audit NDJSON as it is (see pumuki-audit-format.md).

Lines are validated one by one against the record bounds (:mod:`opsledger.domain.bounds`);
a malformed or out-of-bounds line is counted and reported with its file, line number and
field, never dropped silently and never echoed whole. A line over the line-size limit is
refused before it is parsed; a BOM before the first line is accepted. ``strict``
validates every input in a first streaming pass and writes nothing if any line is bad
(:class:`~opsledger.services.lines.TwoPass`: memory stays flat, stdin is spooled to a private
temporary file). Valid lines go through the same recording path as
``Operations.record_publish`` in chunks of one transaction each, so an import killed at
any point and run again ends in the same store (recorded operations are duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsledger.domain.bounds import TimeBounds
from opsledger.domain.errors import OpsledgerError
from opsledger.services.clock import BusinessClock
from opsledger.services.lines import (
    checked_inputs,
    numbered_lines,
    parse_line,
    rejection,
)
from opsledger.services.recording import Recording
from opsledger.services.records import PublishRecord

__all__ = ["ImportSummary", "Importer"]

CHUNK = 1000


@dataclass
class ImportSummary:
    """Counts of one import; ``rejected`` lists each refused or malformed line with its
    ``file``, ``line``, ``field`` (None when the line as a whole is bad) and ``error``."""

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


def _parse(raw: bytes | None, time_bounds: TimeBounds | None) -> PublishRecord:
    return PublishRecord.from_pumuki(parse_line(raw), time_bounds)


class Importer:
    """Imports Pumuki audit files through the recording path."""

    def __init__(self, clock: BusinessClock, recording: Recording) -> None:
        self._clock = clock
        self._recording = recording

    def import_pumuki_audit(
        self,
        sources: Iterable[Iterable[bytes]],
        *,
        strict: bool = False,
        register_unknown: bool = False,
        by: str = "import",
        progress: Callable[[int], None] | None = None,
        names: Sequence[str] | None = None,
        time_bounds: TimeBounds | None = None,
    ) -> ImportSummary:
        """Import every line of every source (each an iterable of raw lines or a binary file).

        ``names`` name the sources in rejections (default: each file's name, else
        ``<input N>``); ``time_bounds`` the accepted business times (default 2000..2100 UTC;
        never more than a day ahead of the store's clock: :meth:`BusinessClock.bounds`).
        """
        time_bounds = self._clock.bounds(time_bounds)
        with checked_inputs(sources, names, strict,
                            lambda raw: _parse(raw, time_bounds)) as (inputs, labels):
            return self._write(inputs, labels, register_unknown, by, progress, time_bounds)

    def _write(self, inputs: list[Iterable[bytes]], labels: list[str],
               register_unknown: bool, by: str, progress: Callable[[int], None] | None,
               time_bounds: TimeBounds | None) -> ImportSummary:
        writer = self._recording.writer(source="pumuki-import", by=by,
                                        register_unknown=register_unknown)
        summary = ImportSummary()
        ordered: list[tuple[int, int, dict[str, Any]]] = []
        for index, (source, name) in enumerate(zip(inputs, labels, strict=True)):
            chunk: list[tuple[int, PublishRecord]] = []
            for number, raw in numbered_lines(source):
                summary.lines += 1
                try:
                    chunk.append((number, _parse(raw, time_bounds)))
                except OpsledgerError as error:
                    ordered.append((index, number, rejection(name, number, error)))
                    if progress:
                        progress(1)
                if len(chunk) >= CHUNK:
                    _flush(writer, chunk, summary, progress, index, name, ordered)
            _flush(writer, chunk, summary, progress, index, name, ordered)
        ordered.sort(key=lambda item: (item[0], item[1]))
        summary.rejected = [item[2] for item in ordered]
        return summary


def _flush(
    writer: Any,
    chunk: list[tuple[int, PublishRecord]],
    summary: ImportSummary,
    progress: Callable[[int], None] | None,
    index: int,
    name: str,
    ordered: list[tuple[int, int, dict[str, Any]]],
) -> None:
    if not chunk:
        return
    results = writer.write([record for _, record in chunk])
    for (number, _), item in zip(chunk, results, strict=True):
        if item.status == "duplicate":
            summary.duplicates += 1
        elif item.status == "refused":
            assert item.error is not None
            ordered.append((index, number, rejection(name, number, item.error)))
        else:
            summary.imported += 1
            summary.retries += int(item.retry)
            summary.collisions += int(item.collision)
            summary.key_missing += int(item.key_missing)
    if progress:
        progress(len(chunk))
    chunk.clear()
