"""The outbox's delivery state: one row per (notification, route), and every attempt.

These tables are not a view's: a rebuild of ``notifications`` (:mod:`~opsledger.projections.
outbox`) never touches them, so what was delivered is never sent again, and what was
routed is never routed again (``notification_cursor`` holds the last routed position; the
view writes rows in log order, each batch in one transaction, so no row can appear behind
it later).

``notification_deliveries``:
    ``id`` (12 hex digits, from the notification id and the route), ``notification_id``,
    ``route``, ``channel``, ``subject``, ``position`` (the order within a subject),
    ``tenant``, ``kind``, ``level``, ``state`` (:data:`STATES`), ``attempts``,
    ``last_status`` (HTTP status of the last attempt, if one answered), ``last_error``,
    ``reason`` (why suppressed or dead), ``created_at`` (when routed, by the worker's
    clock), ``next_attempt_at``, ``delivered_at``.
``notification_attempts``:
    ``delivery_id``, ``attempt`` (1, 2, …), ``at``, ``outcome`` (``delivered``, ``failed``,
    ``dead``, ``retried``), ``status``, ``error``, ``duration_ms``, ``next_attempt_at``,
    ``by`` (the operator of a manual retry).
"""

from __future__ import annotations

import hashlib
from typing import Any

from opsledger.projections import SqlStore

__all__ = ["ATTEMPTS", "CURSOR", "DELIVERIES", "STATES", "create_tables", "delivery_id"]

DELIVERIES = "notification_deliveries"
ATTEMPTS = "notification_attempts"
CURSOR = "notification_cursor"
#: pending: due at ``next_attempt_at``; failed: an attempt failed, the next is scheduled;
#: delivered; dead: gave up (too old, or a refusal no retry can fix); suppressed: recorded,
#: never sent (quiet hours, a maintenance window, too old when routed).
STATES = ("pending", "failed", "delivered", "dead", "suppressed")


def delivery_id(notification_id: str, route: str) -> str:
    """The delivery's id: 12 hex digits of a hash of the notification id and the route."""
    return hashlib.sha256(f"{notification_id}\x00{route}".encode()).hexdigest()[:12]


def create_tables(sql: SqlStore, cursor: Any) -> None:
    """Create the delivery tables if missing."""
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(DELIVERIES)} ("
                        "id TEXT PRIMARY KEY, notification_id TEXT NOT NULL, "
                        "route TEXT NOT NULL, channel TEXT NOT NULL, subject TEXT NOT NULL, "
                        "position BIGINT NOT NULL, tenant TEXT, kind TEXT NOT NULL, "
                        "level TEXT NOT NULL, state TEXT NOT NULL, "
                        "attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, "
                        "last_error TEXT, reason TEXT, created_at TEXT NOT NULL, "
                        "next_attempt_at TEXT, delivered_at TEXT, "
                        "UNIQUE (notification_id, route))")
    sql.execute(cursor, f"CREATE INDEX IF NOT EXISTS notification_deliveries_due ON "
                        f"{sql.table(DELIVERIES)} (state, next_attempt_at)")
    sql.execute(cursor, f"CREATE INDEX IF NOT EXISTS notification_deliveries_order ON "
                        f"{sql.table(DELIVERIES)} (route, subject, position)")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(ATTEMPTS)} ("
                        "delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at TEXT NOT NULL, "
                        "outcome TEXT NOT NULL, status INTEGER, error TEXT, "
                        "duration_ms DOUBLE PRECISION, next_attempt_at TEXT, by TEXT, "
                        "PRIMARY KEY (delivery_id, attempt))")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(CURSOR)} ("
                        "name TEXT PRIMARY KEY, position BIGINT NOT NULL)")
    sql.execute(cursor, f"INSERT INTO {sql.table(CURSOR)} VALUES ('router', 0) "
                        "ON CONFLICT (name) DO NOTHING")
