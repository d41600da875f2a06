"""Reading NDJSON inputs line by line within bounds: shared by the importers.

A line longer than :data:`~opsledger.domain.bounds.MAX_LINE_BYTES` is never held or
parsed: from a file it is read in bounded pieces and skipped, so a 10 MB line costs a
few reads. A UTF-8 byte order mark before the first line is dropped. ``--strict``
imports read their input twice (validate everything, then write); :class:`TwoPass` gives
the second pass without holding the input in memory: a seekable file is rewound, a list
is iterated again, and anything else (stdin, a generator) is spooled to a private
temporary file during the first pass.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

import orjson

from opsledger.domain.bounds import MAX_LINE_BYTES
from opsledger.domain.errors import ImportRefused, InvalidInput, LineTooLong, OpsledgerError

__all__ = [
    "BOM",
    "TwoPass",
    "checked_inputs",
    "numbered_lines",
    "parse_line",
    "rejection",
    "source_name",
]

BOM = b"\xef\xbb\xbf"
_SKIP = 64 * 1024


def source_name(source: Any, index: int) -> str:
    """The file name of a source (``<stdin>`` for standard input), else ``<input N>``."""
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and name else f"<input {index + 1}>"


def _raw_lines(source: Iterable[bytes], limit: int) -> Iterator[bytes | None]:
    """Each line (``None`` for one longer than ``limit`` bytes, end of line excluded)."""
    readline = getattr(source, "readline", None)
    if readline is None:
        for raw in source:
            yield None if len(raw.rstrip(b"\r\n")) > limit else raw
        return
    while True:
        raw = readline(limit + 2)  # room for the line's own "\r\n"
        if not raw:
            return
        if raw.endswith(b"\n") or len(raw) < limit + 2:  # a whole line (or the last one)
            yield raw if len(raw.rstrip(b"\r\n")) <= limit else None
            continue
        while raw and not raw.endswith(b"\n"):  # skip the rest without holding it
            raw = readline(_SKIP)
        yield None


def numbered_lines(source: Iterable[bytes], limit: int = MAX_LINE_BYTES
                   ) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line without its end of line)``, from 1; ``None`` for a line too
    long to read; a BOM before the first line dropped."""
    for number, raw in enumerate(_raw_lines(source, limit), start=1):
        if raw is not None:
            raw = raw.rstrip(b"\r\n")
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
        yield number, raw


def parse_line(raw: bytes | None) -> dict[str, Any]:
    """One line as a JSON object, or :class:`InvalidInput` (``LineTooLong`` for ``None``)."""
    if raw is None:
        raise LineTooLong(MAX_LINE_BYTES)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("not a JSON object")
    return data


def rejection(file: str, line: int, error: OpsledgerError) -> dict[str, Any]:
    """The report of one refused line: file, line, field (if known), ``code: message``."""
    return {"file": file, "line": line, "field": getattr(error, "field", None),
            "error": f"{error.code}: {error}"}


class TwoPass:
    """One input read twice without holding it: see the module docstring."""

    def __init__(self, source: Iterable[bytes]) -> None:
        self.source = source
        self._spool: IO[bytes] | None = None
        self._start: int | None = None
        seekable = getattr(source, "seekable", None)
        if callable(seekable) and seekable():
            self._start = source.tell()  # type: ignore[attr-defined]
        elif not isinstance(source, list | tuple):
            # mode 0600 (mkstemp), unlinked at once; closed by close()
            self._spool = tempfile.TemporaryFile(prefix="opsledger-import-")  # noqa: SIM115

    def first(self, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
        """The first pass (copied to the spool when the input cannot be read again)."""
        spool = self._spool
        for number, raw in numbered_lines(self.source, limit):
            if spool is not None:
                spool.write(b"" if raw is None else raw)
                spool.write(b"\n")
            yield number, raw

    def second(self) -> Iterable[bytes]:
        """The input again, from where the first pass started."""
        if self._spool is not None:
            self._spool.seek(0)
            return self._spool
        if self._start is not None:
            self.source.seek(self._start)  # type: ignore[attr-defined]
        return self.source

    def close(self) -> None:
        """Drop the spool (if any)."""
        if self._spool is not None:
            self._spool.close()


def validate_first(passes: Sequence[TwoPass], names: Sequence[str],
                   parse: Callable[[bytes | None], object]) -> None:
    """``--strict``'s first pass: parse every line of every input, streaming; the first bad
    one raises :class:`ImportRefused` naming its file, line and field (nothing written)."""
    for reader, name in zip(passes, names, strict=True):
        for number, raw in reader.first():
            try:
                parse(raw)
            except OpsledgerError as error:
                found = rejection(name, number, error)
                raise ImportRefused(number, found["error"], file=name,
                                    field=found["field"]) from None


@contextmanager
def checked_inputs(sources: Iterable[Iterable[bytes]], names: Sequence[str] | None,
                   strict: bool, parse: Callable[[bytes | None], object]
                   ) -> Iterator[tuple[list[Iterable[bytes]], list[str]]]:
    """The inputs an importer reads once, with their labels (``names``, else each file's
    name, else ``<input N>``); with ``strict``, every line is first parsed by ``parse``
    (:func:`validate_first`: the first bad one refuses the whole import, nothing written)
    and the inputs given are their second pass. Spools are closed on the way out."""
    inputs = list(sources)
    labels = list(names) if names is not None else [
        source_name(s, i) for i, s in enumerate(inputs)]
    passes = [TwoPass(s) for s in inputs] if strict else []
    try:
        if strict:
            validate_first(passes, labels, parse)
            inputs = [reader.second() for reader in passes]
        yield inputs, labels
    finally:
        for reader in passes:
            reader.close()
