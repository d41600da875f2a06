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

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from opsledger.domain.alert import alert_uuid
from opsledger.domain.freshness_rule import fresh_digest
from opsledger.domain.rules import Change, RuleEngine, from_us
from opsledger.services.alert_fresh import FreshRows
from opsledger.services.alert_pack import pack, unpack, widen_columns
from opsledger.services.recording import load_many
from opsledger.store.events import EventStore

__all__ = ["CHECKPOINTS", "FACTS", "INDEX", "create_tables", "facts_between", "index_changes",
           "lean", "reclassify_stored", "rerun", "save_checkpoints", "store_facts"]

FACTS = "alert_facts"
INDEX = "alert_process_alerts"
CHECKPOINTS = "alert_checkpoints"
CHECKPOINT_EVERY = 3_600_000_000  # an hour of the tenant's event time (microseconds)
CHECKPOINT_KEEP = 7 * 24 * CHECKPOINT_EVERY
#: a checkpoint copies the freshness rows it must restore; while more than this are held
#: (a stream without a watermark: an audit imported before its snapshots) none is taken,
#: so a checkpoint stays small and taking one costs the same whatever the history
CHECKPOINT_FRESH_ROWS = 2_000


def create_tables(sql: Any, cursor: Any) -> None:
    """The per-tenant fact log and the index of recorded alerts (facts and checkpoints
    packed: :mod:`opsledger.services.alert_pack`)."""
    blob = "BYTEA" if sql.is_postgres else "BLOB"
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(FACTS)} (tenant_id TEXT NOT "
                        "NULL, position BIGINT NOT NULL, idx INTEGER NOT NULL, at BIGINT NOT "
                        f"NULL, tiebreak TEXT NOT NULL, late INTEGER NOT NULL, fact {blob} NOT "
                        "NULL, PRIMARY KEY (tenant_id, position, idx))")
    sql.execute(cursor, f"CREATE INDEX IF NOT EXISTS alert_facts_op ON {sql.table(FACTS)} "
                        "(tenant_id, tiebreak)")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(INDEX)} (id TEXT PRIMARY KEY, "
                        "tenant_id TEXT NOT NULL, rule TEXT NOT NULL, triggered_at BIGINT NOT "
                        "NULL, resolved_at BIGINT, withdrawn INTEGER NOT NULL, seq BIGINT NOT "
                        "NULL)")
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(CHECKPOINTS)} (tenant_id TEXT "
                        "NOT NULL, position BIGINT NOT NULL, publish_wm BIGINT, visible_wm "
                        f"BIGINT, state {blob} NOT NULL, PRIMARY KEY (tenant_id, position))")
    widen_columns(sql, cursor, {FACTS: "fact", CHECKPOINTS: "state"})


def lean(fact: dict[str, Any]) -> dict[str, Any]:
    """The fact as stored for re-runs: the freshness key as a digest."""
    if "idempotency_key" not in fact:
        return fact
    return {**fact, "idempotency_key": fresh_digest(fact["idempotency_key"],
                                                    fact["payload_hash"]),
            "payload_hash": ""}


def facts_between(sql: Any, start: int, end: int, tenant: str | None = None
                  ) -> list[dict[str, Any]]:
    """Every stored rule fact (lean) with ``start <= at < end`` (microseconds), of one
    tenant or all, in the order the rules take them: time, tenant, tiebreak."""
    where = "at >= ? AND at < ?"
    params: list[Any] = [start, end]
    if tenant is not None:
        where, params = where + " AND tenant_id = ?", [*params, tenant]
    rows = sql.fetch(f"SELECT fact FROM {sql.table(FACTS)} WHERE {where}", params)
    facts = [unpack(r["fact"]) for r in rows]
    return sorted(facts, key=lambda f: (f["at"], f["tenant"], f["tiebreak"], f["kind"]))


def store_facts(store: EventStore, cursor: Any, rows: Iterable[tuple[Any, ...]]) -> None:
    """Append (tenant, position, idx, at, tiebreak, late, packed fact) rows."""
    store.sql.executemany(cursor, f"INSERT INTO {store.sql.table(FACTS)} VALUES "
                                "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", list(rows))


