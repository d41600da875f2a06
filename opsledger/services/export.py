"""Compliance export (policy §5 audit trail): everything an auditor asks about one tenant
and period — publish attempts and outcomes, refused commands, operator actions, alerts,
incident actions with their actors, gate evidence and decisions, policy changes — with the
tenant's privacy switches applied (Pumuki's governance: redact the tenant id, redact the
repository id, hash payload hashes)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson

from opsledger.domain import topics
from opsledger.domain.time import fmt_time, iso_utc, utc
from opsledger.projections import AuditQuery
from opsledger.projections import audit as audit_queries
from opsledger.projections._stream import merge_ordered, ordered_within, stream_query
from opsledger.results import ExportRow
from opsledger.services import export_fast as fast

if TYPE_CHECKING:
    from opsledger.services.alerting import AlertProcess
    from opsledger.services.incidents import Incidents
    from opsledger.services.reads import AuditReads
    from opsledger.services.tenants import Tenants
    from opsledger.store.events import EventStore

__all__ = ["FORMATS", "Export", "ExportStream"]

REDACTED = "[redacted]"
_OPERATOR_ACTIONS = (topics.action(topics.GO_LIVE_GATE_PREFIX),
                     topics.action(topics.POLICY_LEDGER_PREFIX))
_INCIDENT = topics.action(topics.INCIDENT_PREFIX)


def _digest(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["at"], row["kind"], str(row["subject"])


class Export:
    """The compliance export of one tenant (``opsledger audit export``, the HTTP API's
    ``/v1/tenants/{id}/export``)."""

    def __init__(self, store: EventStore, tenants: Tenants, audit: AuditReads,
                 alerts: AlertProcess, incidents: Incidents) -> None:
        self.sql = store.sql
        self.tenant = tenants.tenant
        self.audit_actions = audit.audit_actions
        self.alerts = alerts.alerts
        self.incident_events = incidents.incident_events_between

    def export_stream(self, tenant_id: str, since: datetime | None,
                      until: datetime | None) -> ExportStream:
        """The tenant's rows in ``[since, until)``, privacy applied, in time order, produced
        as they are read: publish rows and refusals (the many) stream from the views in
        bounded batches and merge, in order, with the tenant's few actions, alerts and
        incident actions — memory flat in the number of rows. The tenant and the scope are
        checked (and the few rows read) before this returns; the stream holds one read
        transaction of its own until it ends. Iterated, it gives typed rows
        (``row.to_dict(fmt_time)`` is the export's row); :meth:`ExportStream.chunks` gives
        the export's bytes instead, straight from the views (the CLI's and the HTTP API's
        path)."""
        return ExportStream(_Export(self, tenant_id, since, until))


class ExportStream(Iterator[ExportRow]):
    """One export of one tenant and range (:meth:`Export.export_stream`): an iterator of its
    typed rows, or — instead, before any row is taken — its bytes by :meth:`chunks`."""

    def __init__(self, export: _Export) -> None:
        self._export = export
        self._rows: Iterator[ExportRow] | None = None
        #: Rows :meth:`chunks` has written so far.
        self.rows = 0

    def __iter__(self) -> ExportStream:
        return self

    def __next__(self) -> ExportRow:
        if self._rows is None:
            self._rows = map(_export_row, self._export.typed())
        return next(self._rows)

    def chunks(self, fmt: str) -> Iterator[bytes]:
        """The export's bytes a chunk (about a thousand rows) at a time: ``csv``, ``ndjson``
        or ``json`` — byte for byte what :func:`opsledger.serialize.export_chunks` writes of
        the typed rows' ``to_dict(fmt_time)``, without making them: the views' rows go from
        the cursor to the bytes (:mod:`opsledger.services.export_fast`). :attr:`rows`
        counts the rows written."""
        if self._rows is not None:
            raise RuntimeError("an export's rows were taken already: chunks() is instead")
        self._rows = iter(())

        def count(rows: int) -> None:
            self.rows += rows
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        return self._export.chunks(fmt, count)


#: The export's formats (:meth:`ExportStream.chunks`).
FORMATS = ("csv", "ndjson", "json")


def _export_row(row: dict[str, Any]) -> ExportRow:
    """``ExportRow.of(row)`` for the export's own rows, built directly (the same values:
    the time parsed, the details a read-only copy) — the generic ``of`` was most of a
    row's cost."""
    return ExportRow(at=utc(datetime.fromisoformat(row["at"]), "time"), kind=row["kind"],
                     tenant_id=row["tenant"], repository_id=row["repository"],
                     actor=row["actor"], subject=row["subject"], outcome=row["outcome"],
                     details=MappingProxyType(dict(row["details"])))


