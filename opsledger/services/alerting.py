"""The alert process: follows the event log, evaluates the rules on business time and
writes Alert events — with its position and its engine state — in one transaction, so
each fact is evaluated exactly once and a crash resumes where the last commit left off.

Imports, replays and live recording all go through :func:`evaluate`; only the watermark
source differs (each tenant's facts' own time, or the clock passed as ``now``). Each
tenant has its own watermark; facts behind it are re-evaluated (``_alert_backfill``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from opsledger import results as rs
from opsledger.domain import topics
from opsledger.domain.alert import RULES, Alert, alert_uuid
from opsledger.domain.incident import Incident, Severity
from opsledger.domain.ledger import PolicyLedger
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.publish_state import read_publish
from opsledger.domain.rule_state import migrate
from opsledger.domain.rules import Change, RuleEngine, from_us, to_us
from opsledger.domain.time import iso_utc, utc
from opsledger.projections import alert_rows
from opsledger.projections._facts import moment
from opsledger.projections.alerts import actionable
from opsledger.services import alert_backfill as backfill
from opsledger.services import alert_fresh as fresh_rows
from opsledger.services.alert_migrate import migrate_store
from opsledger.services.alert_pack import pack
from opsledger.services.policies import Policies
from opsledger.services.recording import load_many
from opsledger.services.tenants import Tenants
from opsledger.services.views import Views
from opsledger.store.asof import evaluated_by
from opsledger.store.events import EventStore

__all__ = ["AlertProcess", "Subscriber", "evaluate", "facts_of", "late_facts", "position",
           "publish_watermarks"]

log = logging.getLogger("opsledger.alerts")
STATE = "alert_process"
_ALERT = topics.action(topics.ALERT_PREFIX)  # what an alert event's class name starts with
_JUDGED = topics.action(topics.ALERT_JUDGED)
Subscriber = Callable[[dict[str, Any]], None]


def create_tables(sql: Any, cursor: Any) -> None:
    """The process's own state: position and engine state; its fact log and alert index
    (``alert_late_facts`` is the first shape's record of skipped facts, read to migrate)."""
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(STATE)} (name TEXT PRIMARY KEY, "
                        "position BIGINT NOT NULL, state TEXT NOT NULL)")
    sql.execute(cursor, f"INSERT INTO {sql.table(STATE)} VALUES ('rules', 0, 'null') "
                        "ON CONFLICT (name) DO NOTHING")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table('alert_late_facts')} "
                        "(operation_id TEXT PRIMARY KEY, tenant_id TEXT, occurred_at TEXT, "
                        "position BIGINT)")
    backfill.create_tables(sql, cursor)
    fresh_rows.create_tables(sql, cursor)