def reclassify_stored(store: EventStore, cursor: Any, tenant: str, operation_id: str,
                      collision: bool) -> None:
    """Fix the collision flag of a stored fact (a batch's original moved)."""
    store.sql.execute(cursor, f"SELECT position, idx, fact FROM {store.sql.table(FACTS)} "
                            "WHERE tenant_id = ? AND tiebreak = ?", (tenant, operation_id))
    for row in cursor.fetchall():
        fact = unpack(row["fact"])
        fact["collision"] = collision
        store.sql.execute(cursor, f"UPDATE {store.sql.table(FACTS)} SET fact = ? WHERE "
                                "tenant_id = ? AND position = ? AND idx = ?",
                        (pack(fact), tenant, row["position"], row["idx"]))


def index_changes(store: EventStore, cursor: Any, changes: Iterable[Change], seq: int) -> None:
    """Keep the index of recorded alerts in step with the changes recorded at ``seq`` (the
    process's position then)."""
    for c in changes:
        alert_id = str(alert_uuid(c.tenant, c.rule, from_us(c.triggered_at)))
        if c.kind == "triggered":
            store.sql.execute(cursor, f"INSERT INTO {store.sql.table(INDEX)} VALUES "
                                    "(?, ?, ?, ?, NULL, 0, ?) ON CONFLICT DO NOTHING",
                            (alert_id, c.tenant, c.rule, c.triggered_at, seq))
        else:
            store.sql.execute(cursor, f"UPDATE {store.sql.table(INDEX)} SET resolved_at = ? "
                                    "WHERE id = ?", (c.at, alert_id))


def _checkpoint_before(store: EventStore, cursor: Any, tenant: str, since: dict[str, Any]
                       ) -> tuple[int, dict[str, Any] | None]:
    """The newest checkpoint older than every late fact: (its position, its state); (0,
    None) when none serves (a re-run from zero)."""
    if since["zero"]:
        return 0, None
    clauses, params = ["tenant_id = ?"], [tenant]
    for stream in ("publish", "visible"):
        if since[stream] is not None:
            clauses.append(f"({stream}_wm IS NULL OR {stream}_wm < ?)")
            params.append(since[stream])
    store.sql.execute(cursor, f"SELECT position, state FROM {store.sql.table(CHECKPOINTS)} WHERE "
                            f"{' AND '.join(clauses)} ORDER BY position DESC LIMIT 1", params)
    row = cursor.fetchone()
    return (0, None) if row is None else (int(row["position"]), unpack(row["state"]))


