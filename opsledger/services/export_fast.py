"""The compliance export's bytes straight from the views (issue 19, point 5): the many rows
(publish attempts and refusals) go from the SQL cursor's tuples to CSV / NDJSON / JSON
bytes with no typed row and no dict of the view's columns in between. What can be worked
out once per export is worked out once (the tenant's and the kind's output form, the
privacy switches); per publish row there is the time's output form (a slice of the views'
fixed-width text), one memo lookup for its few low-cardinality values (repository,
source, outcome, error code, tenant mode — already in their output form), a check for a
time's text (a ``:``) in its free-text values, and its line written at once: the CSV line
by hand (:func:`csv_field`, equal to :mod:`csv`'s writer), the details (and an NDJSON
row) by ``orjson`` in the serializer's key order. Rows are read, ordered within a time,
merged with the few rows and written a chunk (:data:`CHUNK_ROWS`) at a time: memory flat
in the number of rows.

The bytes are those of the typed path (:meth:`Export.export_stream` rows written by
:func:`opsledger.serialize.export_chunks`) byte for byte: the same values, the same order
(business time, kind, subject, as exported after redaction; ties in stream order), the
same serializers — tests/application/test_export_bytes.py holds the two equal on every
format, privacy switch, range and store. Where a redacted name could occur inside a
time's text (a tenant id of digits alone), :mod:`opsledger.services.export` writes the
typed path's rows instead."""

from __future__ import annotations

import bisect
import csv
import heapq
import io
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson

from opsledger.domain.time import fmt_time, iso_utc, utc

__all__ = ["CHUNK_ROWS", "Item", "Privacy", "chunks", "csv_field", "encoder", "many_items", "merge"]

#: Rows fetched (and written) at a time: a chunk of bytes holds about this many rows.
CHUNK_ROWS = 1000
REDACTED = "[redacted]"
#: One exported row on its way: its merge key (the time as the views store it, the kind
#: and the subject, both after redaction) and the row's part of the export (a CSV line as
#: text, an NDJSON line or a JSON array's item as bytes).
Item = tuple[str, str, str, Any]
#: The characters of a time's text: a name made of these alone could occur inside one.
_TIME_CHARS = frozenset("0123456789-:.TZ+")
_MEMO_LIMIT = 4096
_SORT = orjson.OPT_SORT_KEYS
_COLUMNS = ("at", "kind", "tenant", "repository", "actor", "subject", "outcome", "details")
_RUN_KEY = itemgetter(0, 2)


class Privacy:
    """A tenant's privacy switches as applied to one export's values: ``text`` is a string
    value as exported (names redacted, a time in the one output form), ``key`` the same
    before the time's output form (what rows are ordered by)."""

    def __init__(self, names: Sequence[str], hash_payloads: bool,
                 scrub: Callable[[str, str], str], time_text: Callable[[str], str]) -> None:
        self.names = tuple(names)
        self.hash_payloads = hash_payloads
        self._scrub = scrub  # (value, key) -> the value redacted (or hashed)
        self._time_text = time_text

    @staticmethod
    def safe(names: Iterable[str]) -> bool:
        """True if no name can occur inside a time's text (else: the typed path)."""
        return all(name and not set(name) <= _TIME_CHARS for name in names)

    def key(self, value: str, field: str = "") -> str:
        """``value`` redacted (the merge key's form)."""
        return self._scrub(value, field) if self.names or self.hash_payloads else value

    def text(self, value: str, field: str = "") -> str:
        """``value`` as exported: redacted, then a time in the one output form."""
        value = self.key(value, field)
        return self._time_text(value) if ":" in value else value

    def memo(self, field: str = "", encode: Callable[[Any], Any] | None = None,
             redacted: bool = False) -> Callable[[Any], Any]:
        """:meth:`text` of a low-cardinality column (``[redacted]`` for any value with
        ``redacted``), then ``encode``d, remembered (bounded); None stays None (before
        ``encode``)."""
        seen: dict[Any, Any] = {}

        def text(value: Any) -> Any:
            try:
                return seen[value]
            except KeyError:
                if len(seen) > _MEMO_LIMIT:
                    seen.clear()
                done = value if value is None or type(value) is not str else (
                    REDACTED if redacted else self.text(value, field))
                if redacted and value is not None:
                    done = REDACTED
                seen[value] = done = done if encode is None else encode(done)
                return done
        return text