def facts_of(topic: str, stream_id: str, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule facts in one stored event (lean: reads the JSON state)."""
    op = read_publish(topic, state)
    if op is not None:
        return [{
            "kind": "publish", "at": to_us(moment(op.occurred_at)),
            "tiebreak": op.operation_id, "tenant": op.tenant_id,
            "repository": op.repository_id, "idempotency_key": op.idempotency_key,
            "payload_hash": op.payload_hash, "ok": op.ok,
            "latency_ms": op.latency_ms, "error_code": op.error_code,
            "collision": op.collision, "accepted": op.accepted,
            "local_only": op.tenant_mode == "local_only",
        }]
    if topic in (topics.VISIBILITY_OBSERVED, topics.VISIBILITY_SEEN):
        return [{"kind": "visible", "at": to_us(moment(state["occurred_at"])),
                 "tiebreak": stream_id, "tenant": state["tenant_id"],
                 "repository": state["repository_id"],
                 "idempotency_key": state["idempotency_key"],
                 "payload_hash": state["payload_hash"]}]
    if topic == topics.INCIDENT_RESOLVED and state["alert_ids"] and state["tenant_id"]:
        return [{"kind": "incident_resolved", "at": to_us(moment(state["occurred_at"])),
                 "tiebreak": stream_id, "tenant": state["tenant_id"],
                 "alert_ids": state["alert_ids"]}]
    if topic == topics.TENANT_BOUNDARY_VIOLATION_CONFIRMED:
        return [{"kind": "violation", "at": to_us(moment(state["occurred_at"])),
                 "tiebreak": state["violation_id"], "tenant": state["tenant_id"],
                 "repository": state["repository_id"]}]
    return []


#: rule -> the cause of the incident its alert opens (policy §3/§4); the severity is the
#: policy's (``alerts.auto_incident``).
AUTO_CAUSES = {
    "tenant_boundary_violation": "tenant_isolation_breach",
    "no_successful_ingestion": "ingestion_outage",
    "publish_error_rate": "partial_publish_failures",
    "auth_scope_failures": "degraded_ingestion",
    "idempotency_collision_rate": "degraded_ingestion",
    "publish_latency_p95": "latency",
    "freshness_under_target": "degraded_ingestion",
}


def _incident_for(change: Change, alert_id: Any, policy: OperationsPolicy) -> Incident | None:
    """The incident an alert opens (as the policy in force says), linked both ways."""
    severity = policy.alerts.auto_incident(change.rule)
    if severity is None:
        return None
    at = from_us(change.at)
    return Incident.open(key=f"alert/{alert_id}", severity=Severity(severity),
                         tenant_id=change.tenant, title=f"{change.rule} for {change.tenant}",
                         cause=AUTO_CAUSES.get(change.rule, "other"), by="opsledger", at=at,
                         policy=policy,
                         alert_ids=[str(alert_id)])


def _new_alert(change: Change, details: dict[str, Any],
               policy_at: Callable[[datetime], OperationsPolicy]) -> list[Any]:
    """A triggered alert (and the incident it opens), not yet collected."""
    triggered_at = from_us(change.triggered_at)
    alert_id = alert_uuid(change.tenant, change.rule, triggered_at)
    incident = _incident_for(change, alert_id, policy_at(triggered_at))
    alert = Alert(
        tenant_id=change.tenant, rule=change.rule, level=RULES[change.rule][0],
        repository_id=change.repository, occurred_at=triggered_at,
        window_start=from_us(change.window_start or change.at),
        window_end=from_us(change.window_end or change.at),
        observed=change.observed, threshold=change.threshold,
        details={"incident_id": str(incident.id) if incident else None, **details})
    return [alert] if incident is None else [alert, incident]


def _events_for(store: EventStore, cursor: Any, changes: Sequence[Change],
                policy_at: Callable[[datetime], OperationsPolicy], seq: int) -> list[Any]:
    """Alert (and auto-incident) events for the engine's changes; resolutions load their
    alert inside the transaction."""
    created: dict[Any, Any] = {}
    for change in changes:
        alert_id = alert_uuid(change.tenant, change.rule, from_us(change.triggered_at))
        if change.kind == "triggered":
            for aggregate in _new_alert(change, {}, policy_at):
                created[aggregate.id] = aggregate
            continue
        alert = created.get(alert_id) or load_many(store.app, store.sql, cursor,
                                                   [alert_id])[alert_id]
        created[alert_id] = alert
        alert.resolve(from_us(change.at), change.reason or "condition cleared")
    backfill.index_changes(store, cursor, changes, seq)
    return [e for alert in created.values() for e in alert.collect_events()]


def evaluate(store: EventStore, head: int, ledger: PolicyLedger | None,
             now: datetime | None = None, batch: int = 1000,
             subscribers: Sequence[tuple[Subscriber, frozenset[str]]] = ()) -> int:
    """Run the process to the end of the log (and to ``now - lateness`` if given).

    Each tenant is evaluated on its own event time. Facts that arrive behind their
    tenant's watermark are kept and counted as late; once the log is read, each such
    tenant is evaluated again from its stored facts and the difference recorded
    (backfilled, resolved, revised or withdrawn alerts). Returns the number of alert
    changes recorded. ``head`` is the log position the views have reached (the process
    reads no further); ``ledger`` the policy ledger (``None``: the default policy).
    """
    total = 0
    default = OperationsPolicy()
    policy_at = ledger.timeline() if ledger else (lambda _at: default)
    migrate_store(store, head, STATE, facts_of)
    while True:
        seen = _position(store)
        notifications = store.app.recorder.select_notifications(
            start=seen + 1, limit=batch, stop=head) if seen < head else []
        with store.sql.transaction(commit=True) as cursor:
            lock = store.sql.for_update
            store.sql.execute(cursor, f"SELECT position, state FROM {store.sql.table(STATE)} "
                                    f"WHERE name = 'rules'{lock}")
            row = cursor.fetchone()
            position = int(row["position"])
            if position != seen:  # another process evaluated these facts meanwhile
                continue
            engine = RuleEngine(orjson.loads(row["state"]), policy_at,
                                lambda tenant: fresh_rows.FreshRows(store.sql, cursor, tenant))
            _ingest(store, cursor, engine, notifications)
            last = notifications[-1].id if notifications else position
            done = last >= head
            changes = engine.advance(to_us(now) if now is not None and done else None)
            events = _events_for(store, cursor, changes, policy_at, last)
            recorded = len(changes)
            for tenant in engine.pending_reruns() if done else ():
                more, _ = backfill.rerun(store, cursor, engine, tenant,
                                         lambda c, d: _new_alert(c, d, policy_at), last)
                events += more
                recorded += sum(1 for e in more if type(e).__qualname__.startswith(_ALERT))
            backfill.save_checkpoints(store, cursor, engine, last)
            store.sql.insert_stored_events(cursor, [store.app.mapper.to_stored_event(e)
                                                  for e in events])
            store.sql.execute(cursor, f"UPDATE {store.sql.table(STATE)} "
                                      "SET position = ?, state = ? WHERE name = 'rules'",
                            (last, orjson.dumps(engine.state).decode()))
        total += recorded
        _deliver(events, subscribers)
        if done:
            return total


def _ingest(store: EventStore, cursor: Any, engine: RuleEngine, notifications: Sequence[Any]
            ) -> None:
    """Give the engine every fact of ``notifications`` and keep them (late ones flagged)
    in the process's fact log."""
    rows: list[list[Any]] = []
    by_op: dict[tuple[str, str], list[Any]] = {}
    for n in notifications:
        opened = store.decode_state(n.state)
        if opened is None:  # a forgotten tenant's event
            continue
        state = opened
        publish = read_publish(n.topic, state)
        for change in () if publish is None else publish.reclassified:
            tenant, op_id = state["tenant_id"], change["operation_id"]
            engine.reclassify(tenant, op_id, bool(change["collision"]))
            backfill.reclassify_stored(store, cursor, tenant, op_id, bool(change["collision"]))
            for kept in by_op.get((tenant, op_id), ()):
                kept[6]["collision"] = bool(change["collision"])
        for idx, fact in enumerate(facts_of(n.topic, str(n.originator_id), state)):
            late = not engine.ingest(fact)
            row = [fact["tenant"], n.id, idx, fact["at"], str(fact["tiebreak"]), int(late),
                   backfill.lean(fact)]
            rows.append(row)
            by_op.setdefault((fact["tenant"], str(fact["tiebreak"])), []).append(row)
    backfill.store_facts(store, cursor, (
        (*r[:6], pack(r[6])) for r in rows))


def forget_tenant(store: EventStore, tenant_id: str) -> int:
    """Drop a forgotten tenant from the process's state (time, windows, queued facts), its
    fact log, alert index and freshness rows; returns how many of its facts went."""
    with store.sql.transaction(commit=True) as cursor:
        lock = store.sql.for_update
        store.sql.execute(cursor, f"SELECT state FROM {store.sql.table(STATE)} "
                                f"WHERE name = 'rules'{lock}")
        state = orjson.loads(cursor.fetchone()["state"])
        if state:
            engine = RuleEngine(state, lambda _at: OperationsPolicy())
            engine.forget_tenant(tenant_id)
            store.sql.execute(cursor, f"UPDATE {store.sql.table(STATE)} SET state = ? "
                                    "WHERE name = 'rules'", (orjson.dumps(engine.state).decode(),))
        removed = 0
        for table in ("alert_late_facts", backfill.FACTS, backfill.INDEX, backfill.CHECKPOINTS):
            store.sql.execute(cursor, f"DELETE FROM {store.sql.table(table)} WHERE tenant_id = ?",
                            (tenant_id,))
            if table in ("alert_late_facts", backfill.FACTS):
                removed += store.sql.rowcount(cursor)
        fresh_rows.forget(store.sql, cursor, tenant_id)
        return removed


def publish_watermarks(store: EventStore) -> dict[str, datetime]:
    """How far each tenant's own time has carried its rules (tenants with no time yet are
    absent)."""
    with store.sql.transaction(commit=False) as cursor:
        store.sql.execute(cursor, f"SELECT state FROM {store.sql.table(STATE)} "
                                  "WHERE name = 'rules'")
        state = migrate(orjson.loads(cursor.fetchone()["state"]))
    return {name: from_us(t["publish_wm"]) for name, t in sorted(state["tenants"].items())
            if t["publish_wm"] is not None}


def late_facts(store: EventStore) -> dict[str, dict[str, int]]:
    """Per tenant: facts that arrived behind its watermark (``late``) and how many of them
    are still waiting for re-evaluation (``pending``; the next evaluation takes them)."""
    with store.sql.transaction(commit=False) as cursor:
        store.sql.execute(cursor, f"SELECT tenant_id, late, COUNT(*) AS n FROM "
                                f"{store.sql.table(backfill.FACTS)} WHERE late > 0 "
                                "GROUP BY tenant_id, late")
        found: dict[str, dict[str, int]] = {}
        for r in cursor.fetchall():
            counts = found.setdefault(r["tenant_id"], {"late": 0, "pending": 0})
            counts["late"] += int(r["n"])
            if int(r["late"]) == 1:
                counts["pending"] += int(r["n"])
    return dict(sorted(found.items()))


def position(store: EventStore) -> int:
    """The last log position the process has evaluated."""
    return _position(store)


def _position(store: EventStore) -> int:
    with store.sql.transaction(commit=False) as cursor:
        store.sql.execute(cursor, f"SELECT position FROM {store.sql.table(STATE)} "
                                "WHERE name = 'rules'")
        return int(cursor.fetchone()["position"])


def _deliver(events: Sequence[Any], subscribers: Sequence[tuple[Subscriber, frozenset[str]]]
             ) -> None:
    """Call each subscriber after the events are stored; a failure is retried, then logged,
    and never undoes or blocks the events."""
    for e in events:
        kind = type(e).__qualname__
        if not kind.startswith(_ALERT):
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


def _judgement_as_of(store: EventStore, row: dict[str, Any], at: datetime) -> None:
    """Operators' judgement as it stood at ``at``: an acknowledgement recorded later is left
    out; a verdict recorded later gives way to the one in force then (read from the alert's
    own events: a re-judged alert keeps its earlier verdict in every earlier read)."""
    when = iso_utc(at)
    if row["acknowledged_at"] is not None and row["acknowledged_at"] > when:
        row["acknowledged_at"] = row["acknowledged_by"] = None
    if row["judged_at"] is not None and row["judged_at"] > when:
        row["verdict"] = row["verdict_reason"] = row["judged_by"] = row["judged_at"] = None
        for event in store.app.events.get(UUID(row["id"])):
            fields = vars(event)
            if type(event).__qualname__ == _JUDGED and fields["occurred_at"] <= at:
                row.update(verdict=fields["verdict"], verdict_reason=fields["reason"],
                           judged_by=fields["by"], judged_at=iso_utc(fields["occurred_at"]))
    row["actionable"] = actionable(row)


class AlertProcess:
    """The alert process as a service (policy §4): evaluation, its status, subscribers,
    and the alert history as it stands or stood."""

    def __init__(self, store: EventStore, policies: Policies, views: Views,
                 tenants: Tenants) -> None:
        self._store = store
        self._policies = policies
        self._views = views
        self._tenants = tenants
        self.subscribers: list[tuple[Subscriber, frozenset[str]]] = []

    def subscribe(self, callback: Subscriber,
                  kinds: tuple[str, ...] = (topics.action(topics.ALERT_TRIGGERED),
                                             topics.action(topics.ALERT_RESOLVED))) -> None:
        """Call ``callback(event)`` after each alert event this process stores. A failing
        callback is retried and logged; it never loses or blocks the event.

        Best-effort, for embedding: a callback that keeps failing (or a process that stops)
        misses the notification for good. The reliable path is the notification outbox
        (``deliver_notifications``, ``opsledger notify run``): derived from the log, retried
        with backoff, delivered at least once."""
        self.subscribers.append((callback, frozenset(kinds)))

    def evaluate_alerts(self, now: datetime | None = None) -> int:
        """Run the alert process over every new fact; returns the alert changes recorded."""
        return evaluate(self._store, self._views.runner.head(), self._policies.ledger(),
                        now=now, subscribers=self.subscribers)

    def late_alert_facts(self) -> rs.LateAlertFacts:
        """Per tenant, facts that arrived behind its own event time (``late``) and how many
        still wait for re-evaluation (``pending``); tenants with none are absent."""
        return rs.LateAlertFacts.of(late_facts(self._store))

    def alert_process_status(self) -> rs.AlertProcessStatus:
        """The alert process's position in the log and its late facts per tenant."""
        return rs.AlertProcessStatus.of({"position": position(self._store),
                                         "late_facts": late_facts(self._store)})

    def forget_tenant(self, tenant_id: str) -> int:
        """Drop a forgotten tenant from the process (see :func:`forget_tenant`)."""
        return forget_tenant(self._store, tenant_id)

    def alerts(
        self,
        *,
        tenant_id: str | None = None,
        all_tenants: bool = False,
        rule: str | None = None,
        open_only: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        as_of: datetime | None = None,
        include_withdrawn: bool = False,
    ) -> list[rs.Alert]:
        """Alert history in scope (a tenant, or every tenant with ``all_tenants``); with
        ``as_of``, as it stood then: alerts the rules had evaluated by that time (they
        wait behind the watermark), open if not yet resolved then. Alerts found by
        re-evaluating late facts are flagged ``backfilled`` (with ``found_at``); those late
        facts showed never held are ``withdrawn`` and listed only with
        ``include_withdrawn``."""
        self._tenants.check_scope(tenant_id, all_tenants, "an alert query")
        self.evaluate_alerts()
        self._views.catch_up()
        rows = alert_rows(self._store.sql, None if all_tenants else tenant_id, rule, False,
                          since, until, include_withdrawn)
        if as_of is not None:
            moment_ = utc(as_of, "as_of")
            cutoff = iso_utc(evaluated_by(
                moment_, self._policies.policy_at(moment_).alerts.allowed_lateness_seconds))
            rows = [r for r in rows if r["triggered_at"] <= cutoff]
            for r in rows:
                if r["resolved_at"] is not None and r["resolved_at"] > cutoff:
                    r["resolved_at"] = r["resolution"] = None
                _judgement_as_of(self._store, r, moment_)
        return list(rs.Alert.of(r) for r in rows if not open_only or r["resolved_at"] is None)
