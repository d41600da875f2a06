"""``projections verify``: rebuild every view from the events in a scratch store and
compare it, row by row, with the live views (issue: verification of derived state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["VIEW_TABLES", "Verification", "copy_events", "verify_views"]

#: view table -> its ordering key. Positions in the log are left out of the comparison:
#: a scratch store numbers its notifications afresh.
VIEW_TABLES = {
    "audit_publish": "tenant_id, operation_id",
    "audit_refusal": "refusal_id",
    "audit_action": "occurred_at, stream_id, action",
    "slo_minute": "tenant_id, repository_id, minute",
    "slo_latency": "tenant_id, repository_id, minute, latency_ms",
    "slo_freshness": "tenant_id, repository_id, idempotency_key, payload_hash",
    "slo_policy": "effective_at, freshness_bound_minutes",
    "slo_integrity": "incident_id",
    "alerts": "id",
    "incidents": "id",
    "incident_deadlines": "incident_id, kind, due",
    "retention_horizon": "tenant_id",
}
_POSITIONS = ("notification_id", "position")


@dataclass(frozen=True)
class Verification:
    """The outcome: ``ok``, or the first view/table and row that differ, or the views that
    stopped (a stopped view is not verified: it is known not to be current)."""

    ok: bool
    events_checked: int
    table: str | None = None
    live_row: dict[str, Any] | None = None
    rebuilt_row: dict[str, Any] | None = None
    stopped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"ok": self.ok, "events_checked": self.events_checked, "table": self.table,
                "live_row": self.live_row, "rebuilt_row": self.rebuilt_row,
                "stopped": list(self.stopped)}


def _rows(ops: Operations, table: str, order: str) -> list[dict[str, Any]]:
    """The table's rows without log positions, in the key's order; rows equal in the key
    (gate evidence recorded in one instant) are ordered by their whole content, because the
    database orders such ties arbitrarily."""
    rows = ops.sql.fetch(f"SELECT * FROM {ops.sql.table(table)} ORDER BY {order}")
    keys = [c.strip() for c in order.split(",")]
    stripped = [{k: v for k, v in r.items() if k not in _POSITIONS} for r in rows]
    return sorted(stripped, key=lambda r: ([str(r[k]) for k in keys],
                                           orjson.dumps(r, option=orjson.OPT_SORT_KEYS,
                                                        default=str)))


def copy_events(ops: Operations, scratch: Operations, *, batch: int = 1000,
                skip: tuple[str, ...] = ()) -> int:
    """Copy the stored events (but those whose topic starts with ``skip``) into
    ``scratch``, in log order, as stored (so sealed: ``scratch`` gets the same tenant
    keys); returns how many were read."""
    ops.keyring.copy_to(scratch.keyring)
    read = position = 0
    while notifications := ops.app.recorder.select_notifications(start=position + 1,
                                                                 limit=batch):
        kept = [n for n in notifications if not n.topic.startswith(skip)] if skip else \
            notifications
        with scratch.sql.transaction(commit=True) as cursor:
            scratch.sql.insert_stored_events(cursor, kept)
        read += len(notifications)
        position = notifications[-1].id
    return read


def verify_views(ops: Operations, batch: int = 1000) -> Verification:
    """Copy the events into a scratch in-memory store, rebuild its views, diff the rows."""
    from opsledger.application import Operations as Ops

    ops.catch_up()
    stopped = tuple(sorted(ops.views.stops()))
    if stopped:
        return Verification(False, ops.views.head(), stopped=stopped)
    with Ops.open("memory://") as scratch:
        copied = copy_events(ops, scratch, batch=batch)
        scratch.catch_up()
        for table, order in VIEW_TABLES.items():
            live, rebuilt = _rows(ops, table, order), _rows(scratch, table, order)
            for index in range(max(len(live), len(rebuilt))):
                a = live[index] if index < len(live) else None
                b = rebuilt[index] if index < len(rebuilt) else None
                if a != b:
                    return Verification(False, copied, table, a, b)
    return Verification(True, copied)
