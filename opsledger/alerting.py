"""The alert process: follows the event log, evaluates the rules on business time and
writes Alert events — with its position and its engine state — in one transaction, so
each fact is evaluated exactly once and a crash resumes where the last commit left off.

Imports, replays and live recording all go through :func:`evaluate`; only the watermark
source differs (the facts' own time, or the clock passed as ``now``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from opsledger._recording import load_many
from opsledger.domain.alert import RULES, Alert, alert_uuid
from opsledger.domain.incident import Incident, Severity
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.rules import Change, RuleEngine, from_us, to_us
from opsledger.projections._facts import moment

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["Subscriber", "evaluate", "facts_of"]

log = logging.getLogger("opsledger.alerts")
STATE = "alert_process"
Subscriber = Callable[[dict[str, Any]], None]
_PUBLISH = ("opsledger.PublishBatch.Started", "opsledger.PublishBatch.OperationRecorded")


def create_tables(sql: Any, cursor: Any) -> None:
    """The process's own state: position and engine state; and the late facts it saw."""
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(STATE)} (name TEXT PRIMARY KEY, "
                        "position BIGINT NOT NULL, state TEXT NOT NULL)")
    sql.execute(cursor, f"INSERT INTO {sql.table(STATE)} VALUES ('rules', 0, 'null') "
                        "ON CONFLICT (name) DO NOTHING")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table('alert_late_facts')} "
                        "(operation_id TEXT PRIMARY KEY, tenant_id TEXT, occurred_at TEXT, "
                        "position BIGINT)")


