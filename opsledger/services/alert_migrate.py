"""Migration of the alert process's first state shape (one store-wide watermark) to
per-tenant event time, run once by the process before it reads on.

The first shape kept no fact log; this reads each tenant's facts from the event log up to
the process's position into ``alert_facts``, indexes the alerts already recorded, keeps
each tenant at the watermark it was evaluated to (what is recorded stays recorded), and
marks for re-evaluation the tenants whose facts it had skipped as late, so those facts
are evaluated at last (their alerts recorded as backfilled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from opsledger.domain import topics
from opsledger.domain.publish_state import read_publish
from opsledger.domain.rule_state import STATE_VERSION, migrate
from opsledger.domain.rules import to_us
from opsledger.projections._facts import moment
from opsledger.services import alert_backfill as backfill
from opsledger.services.alert_pack import pack
from opsledger.store.events import EventStore

__all__ = ["migrate_store"]


def migrate_store(store: EventStore, head: int, table: str,
                  facts_of: Callable[[str, str, dict[str, Any]], list[dict[str, Any]]]) -> None:
    """Bring a state of the first (store-wide) shape to per-tenant time: keep each tenant's
    facts from the log in the fact log, index the recorded alerts, and mark the tenants
    whose facts were skipped as late for re-evaluation."""
    with store.sql.transaction(commit=False) as cursor:
        store.sql.execute(cursor, f"SELECT position, state FROM {store.sql.table(table)} "
                                "WHERE name = 'rules'")
        row = cursor.fetchone()
    raw = orjson.loads(row["state"])
    if raw is not None and raw.get("v") == STATE_VERSION:
        return
    position = int(row["position"])
    seen = 0 if raw is not None else head  # never run: no fact kept, no alert recorded
    while seen < head:  # a batch at a time, each in its own transaction (memory stays flat)
        notifications = store.app.recorder.select_notifications(start=seen + 1, limit=1000,
                                                              stop=head)
        if not notifications:
            break
        _keep_batch(store, notifications, position, facts_of)
        seen = notifications[-1].id
    with store.sql.transaction(commit=True) as cursor:
        lock = store.sql.for_update
        store.sql.execute(cursor, f"SELECT position, state FROM {store.sql.table(table)} "
                                f"WHERE name = 'rules'{lock}")
        again = cursor.fetchone()
        if int(again["position"]) != position or again["state"] != row["state"]:
            return  # another process migrated (or moved on) meanwhile
        store.sql.execute(cursor, f"SELECT DISTINCT tenant_id FROM "
                                f"{store.sql.table('alert_late_facts')}")
        late = {r["tenant_id"] for r in cursor.fetchall()}
        store.sql.execute(cursor, f"UPDATE {store.sql.table(table)} SET state = ? "
                                "WHERE name = 'rules'",
                        (orjson.dumps(migrate(raw, late)).decode(),))


def _keep_batch(store: EventStore, notifications: Sequence[Any], position: int,
                facts_of: Callable[[str, str, dict[str, Any]], list[dict[str, Any]]]) -> None:
    """One batch of the log: its facts (up to ``position``, collision flags as later
    reclassified) into the fact log, its alert events into the index. Idempotent."""
    facts: list[tuple[Any, ...]] = []
    reclassified: list[tuple[str, str, bool]] = []
    triggered: list[tuple[Any, ...]] = []
    resolved: list[tuple[Any, ...]] = []
    for n in notifications:
        state = store.decode_state(n.state)
        if state is None:
            continue
        if n.id <= position:
            for idx, fact in enumerate(facts_of(n.topic, str(n.originator_id), state)):
                facts.append((fact["tenant"], n.id, idx, fact["at"], str(fact["tiebreak"]),
                              0, pack(backfill.lean(fact))))
            publish = read_publish(n.topic, state)
            if publish is not None:
                reclassified += [(publish.tenant_id, c["operation_id"], bool(c["collision"]))
                                 for c in publish.reclassified]
        if n.topic == topics.ALERT_TRIGGERED:
            triggered.append((str(n.originator_id), state["tenant_id"], state["rule"],
                              to_us(moment(state["occurred_at"]))))
        elif n.topic == topics.ALERT_RESOLVED:
            resolved.append((to_us(moment(state["occurred_at"])), str(n.originator_id)))
    with store.sql.transaction(commit=True) as cursor:
        backfill.store_facts(store, cursor, facts)
        for tenant, operation_id, collision in reclassified:
            backfill.reclassify_stored(store, cursor, tenant, operation_id, collision)
        index = store.sql.table(backfill.INDEX)
        store.sql.executemany(cursor, f"INSERT INTO {index} VALUES (?, ?, ?, ?, NULL, 0, 0) "
                                    "ON CONFLICT DO NOTHING", triggered)
        store.sql.executemany(cursor, f"UPDATE {index} SET resolved_at = ? WHERE id = ?",
                            resolved)