def at_text(at: str) -> str:
    """The output form of a views' time: ``2026-11-03T07:03:03.583Z`` from the fixed-width
    ``2026-11-03T07:03:03.583000Z`` (any other form: parsed, as the typed path does)."""
    if len(at) == 27 and at[26] == "Z" and at[19] == ".":
        return at[:23] + "Z"
    value = at.replace("Z", "+00:00") if at.endswith("Z") else at
    return fmt_time(utc(datetime.fromisoformat(value), "time"))


# ---- reading the views: tuples, a batch at a time ---------------------------------------
def _batches(sql: Any, statement: str, params: Sequence[Any]) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of one query as tuples, :data:`CHUNK_ROWS` at a time, in a read transaction
    of its own held while they are read (a server-side cursor on PostgreSQL)."""
    with sql.transaction(commit=False) as cursor:
        if sql.is_postgres:
            from psycopg.rows import tuple_row

            name = f"opsledger_export_{uuid.uuid4().hex}"
            with cursor.connection.cursor(name=name, row_factory=tuple_row) as named:
                named.itersize = CHUNK_ROWS
                named.execute(sql.sql(statement), tuple(params))
                while rows := named.fetchmany(CHUNK_ROWS):
                    yield rows
            return
        with closing(sql.tuple_cursor(cursor)) as raw:
            raw.execute(statement, tuple(params))
            while rows := raw.fetchmany(CHUNK_ROWS):
                yield rows


def _scope(tenant_id: str, since: datetime | None, until: datetime | None
           ) -> tuple[str, list[Any]]:
    clauses, params = ["tenant_id = ?"], [tenant_id]
    if since is not None:
        clauses.append("occurred_at >= ?")
        params.append(iso_utc(since))
    if until is not None:
        clauses.append("occurred_at < ?")
        params.append(iso_utc(until))
    return " WHERE " + " AND ".join(clauses), params


def _in_runs(batches: Iterable[list[Item]]) -> Iterator[list[Item]]:
    """Batches in time order with each run of equal time ordered by subject (stably): the
    run still open at a batch's end waits for the next batch."""
    held: list[Item] = []
    for batch in batches:
        if held:
            batch = held + batch
        last = batch[-1][0]
        cut = len(batch) - 1
        while cut > 0 and batch[cut - 1][0] == last:
            cut -= 1
        held = batch[cut:]
        ready = batch[:cut]
        if ready:
            ready.sort(key=_RUN_KEY)
            yield ready
    if held:
        held.sort(key=_RUN_KEY)
        yield held


def many_items(sql: Any, tenant_id: str, since: datetime | None, until: datetime | None,
               tenant_out: Any, privacy: Privacy | None, redact_repository: bool, fmt: str
               ) -> tuple[Iterator[list[Item]], Iterator[list[Item]]]:
    """The publish rows and the refusals of the tenant in ``[since, until)``, as batches of
    :data:`Item` (each row's bytes in ``fmt``) in export order, each stream on its own.
    ``tenant_out``: the tenant column's value as exported."""
    where, params = _scope(tenant_id, since, until)
    plain = privacy or Privacy((), False, lambda v, _: v, _identity)
    publish = _in_runs(_publish(sql, where, params, tenant_out, plain, redact_repository, fmt))
    refused = _in_runs(_refused(sql, where, params, tenant_out, plain, redact_repository, fmt))
    return publish, refused