def facts_of(topic: str, stream_id: str, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule facts in one stored event (lean: reads the JSON state)."""
    if topic in _PUBLISH:
        op = state["operation"]
        recorded = topic.endswith("OperationRecorded")
        return [{
            "kind": "publish", "at": to_us(moment(state["occurred_at"])),
            "tiebreak": op["operation_id"], "tenant": state["tenant_id"],
            "repository": state["repository_id"], "idempotency_key": state["idempotency_key"],
            "payload_hash": op["payload_hash"], "ok": op["outcome"] == "success",
            "latency_ms": op["latency_ms"], "error_code": op.get("error_code"),
            "collision": bool(state["collision"]) if recorded else False,
            "accepted": bool(state["accepted"]) if recorded else op["outcome"] == "success",
            "local_only": op.get("tenant_mode") == "local_only",
        }]
    if topic == "opsledger.Visibility.Observed":
        return [{"kind": "visible", "at": to_us(moment(state["occurred_at"])),
                 "tiebreak": stream_id, "tenant": state["tenant_id"],
                 "repository": state["repository_id"],
                 "idempotency_key": state["idempotency_key"],
                 "payload_hash": state["payload_hash"]}]
    if topic == "opsledger.Incident.Resolved" and state["alert_ids"] and state["tenant_id"]:
        return [{"kind": "incident_resolved", "at": to_us(moment(state["occurred_at"])),
                 "tiebreak": stream_id, "tenant": state["tenant_id"],
                 "alert_ids": state["alert_ids"]}]
    if topic == "opsledger.Tenant.BoundaryViolationConfirmed":
        return [{"kind": "violation", "at": to_us(moment(state["occurred_at"])),
                 "tiebreak": state["violation_id"], "tenant": state["tenant_id"],
                 "repository": state["repository_id"]}]
    return []


#: rule -> (severity, cause) of the incident its alert opens (policy §3/§4).
AUTO_INCIDENTS = {
    "tenant_boundary_violation": ("SEV1", "tenant_isolation_breach"),
    "no_successful_ingestion": ("SEV1", "ingestion_outage"),
    "publish_error_rate": ("SEV2", "partial_publish_failures"),
    "auth_scope_failures": ("SEV2", "degraded_ingestion"),
    "idempotency_collision_rate": ("SEV2", "degraded_ingestion"),
}


def _incident_for(change: Change, alert_id: Any, policy: OperationsPolicy) -> Incident | None:
    """The incident an alert opens, linked both ways (high alerts: a policy switch)."""
    plan = AUTO_INCIDENTS.get(change.rule)
    if plan is None or (plan[0] == "SEV2" and not policy.alerts.high_alerts_open_sev2):
        return None
    at = from_us(change.at)
    return Incident.open(key=f"alert/{alert_id}", severity=Severity(plan[0]),
                         tenant_id=change.tenant, title=f"{change.rule} for {change.tenant}",
                         cause=plan[1], by="opsledger", at=at, policy=policy,
                         alert_ids=[str(alert_id)])


def _events_for(ops: Operations, cursor: Any, changes: Sequence[Change],
                policy_at: Callable[[datetime], OperationsPolicy]) -> list[Any]:
    """Alert (and auto-incident) events for the engine's changes; resolutions load their
    alert inside the transaction."""
    created: dict[Any, Any] = {}
    for change in changes:
        triggered_at = from_us(change.triggered_at)
        alert_id = alert_uuid(change.tenant, change.rule, triggered_at)
        if change.kind == "triggered":
            incident = _incident_for(change, alert_id, policy_at(triggered_at))
            created[alert_id] = Alert(
                tenant_id=change.tenant, rule=change.rule, level=RULES[change.rule][0],
                repository_id=change.repository, occurred_at=triggered_at,
                window_start=from_us(change.window_start or change.at),
                window_end=from_us(change.window_end or change.at),
                observed=change.observed, threshold=change.threshold,
                details={"incident_id": str(incident.id) if incident else None})
            if incident is not None:
                created[incident.id] = incident
            continue
        alert = created.get(alert_id) or load_many(ops.app, ops.sql, cursor, [alert_id])[alert_id]
        created[alert_id] = alert
        alert.resolve(from_us(change.at), change.reason or "condition cleared")
    return [e for alert in created.values() for e in alert.collect_events()]


def evaluate(ops: Operations, now: datetime | None = None, batch: int = 1000,
             subscribers: Sequence[tuple[Subscriber, frozenset[str]]] = ()) -> int:
    """Run the process to the end of the log (and to ``now - lateness`` if given).

    Returns the number of alert changes recorded.
    """
    total = 0
    ledger = ops._ledger()
    default = OperationsPolicy()
    policy_at = ledger.timeline() if ledger else (lambda _at: default)
    head = ops.views.head()
    while True:
        seen = _position(ops)
        notifications = ops.app.recorder.select_notifications(
            start=seen + 1, limit=batch, stop=head) if seen < head else []
        with ops.sql.transaction(commit=True) as cursor:
            lock = " FOR UPDATE" if ops.sql.is_postgres else ""  # SQLite: BEGIN IMMEDIATE
            ops.sql.execute(cursor, f"SELECT position, state FROM {ops.sql.table(STATE)} "
                                    f"WHERE name = 'rules'{lock}")
            row = cursor.fetchone()
            position = int(row["position"])
            if position != seen:  # another process evaluated these facts meanwhile
                continue
            engine = RuleEngine(orjson.loads(row["state"]), policy_at)
            late: list[tuple[Any, ...]] = []
            for n in notifications:
                opened = ops.decode_state(n.state)
                if opened is None:  # a forgotten tenant's event
                    continue
                state = opened
                for change in state.get("reclassified", ()):
                    engine.reclassify(change["operation_id"], bool(change["collision"]))
                for fact in facts_of(n.topic, str(n.originator_id), state):
                    if not engine.ingest(fact):
                        late.append((fact["tiebreak"], fact["tenant"],
                                     from_us(fact["at"]).isoformat(), n.id))
            last = notifications[-1].id if notifications else position
            done = last >= head
            changes = engine.advance(to_us(now) if now is not None and done else None)
            events = _events_for(ops, cursor, changes, policy_at)
            ops.sql.insert_stored_events(cursor, [ops.app.mapper.to_stored_event(e)
                                                  for e in events])
            ops.sql.executemany(cursor, f"INSERT INTO {ops.sql.table('alert_late_facts')} "
                                        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", late)
            ops.sql.execute(cursor, f"UPDATE {ops.sql.table(STATE)} SET position = ?, state = ? "
                                    "WHERE name = 'rules'",
                            (last, orjson.dumps(engine.state).decode()))
        total += len(changes)
        _deliver(events, subscribers)
        if done:
            return total


def forget_tenant(ops: Operations, tenant_id: str) -> int:
    """Drop a forgotten tenant from the process's state (windows, queued facts, late facts);
    returns how many late facts went."""
    with ops.sql.transaction(commit=True) as cursor:
        lock = " FOR UPDATE" if ops.sql.is_postgres else ""
        ops.sql.execute(cursor, f"SELECT state FROM {ops.sql.table(STATE)} "
                                f"WHERE name = 'rules'{lock}")
        state = orjson.loads(cursor.fetchone()["state"])
        if state:
            engine = RuleEngine(state, lambda _at: OperationsPolicy())
            engine.forget_tenant(tenant_id)
            ops.sql.execute(cursor, f"UPDATE {ops.sql.table(STATE)} SET state = ? "
                                    "WHERE name = 'rules'", (orjson.dumps(engine.state).decode(),))
        ops.sql.execute(cursor, f"DELETE FROM {ops.sql.table('alert_late_facts')} "
                                "WHERE tenant_id = ?", (tenant_id,))
        return ops.sql.rowcount(cursor)


def publish_watermark(ops: Operations) -> datetime | None:
    """How far the facts' own time has carried the rules (None before any fact)."""
    with ops.sql.transaction(commit=False) as cursor:
        ops.sql.execute(cursor, f"SELECT state FROM {ops.sql.table(STATE)} WHERE name = 'rules'")
        state = orjson.loads(cursor.fetchone()["state"])
    return None if not state or state["publish_wm"] is None else from_us(state["publish_wm"])


def _position(ops: Operations) -> int:
    with ops.sql.transaction(commit=False) as cursor:
        ops.sql.execute(cursor, f"SELECT position FROM {ops.sql.table(STATE)} "
                                "WHERE name = 'rules'")
        return int(cursor.fetchone()["position"])


def _deliver(events: Sequence[Any], subscribers: Sequence[tuple[Subscriber, frozenset[str]]]
             ) -> None:
    """Call each subscriber after the events are stored; a failure is retried, then logged,
    and never undoes or blocks the events."""
    for e in events:
        kind = type(e).__qualname__
        if not kind.startswith("Alert."):
            continue
        payload = {"kind": kind, "alert_id": str(e.originator_id),
                   **{k: v for k, v in vars(e).items() if k not in ("originator_id",)}}
        for callback, kinds in subscribers:
            if kinds and kind not in kinds:
                continue
            for attempt in range(3):
                try:
                    callback(payload)
                    break
                except Exception:
                    log.exception("alert subscriber %r failed (attempt %d of 3)", callback,
                                  attempt + 1)
