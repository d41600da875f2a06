"""The alert process's own records, and re-evaluation of a tenant whose facts came late.

``alert_facts`` keeps each tenant's rule facts (lean: the freshness key is a digest, no
idempotency key or payload hash in clear), written with the process's position, so a
tenant can be evaluated again from zero when a fact arrives behind its watermark; the
``late`` column counts those facts per tenant. ``alert_process_alerts`` indexes the alerts
the process recorded (id, rule, times, withdrawn) so a re-run can be compared with them:

- an alert the re-run finds that was never recorded is recorded, and opens its incident
  like any other; if it held before the tenant's first late fact came (the evaluation had
  passed it by then) it is flagged **backfilled** (``triggered_at`` when its condition
  held, ``details.backfilled``, ``details.found_at`` the tenant's event time when found);
- a recorded alert still open that the re-run resolves is resolved at that time;
- a recorded alert whose end moved, or that the re-run does not find at all, is
  ``Revised`` (new ``resolved_at``, or ``withdrawn``): never deleted.

Everything here runs inside the process's transaction, so it commits with its position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from opsledger._recording import load_many
from opsledger.domain.alert import alert_uuid
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.rules import Change, RuleEngine, from_us

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["FACTS", "INDEX", "create_tables", "history_of", "index_changes", "lean",
           "reclassify_stored", "rerun", "store_facts"]

FACTS = "alert_facts"
INDEX = "alert_process_alerts"


def create_tables(sql: Any, cursor: Any) -> None:
    """The per-tenant fact log and the index of recorded alerts."""
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(FACTS)} (tenant_id TEXT NOT "
                        "NULL, position BIGINT NOT NULL, idx INTEGER NOT NULL, at BIGINT NOT "
                        "NULL, tiebreak TEXT NOT NULL, late INTEGER NOT NULL, fact TEXT NOT "
                        "NULL, PRIMARY KEY (tenant_id, position, idx))")
    sql.execute(cursor, f"CREATE INDEX IF NOT EXISTS alert_facts_op ON {sql.table(FACTS)} "
                        "(tenant_id, tiebreak)")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(INDEX)} (id TEXT PRIMARY KEY, "
                        "tenant_id TEXT NOT NULL, rule TEXT NOT NULL, triggered_at BIGINT NOT "
                        "NULL, resolved_at BIGINT, withdrawn INTEGER NOT NULL)")


def lean(fact: dict[str, Any]) -> dict[str, Any]:
    """The fact as stored for re-runs: the freshness key as a digest."""
    if "idempotency_key" not in fact:
        return fact
    digest = hashlib.sha256(f"{fact['idempotency_key']}/{fact['payload_hash']}".encode())
    return {**fact, "idempotency_key": digest.hexdigest()[:32], "payload_hash": ""}


def store_facts(ops: Operations, cursor: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    """Append (tenant, position, idx, at, tiebreak, late, fact-json) rows."""
    ops.sql.executemany(cursor, f"INSERT INTO {ops.sql.table(FACTS)} VALUES "
                                "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", list(rows))


def reclassify_stored(ops: Operations, cursor: Any, tenant: str, operation_id: str,
                      collision: bool) -> None:
    """Fix the collision flag of a stored fact (a batch's original moved)."""
    ops.sql.execute(cursor, f"SELECT position, idx, fact FROM {ops.sql.table(FACTS)} "
                            "WHERE tenant_id = ? AND tiebreak = ?", (tenant, operation_id))
    for row in cursor.fetchall():
        fact = orjson.loads(row["fact"])
        fact["collision"] = collision
        ops.sql.execute(cursor, f"UPDATE {ops.sql.table(FACTS)} SET fact = ? WHERE "
                                "tenant_id = ? AND position = ? AND idx = ?",
                        (orjson.dumps(fact).decode(), tenant, row["position"], row["idx"]))


def index_changes(ops: Operations, cursor: Any, changes: Iterable[Change]) -> None:
    """Keep the index of recorded alerts in step with the changes just recorded."""
    for c in changes:
        alert_id = str(alert_uuid(c.tenant, c.rule, from_us(c.triggered_at)))
        if c.kind == "triggered":
            ops.sql.execute(cursor, f"INSERT INTO {ops.sql.table(INDEX)} VALUES "
                                    "(?, ?, ?, ?, NULL, 0) ON CONFLICT DO NOTHING",
                            (alert_id, c.tenant, c.rule, c.triggered_at))
        else:
            ops.sql.execute(cursor, f"UPDATE {ops.sql.table(INDEX)} SET resolved_at = ? "
                                    "WHERE id = ?", (c.at, alert_id))


def history_of(changes: Iterable[Change]) -> dict[str, tuple[Change, Change | None]]:
    """Alert id -> (its trigger, its resolution or None), from a re-run's changes."""
    found: dict[str, tuple[Change, Change | None]] = {}
    for c in changes:
        alert_id = str(alert_uuid(c.tenant, c.rule, from_us(c.triggered_at)))
        if c.kind == "triggered":
            found[alert_id] = (c, None)
        else:
            found[alert_id] = (found[alert_id][0], c)
    return found


def rerun(ops: Operations, cursor: Any, engine: RuleEngine, tenant: str,
          new_alert: Callable[[Change, dict[str, Any]], list[Any]],
          policy_at: Callable[[datetime], OperationsPolicy]) -> tuple[list[Any], int]:
    """Evaluate ``tenant`` again from its stored facts and record the difference with what
    was recorded; returns (events to store, alerts backfilled)."""
    ops.sql.execute(cursor, f"SELECT fact FROM {ops.sql.table(FACTS)} WHERE tenant_id = ?",
                    (tenant,))
    facts = [orjson.loads(r["fact"]) for r in cursor.fetchall()]
    missed_until = engine.missed_until(tenant)
    history = history_of(engine.rerun(tenant, facts))
    found_us = engine.state["tenants"][tenant]["publish_wm"]
    found_at = from_us(found_us) if found_us is not None else None
    ops.sql.execute(cursor, f"SELECT id, resolved_at, withdrawn FROM {ops.sql.table(INDEX)} "
                            "WHERE tenant_id = ?", (tenant,))
    recorded = {r["id"]: (r["resolved_at"], bool(r["withdrawn"])) for r in cursor.fetchall()}
    events: list[Any] = []
    backfilled = 0
    details = {"backfilled": True, "found_at": found_at.isoformat() if found_at else None}
    for alert_id, (trigger, resolution) in sorted(history.items(),
                                                  key=lambda kv: kv[1][0].at):
        if alert_id not in recorded:
            missed = missed_until is not None and trigger.at <= missed_until
            created = new_alert(trigger, details if missed else {})  # alert, then incident
            backfilled += int(missed)
            if resolution is not None:
                created[0].resolve(from_us(resolution.at),
                                   resolution.reason or "condition cleared")
            events += [e for aggregate in created for e in aggregate.collect_events()]
            index_changes(ops, cursor, [trigger, *([resolution] if resolution else [])])
            continue
        end = resolution.at if resolution is not None else None
        if recorded[alert_id] != (end, False):
            plain = recorded[alert_id] == (None, False) and end is not None
            reason = (resolution.reason if plain and resolution else None) or \
                "late facts moved its end"
            events += _amend(ops, cursor, alert_id, end, False, reason, found_at, plain)
            _set_index(ops, cursor, alert_id, end, False)
    for alert_id, (end, withdrawn) in sorted(recorded.items()):
        if alert_id not in history and not withdrawn:
            events += _amend(ops, cursor, alert_id, end, True,
                             "late facts show its condition did not hold", found_at, False)
            _set_index(ops, cursor, alert_id, end, True)
    ops.sql.execute(cursor, f"UPDATE {ops.sql.table(FACTS)} SET late = 2 WHERE tenant_id = ? "
                            "AND late = 1", (tenant,))
    return events, backfilled


def _set_index(ops: Operations, cursor: Any, alert_id: str, end: int | None,
               withdrawn: bool) -> None:
    ops.sql.execute(cursor, f"UPDATE {ops.sql.table(INDEX)} SET resolved_at = ?, "
                            "withdrawn = ? WHERE id = ?", (end, int(withdrawn), alert_id))


def _amend(ops: Operations, cursor: Any, alert_id: str, end: int | None, withdrawn: bool,
           reason: str, found_at: datetime | None, plain: bool) -> list[Any]:
    """Resolve (``plain``: it was open and now ends) or revise one recorded alert."""
    uid = UUID(alert_id)
    alert = load_many(ops.app, ops.sql, cursor, [uid])[uid]
    if plain and end is not None:
        alert.resolve(from_us(end), reason)
    else:
        alert.revise(None if end is None else from_us(end), withdrawn, reason,
                     found_at or alert.triggered_at)
    return list(alert.collect_events())