def _publish(sql: Any, where: str, params: list[Any], tenant: Any, plain: Privacy,
             redact_repository: bool, fmt: str) -> Iterator[list[Item]]:
    redacting = bool(plain.names)
    # Rows of one time are ordered by their subject here (``_in_runs``): the database's
    # order among them matters only where redaction could make two subjects equal.
    order = "occurred_at, tenant_id, operation_id" if redacting else "occurred_at"
    statement = (
        "SELECT occurred_at, repository_id, source, operation_id, outcome, idempotency_key, "
        "payload_hash, attempts, latency_ms, error_code, status, collision, tenant_mode "
        f"FROM {sql.table('audit_publish')}{where} ORDER BY {order}")
    csv_out = fmt == "csv"
    field = csv_field if csv_out else _identity_any
    kind, kind_out = plain.key("publish", "kind"), field(plain.text("publish", "kind"))
    tenant = field(tenant)
    # the few values of (repository, source, outcome, error code, tenant mode), as exported
    repository = plain.memo(encode=field, redacted=redact_repository)
    actor, outcome_of = plain.memo(encode=field), plain.memo(encode=field)
    error_of, mode_of = plain.memo(), plain.memo()
    seen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    text, key = plain.text, plain.key
    hashing = plain.hash_payloads
    dumps, needs_quotes, line = orjson.dumps, _QUOTED.search, _json_line(fmt, 0)
    for rows in _batches(sql, statement, params):
        out: list[Item] = []
        append = out.append
        for (at, repo, source, op, outcome, idem, payload, attempts, latency, error, status,
             collision, mode) in rows:
            few = seen.get((repo, source, outcome, error, mode))
            if few is None:
                if len(seen) > _MEMO_LIMIT:
                    seen.clear()
                few = seen[(repo, source, outcome, error, mode)] = (
                    repository(repo), actor(source), outcome_of(outcome), error_of(error),
                    mode_of(mode))
            if type(op) is not str:
                subject, shown = str(op), op
            elif redacting:
                subject, shown = key(op), text(op)
            else:
                subject, shown = op, text(op) if ":" in op else op
            if type(idem) is str and (redacting or ":" in idem):
                idem = text(idem)
            if type(payload) is str:
                if hashing:  # "sha256:..." is never a time's text
                    payload = key(payload, "payload_hash")
                elif redacting or ":" in payload:
                    payload = text(payload)
            shown_at = at[:23] + "Z" if len(at) == 27 and at[26] == "Z" else at_text(at)
            # keys in sorted order (the serializer's): no sorting asked of orjson
            details = {"attempts": attempts, "collision": bool(collision),
                       "error_code": few[3], "idempotency_key": idem, "latency_ms": latency,
                       "payload_hash": payload, "status": status, "tenant_mode": few[4]}
            if csv_out:
                if type(shown) is not str or needs_quotes(shown):
                    shown = csv_field(shown)
                body = dumps(details).decode().replace('"', '""')
                append((at, kind, subject, f'{shown_at},{kind_out},{tenant},{few[0]},{few[1]},'
                                           f'{shown},{few[2]},"{body}"\r\n'))
            else:
                append((at, kind, subject, line(
                    {"actor": few[1], "at": shown_at, "details": details, "kind": kind_out,
                     "outcome": few[2], "repository": few[0], "subject": shown,
                     "tenant": tenant})))
        yield out


def _refused(sql: Any, where: str, params: list[Any], tenant: Any, plain: Privacy,
             redact_repository: bool, fmt: str) -> Iterator[list[Item]]:
    statement = (f"SELECT occurred_at, repository_id, subject_id, reason, message "
                 f"FROM {sql.table('audit_refusal')}{where} ORDER BY occurred_at, refusal_id")
    kind, kind_out = plain.key("refused", "kind"), plain.text("refused", "kind")
    repository = plain.memo(redacted=redact_repository)
    reason_of = plain.memo()
    encode = encoder(fmt)
    for rows in _batches(sql, statement, params):
        yield [(at, kind, str(plain.key(subject) if type(subject) is str else subject),
                encode((at_text(at), kind_out, tenant, repository(repo), None,
                        plain.text(subject) if type(subject) is str else subject,
                        reason_of(reason),
                        {"message": plain.text(message) if type(message) is str
                         else message})))
               for at, repo, subject, reason, message in rows]


def _identity(value: str) -> str:
    return value


def _identity_any(value: Any) -> Any:
    return value