def _stream(ops: Export, table: str, order: str, query: AuditQuery) -> Iterator[dict[str, Any]]:
    """A view's rows in ``query``'s scope, read in bounded batches as they are consumed
    (as :meth:`AuditReads.audit_stream` reads them, without making each a typed row)."""
    where, params = query.where()
    return stream_query(ops.sql, f"SELECT * FROM {ops.sql.table(table)}{where} "
                                 f"ORDER BY {order}", params)


class _Export:
    """One export's plan: the tenant checked, its privacy switches, and its few rows
    (actions, alerts, incident actions) read and redacted, when it is made; the many rows
    (publish attempts, refusals) read when the rows or the bytes are asked for."""

    def __init__(self, ops: Export, tenant_id: str, since: datetime | None,
                 until: datetime | None) -> None:
        self.ops, self.tenant_id, self.since, self.until = ops, tenant_id, since, until
        tenant = ops.tenant(tenant_id)
        self.query = AuditQuery(tenant_id=tenant_id, since=since, until=until)
        self.privacy = tenant.governance.privacy if tenant.governance else None
        self.names: list[str] = []
        if self.privacy is not None:
            self.names = [tenant_id] if self.privacy.redact_tenant_id else []
            if self.privacy.redact_repository_id:
                self.names += list(tenant.repositories)
            self.names.sort(key=len, reverse=True)  # a repository id may contain the tenant id
        self.few = sorted(self.private(_few(ops, tenant_id, since, until, self.query)),
                          key=_key)

    def private(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``rows`` with the tenant's privacy switches applied."""
        privacy, names = self.privacy, self.names
        for row in rows:
            if privacy is None:
                yield row
                continue
            row = _scrub(row, names, privacy.hash_payload_hashes)
            if privacy.redact_tenant_id and row["tenant"] is not None:
                row["tenant"] = REDACTED
            if privacy.redact_repository_id and row["repository"] is not None:
                row["repository"] = REDACTED
            yield row

    def typed(self) -> Iterator[dict[str, Any]]:
        """Every row as a dict, in export order (times in the output form)."""
        ops, tenant_id, query = self.ops, self.tenant_id, self.query
        publish = ({"at": r["occurred_at"], "kind": "publish", "tenant": tenant_id,
                    "repository": r["repository_id"], "actor": r["source"],
                    "subject": r["operation_id"], "outcome": r["outcome"],
                    "details": {"idempotency_key": r["idempotency_key"],
                                "payload_hash": r["payload_hash"], "attempts": r["attempts"],
                                "latency_ms": r["latency_ms"], "error_code": r["error_code"],
                                "status": r["status"], "collision": bool(r["collision"]),
                                "tenant_mode": r["tenant_mode"]}}
                   for r in _stream(ops, "audit_publish",
                                    "occurred_at, tenant_id, operation_id", query))
        refused = ({"at": r["occurred_at"], "kind": "refused", "tenant": tenant_id,
                    "repository": r["repository_id"], "actor": None,
                    "subject": r["subject_id"], "outcome": r["reason"],
                    "details": {"message": r["message"]}}
                   for r in _stream(ops, "audit_refusal", "occurred_at, refusal_id", query))
        # the order is that of the rows as exported (after redaction), as a sort of all
        # would give
        streams = [ordered_within(self.private(rows), at=lambda r: r["at"], key=_key)
                   for rows in (publish, refused)]
        return map(_output_times, merge_ordered([*streams, self.few], key=_key))

    def chunks(self, fmt: str, count: Callable[[int], None]) -> Iterator[bytes]:
        """The bytes of :meth:`typed`'s rows in ``fmt``, the many rows straight from the
        views (where a redacted name could occur inside a time's text: from
        :meth:`typed`'s rows)."""
        encode = fast.encoder(fmt)
        if not fast.Privacy.safe(self.names):
            items = ([("", "", "", encode(_values(r)))] for r in self.typed())  # in order
            return fast.chunks(_batched(items), fmt, count)
        privacy = self.privacy
        plan = None if privacy is None else fast.Privacy(
            self.names, privacy.hash_payload_hashes,
            lambda value, key: _scrub_text(value, self.names, privacy.hash_payload_hashes,
                                           key), _time_text)
        tenant: Any = self.tenant_id
        if privacy is not None:
            tenant = REDACTED if privacy.redact_tenant_id else _time_text(
                _scrub_text(tenant, self.names, privacy.hash_payload_hashes, "tenant"))
        else:
            tenant = _time_text(tenant)
        publish, refused = fast.many_items(
            self.ops.sql, self.tenant_id, self.since, self.until, tenant, plan,
            privacy is not None and privacy.redact_repository_id, fmt)
        few = [(r["at"], r["kind"], str(r["subject"]), encode(_values(_output_times(r))))
               for r in self.few]
        return fast.chunks(fast.merge(publish, [refused, iter([few] if few else [])]), fmt,
                           count)


def _values(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's eight output values (after :func:`_output_times`), as the typed row gives
    them (``ExportRow.to_dict(fmt_time)``)."""
    typed = _export_row(row).to_dict(fmt_time)
    return (typed["at"], typed["kind"], typed["tenant"], typed["repository"],
            typed["actor"], typed["subject"], typed["outcome"], typed["details"])


def _batched(items: Iterable[list[fast.Item]]) -> Iterator[list[fast.Item]]:
    batch: list[fast.Item] = []
    for item in items:
        batch.extend(item)
        if len(batch) >= fast.CHUNK_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _few(ops: Export, tenant_id: str, since: datetime | None, until: datetime | None,
         query: AuditQuery) -> list[dict[str, Any]]:
    """The tenant's few rows in ``[since, until)``: operator actions (its own, and the
    operator-wide gate and policy actions), alert triggers and resolutions, incident
    actions."""
    start = iso_utc(since) if since else ""
    end = iso_utc(until) if until else "9999"
    few: list[dict[str, Any]] = []
    actions = [a.to_dict() for a in ops.audit_actions(query)] + [
        a for a in audit_queries.action_rows(ops.sql, AuditQuery(all_tenants=True, since=since,
                                                                 until=until))
        if a["action"].startswith(_OPERATOR_ACTIONS)]
    for r in actions:
        few.append({"at": r["occurred_at"], "kind": r["action"], "tenant": r["tenant_id"],
                    "repository": None, "actor": r["actor"], "subject": r["stream_id"],
                    "outcome": None, "details": orjson.loads(r["details"])})
    for a in (x.to_dict() for x in ops.alerts(tenant_id=tenant_id, since=since, until=until)):
        for at, kind in ((a["triggered_at"], "alert_triggered"),
                         (a["resolved_at"], "alert_resolved")):
            if at and start <= at < end:
                few.append({"at": at, "kind": kind, "tenant": tenant_id,
                            "repository": a["repository"], "actor": "opsledger",
                            "subject": a["id"], "outcome": a["rule"],
                            "details": {"observed": a["observed"],
                                        "threshold": a["threshold"]}})
    for incident_id, severity, events in ops.incident_events(tenant_id, start, end):
        for entry in (e.to_dict() for e in events):
            if entry["kind"].startswith(_INCIDENT):
                details = {k: v for k, v in entry.items() if k not in ("at", "kind", "by")}
                few.append({"at": entry["at"], "kind": entry["kind"], "tenant": tenant_id,
                            "repository": None, "actor": entry.get("by"),
                            "subject": incident_id, "outcome": severity,
                            "details": orjson.loads(orjson.dumps(details, default=str))})
    return few


#: The types of value that hold no time and nothing to redact.
_SCALARS = frozenset({int, float, bool, type(None)})
_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _output_times(value: Any) -> Any:
    """``value`` with every time in the one output form (:func:`~opsledger.serialize.
    fmt_time`): the views' fixed-width text, an offset form, or the library's stored
    ``{"_type_": "datetime_iso", "_data_": ...}`` encoding inside event details. (Rows are
    ordered on the views' own text first, which sorts as time does.)"""
    if type(value) in _SCALARS:  # most values: nothing to look at
        return value
    if isinstance(value, str):
        return _time_text(value)
    if isinstance(value, dict):
        if value.keys() == {"_type_", "_data_"} and value["_type_"] == "datetime_iso":
            return _output_times(value["_data_"])
        return {k: v if type(v) in _SCALARS else _time_text(v) if type(v) is str
                else _output_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_output_times(v) for v in value]
    return value


def _time_text(value: str) -> str:
    """A time's text in the one output form; other text as it is."""
    if _STORED_TIME.fullmatch(value):
        return fmt_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return value


def _scrub(value: Any, names: list[str], hash_payloads: bool, key: str = "") -> Any:
    """Apply the privacy switches field by field, wherever the values appear."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else _scrub_text(v, names, hash_payloads, k)
                if type(v) is str else _scrub(v, names, hash_payloads, k)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, names, hash_payloads, key) for v in value]
    if isinstance(value, str):
        return _scrub_text(value, names, hash_payloads, key)
    return value


def _scrub_text(value: str, names: list[str], hash_payloads: bool, key: str) -> str:
    if hash_payloads and key == "payload_hash":
        return _digest(value)
    for name in names:
        value = value.replace(name, REDACTED)
    return value