def save_checkpoints(store: EventStore, cursor: Any, engine: RuleEngine, position: int) -> None:
    """Keep a checkpoint of each clean tenant at ``position`` once its time has moved an
    hour past its last one (its freshness rows included, unless more than
    ``CHECKPOINT_FRESH_ROWS`` are held), and forget those more than a week behind it: a
    re-run starts from the newest checkpoint older than its late facts (from zero beyond a
    week)."""
    for tenant, t in sorted(engine.state["tenants"].items()):
        wm, last = t["publish_wm"], t.get("checkpoint_wm")
        if wm is None or (last is not None and wm - last < CHECKPOINT_EVERY):
            continue
        state = engine.checkpoint(tenant)
        if state is None:
            continue
        if state["fresh"].get("external"):
            held = FreshRows(store.sql, cursor, tenant).snapshot(CHECKPOINT_FRESH_ROWS)
            state["fresh"] = None if held is None else {
                **held, "last_under": state["fresh"]["last_under"]}
        if state["fresh"] is not None:  # else too much held: an older one serves, or zero
            store.sql.execute(cursor, f"INSERT INTO {store.sql.table(CHECKPOINTS)} VALUES "
                                    "(?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            (tenant, position, wm, t["visible_wm"], pack(state)))
        store.sql.execute(cursor, f"DELETE FROM {store.sql.table(CHECKPOINTS)} WHERE tenant_id = ? "
                                "AND publish_wm < ?", (tenant, wm - CHECKPOINT_KEEP))
        t["checkpoint_wm"] = wm


def rerun(store: EventStore, cursor: Any, engine: RuleEngine, tenant: str,
          new_alert: Callable[[Change, dict[str, Any]], list[Any]], seq: int
          ) -> tuple[list[Any], int]:
    """Evaluate ``tenant`` again from the newest checkpoint before its late facts (bounded:
    only the facts that came after it are read) and record the difference with what was
    recorded since then; returns (events to store, alerts backfilled)."""
    base_position, base = _checkpoint_before(store, cursor, tenant, engine.rerun_from(tenant))
    store.sql.execute(cursor, f"SELECT fact FROM {store.sql.table(FACTS)} WHERE tenant_id = ? "
                            "AND position > ?", (tenant, base_position))
    facts = [unpack(r["fact"]) for r in cursor.fetchall()]
    missed_until = engine.missed_until(tenant)
    triggers: dict[str, Change] = {}
    ends: dict[str, Change] = {}
    for c in engine.rerun(tenant, facts, base):
        alert_id = str(alert_uuid(c.tenant, c.rule, from_us(c.triggered_at)))
        (triggers if c.kind == "triggered" else ends)[alert_id] = c
    t = engine.state["tenants"][tenant]
    t["checkpoint_wm"] = None if base is None else base["publish_wm"]
    found_at = from_us(t["publish_wm"]) if t["publish_wm"] is not None else None
    open_at_base = {str(alert_uuid(tenant, rule, from_us(o["triggered_at"])))
                    for rule, o in (base or {}).get("open", {}).items()}
    store.sql.execute(cursor, f"SELECT id, resolved_at, withdrawn, seq FROM "
                            f"{store.sql.table(INDEX)} WHERE tenant_id = ?", (tenant,))
    rows = cursor.fetchall()
    recorded = {r["id"]: (r["resolved_at"], bool(r["withdrawn"])) for r in rows}
    since_base = {r["id"] for r in rows if int(r["seq"]) > base_position} | open_at_base
    events: list[Any] = []
    backfilled = 0
    details = {"backfilled": True, "found_at": found_at.isoformat() if found_at else None}
    for alert_id, trigger in sorted(triggers.items(), key=lambda kv: kv[1].at):
        resolution = ends.get(alert_id)
        if alert_id not in recorded:
            missed = missed_until is not None and trigger.at <= missed_until
            created = new_alert(trigger, details if missed else {})  # alert, then incident
            backfilled += int(missed)
            if resolution is not None:
                created[0].resolve(from_us(resolution.at),
                                   resolution.reason or "condition cleared")
            events += [e for aggregate in created for e in aggregate.collect_events()]
            index_changes(store, cursor, [trigger, *([resolution] if resolution else [])], seq)
    for alert_id in sorted(since_base | set(triggers)):
        if alert_id not in recorded or (alert_id not in triggers and alert_id not in
                                        open_at_base):
            continue
        resolution = ends.get(alert_id)
        end = resolution.at if resolution is not None else None
        if recorded[alert_id] != (end, False):
            plain = recorded[alert_id] == (None, False) and end is not None
            reason = (resolution.reason if plain and resolution else None) or \
                "late facts moved its end"
            events += _amend(store, cursor, alert_id, end, False, reason, found_at, plain)
            _set_index(store, cursor, alert_id, end, False)
    for alert_id in sorted(since_base - set(triggers) - open_at_base):
        end, withdrawn = recorded.get(alert_id, (None, True))
        if not withdrawn:
            events += _amend(store, cursor, alert_id, end, True,
                             "late facts show its condition did not hold", found_at, False)
            _set_index(store, cursor, alert_id, end, True)
    store.sql.execute(cursor, f"DELETE FROM {store.sql.table(CHECKPOINTS)} WHERE tenant_id = ? "
                            "AND position > ?", (tenant, base_position))
    store.sql.execute(cursor, f"UPDATE {store.sql.table(FACTS)} SET late = 2 WHERE tenant_id = ? "
                            "AND late = 1", (tenant,))
    return events, backfilled


def _set_index(store: EventStore, cursor: Any, alert_id: str, end: int | None,
               withdrawn: bool) -> None:
    store.sql.execute(cursor, f"UPDATE {store.sql.table(INDEX)} SET resolved_at = ?, "
                            "withdrawn = ? WHERE id = ?", (end, int(withdrawn), alert_id))


def _amend(store: EventStore, cursor: Any, alert_id: str, end: int | None, withdrawn: bool,
           reason: str, found_at: datetime | None, plain: bool) -> list[Any]:
    """Resolve (``plain``: it was open and now ends) or revise one recorded alert."""
    uid = UUID(alert_id)
    alert = load_many(store.app, store.sql, cursor, [uid])[uid]
    if plain and end is not None:
        alert.resolve(from_us(end), reason)
    else:
        alert.revise(None if end is None else from_us(end), withdrawn, reason,
                     found_at or alert.triggered_at)
    return list(alert.collect_events())