# ---- writing ---------------------------------------------------------------------------
_QUOTED = re.compile(r'[,"\r\n]')


def csv_field(value: Any) -> str:
    """One field as :mod:`csv`'s writer writes it (the excel dialect, minimal quoting):
    None empty, a number by ``str``, text quoted (its quotes doubled) if it holds a comma,
    a quote or a line break."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if _QUOTED.search(text) is None:
        return text
    return '"' + text.replace('"', '""') + '"'


def _json_line(fmt: str, option: int = _SORT) -> Callable[[dict[str, Any]], bytes]:
    if fmt == "ndjson":
        return lambda row: orjson.dumps(row, option=option) + b"\n"
    option |= orjson.OPT_INDENT_2
    return lambda row: orjson.dumps(row, option=option).replace(b"\n", b"\n  ")


def encoder(fmt: str) -> Callable[[tuple[Any, ...]], Any]:
    """A row's eight output values (``ExportRow.to_dict(fmt_time)``'s, in the columns'
    order) as the row's part of the export in ``fmt``: a CSV line by :mod:`csv`'s own
    writer, an NDJSON line, or a JSON array's item (indented by 2, keys sorted)."""
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text)

        def line(values: tuple[Any, ...]) -> str:
            text.seek(0)
            text.truncate()
            writer.writerow((*values[:7], orjson.dumps(values[7], option=_SORT).decode()))
            return text.getvalue()
        return line
    dump = _json_line(fmt)
    return lambda values: dump(dict(zip(_COLUMNS, values, strict=True)))


def _key(item: Item) -> tuple[str, str, str]:
    return item[0], item[1], item[2]


def merge(first: Iterator[list[Item]], others: Sequence[Iterator[list[Item]]]
          ) -> Iterator[list[Item]]:
    """``first``'s batches with ``others``' items merged in, in key order; ties keep the
    streams' order (as :func:`opsledger.projections._stream.merge_ordered` does). A batch
    of ``first`` that nothing else falls into passes whole."""
    rest = heapq.merge(*(_flat(batches) for batches in others), key=_key)
    nxt = next(rest, None)
    for batch in first:
        if not batch:
            continue
        last = _key(batch[-1])  # (an item of this key waits: the next batch may start so)
        if nxt is None or _key(nxt) >= last:
            yield batch
            continue
        merged: list[Item] = []
        start = 0
        while nxt is not None and (k := _key(nxt)) < last:
            cut = bisect.bisect_right(batch, k, lo=start, key=_key)  # ties: ``first``'s first
            merged += batch[start:cut]
            merged.append(nxt)
            start = cut
            nxt = next(rest, None)
        merged += batch[start:]
        yield merged
    while nxt is not None:
        tail, nxt = [nxt], None
        for item in rest:
            if len(tail) >= CHUNK_ROWS:
                nxt = item
                break
            tail.append(item)
        yield tail


def _flat(batches: Iterator[list[Item]]) -> Iterator[Item]:
    for batch in batches:
        yield from batch


def chunks(batches: Iterable[list[Item]], fmt: str, count: Callable[[int], None]
           ) -> Iterator[bytes]:
    """The export's bytes, a chunk per batch of rows already in ``fmt``: ``csv`` (a header,
    details as JSON text), ``ndjson`` (one object a line) or ``json`` (an array) — byte for
    byte :func:`opsledger.serialize.export_chunks` of the same rows. ``count`` is told each
    chunk's rows."""
    if fmt == "csv":
        head = ",".join(_COLUMNS) + "\r\n"
        for batch in batches:
            count(len(batch))
            yield (head + "".join([item[3] for item in batch])).encode()
            head = ""
        if head:  # the header of an export with no row
            yield head.encode()
    elif fmt == "ndjson":
        for batch in batches:
            count(len(batch))
            yield b"".join([item[3] for item in batch])
    else:
        first = True
        for batch in batches:
            count(len(batch))
            if batch:
                yield (b"[\n  " if first else b",\n  ") + b",\n  ".join(
                    [item[3] for item in batch])
                first = False
        yield b"[]" if first else b"\n]"
