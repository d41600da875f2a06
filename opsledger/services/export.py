"""Compliance export (policy §5 audit trail): everything an auditor asks about one tenant
and period — publish attempts and outcomes, refused commands, operator actions, alerts,
incident actions with their actors, gate evidence and decisions, policy changes — with the
tenant's privacy switches applied (Pumuki's governance: redact the tenant id, redact the
repository id, hash payload hashes)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
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

if TYPE_CHECKING:
    from opsledger.services.alerting import AlertProcess
    from opsledger.services.incidents import Incidents
    from opsledger.services.reads import AuditReads
    from opsledger.services.tenants import Tenants
    from opsledger.store.events import EventStore

__all__ = ["Export"]

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
                      until: datetime | None) -> Iterator[ExportRow]:
        """The tenant's rows in ``[since, until)``, privacy applied, in time order, produced
        as they are read: publish rows and refusals (the many) stream from the views in
        bounded batches and merge, in order, with the tenant's few actions, alerts and
        incident actions — memory flat in the number of rows. The tenant and the scope are
        checked (and the few rows read) before this returns; the stream holds one read
        transaction of its own until it ends. ``row.to_dict(fmt_time)`` is the export's row
        (:func:`opsledger.serialize.export_chunks` writes those)."""
        return map(_export_row, _export(self, tenant_id, since, until))


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


def _export(ops: Export, tenant_id: str, since: datetime | None,
            until: datetime | None) -> Iterator[dict[str, Any]]:
    tenant = ops.tenant(tenant_id)
    query = AuditQuery(tenant_id=tenant_id, since=since, until=until)
    start = iso_utc(since) if since else ""
    end = iso_utc(until) if until else "9999"
    publish = ({"at": r["occurred_at"], "kind": "publish", "tenant": tenant_id,
                "repository": r["repository_id"], "actor": r["source"],
                "subject": r["operation_id"], "outcome": r["outcome"],
                "details": {"idempotency_key": r["idempotency_key"],
                            "payload_hash": r["payload_hash"], "attempts": r["attempts"],
                            "latency_ms": r["latency_ms"], "error_code": r["error_code"],
                            "status": r["status"], "collision": bool(r["collision"]),
                            "tenant_mode": r["tenant_mode"]}}
               for r in _stream(ops, "audit_publish", "occurred_at, tenant_id, operation_id",
                                query))
    refused = ({"at": r["occurred_at"], "kind": "refused", "tenant": tenant_id,
                "repository": r["repository_id"], "actor": None, "subject": r["subject_id"],
                "outcome": r["reason"], "details": {"message": r["message"]}}
               for r in _stream(ops, "audit_refusal", "occurred_at, refusal_id", query))
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
    privacy = tenant.governance.privacy if tenant.governance else None
    names: list[str] = []
    if privacy is not None:
        names = [tenant_id] if privacy.redact_tenant_id else []
        if privacy.redact_repository_id:
            names += list(tenant.repositories)
        names.sort(key=len, reverse=True)  # a repository id may contain the tenant id

    def private(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
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

    # the order is that of the rows as exported (after redaction), as a sort of all would give
    streams = [ordered_within(private(rows), at=lambda r: r["at"], key=_key)
               for rows in (publish, refused)]
    return map(_output_times, merge_ordered([*streams, sorted(private(few), key=_key)],
                                            key=_key))


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
