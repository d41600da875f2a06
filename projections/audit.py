"""The audit trail (policy §5): every publish operation and outcome, every refusal, every
operator action with its actor. Queries are scoped to one tenant unless the caller asks
for the operator scope explicitly; a tenant-scoped query never returns another's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from opsledger.domain import topics
from opsledger.domain.publish import UNKNOWN_KEY
from opsledger.domain.publish_state import StoredPublish, read_publish
from opsledger.projections._audit_reads import (
    AuditQuery,
    action_rows,
    actions_named,
    publish_rows,
    refusal_rows,
    summary_rows,
)
from opsledger.projections._facts import Fact, iso
from opsledger.projections._sql import SqlStore, create_index

__all__ = [
    "PUBLISH_COLUMNS",
    "AuditQuery",
    "AuditView",
    "action_rows",
    "actions_named",
    "publish_rows",
    "refusal_rows",
    "summary_rows",
]

#: Publish rows of a load from zero begun before ``audit_publish`` kept its operation ids
#: in a deferrable unique index (see :meth:`AuditView.finish_load`).
STAGED = "audit_publish_load"
#: Collision flags a load from zero changes, applied set-wise at the head (while loading,
#: ``audit_publish`` has no index on the operation's identity to update one row by).
FLIPS = "audit_flips_load"
#: The same, of a load begun before an operation's identity was (tenant, operation id).
LEGACY_FLIPS = "audit_flip_load"
#: An operation's identity is (tenant, operation id): the same Pumuki ``event_id`` under
#: two tenants is two operations. Deferrable like the query indexes (see ``indexes``).
IDENTITY = ("audit_publish_identity", "audit_publish", "tenant_id, operation_id", True)
#: The unique index of the layout before: the operation id alone, across every tenant.
LEGACY_IDENTITY = "audit_publish_operation"
REFUSED = topics.REFUSED_COMMAND_REFUSED
#: Operators' judgements of alerts (an alert's other events are the rules', not actions).
ALERT_JUDGEMENTS = (topics.ALERT_ACKNOWLEDGED, topics.ALERT_JUDGED,
                    topics.ALERT_LINKED_TO_INCIDENT)
ACTION_PREFIXES = (topics.TENANT_PREFIX, topics.POLICY_LEDGER_PREFIX, topics.GO_LIVE_GATE_PREFIX,
                   topics.ERASURE_PREFIX, topics.API_TOKEN_PREFIX,
                   *ALERT_JUDGEMENTS)
#: State fields an audited action never shows (an API token's secret hash).
HIDDEN_DETAILS = ("timestamp", "originator_topic", "occurred_at", "by", "secret_hash")

PUBLISH_COLUMNS = (
    "operation_id", "tenant_id", "repository_id", "idempotency_key", "key_missing",
    "payload_hash", "occurred_at", "outcome", "attempts", "latency_ms", "error_code",
    "status", "request_id", "endpoint", "retryable", "collision", "source", "tenant_mode",
    "batch_id", "notification_id",
)
REFUSAL_COLUMNS = (
    "refusal_id", "command", "subject_id", "tenant_id", "repository_id", "reason", "message",
    "occurred_at", "notification_id",
)
ACTION_COLUMNS = (
    "notification_id", "stream_id", "tenant_id", "action", "actor", "occurred_at", "details",
)


def _marks(columns: Sequence[str]) -> str:
    return ",".join("?" * len(columns))


def _create(
    sql: SqlStore, name: str, columns: Sequence[str], key: str | None, types: dict[str, str]
) -> str:
    cols = ", ".join(f"{c} {types.get(c, 'TEXT')}" for c in columns)
    primary = f", PRIMARY KEY ({key})" if key else ""
    return f"CREATE TABLE IF NOT EXISTS {sql.table(name)} ({cols}{primary})"


class AuditView:
    """Tables ``audit_publish``, ``audit_refusal`` and ``audit_action``."""

    name = "audit"
    #: Bump when the tables or the rows written change: stores rebuild the view on open.
    #: 2: operators' judgements of alerts are audited actions.
    version: int = 2
    tables: tuple[str, ...] = ("audit_publish", "audit_refusal", "audit_action")
    #: Tables and indexes of loads (and of the layout before) it may create or drop.
    load_tables = (STAGED, FLIPS, LEGACY_FLIPS, LEGACY_IDENTITY)
    #: Deferrable indexes (name, table, columns[, unique]): dropped while the view is
    #: loaded from zero, created again once it has reached the head of the log. The
    #: operation's identity (tenant, operation id) is one of them: a load appends publish
    #: rows to
    #: ``audit_publish`` in log order and indexes them once at the head, instead of
    #: writing each batch's ids at random places of a key index — or copying every row
    #: into a keyed table at the head, which made the last transaction (and SQLite's WAL
    #: and its memory-mapped index) as large as the whole table.
    indexes = (
        IDENTITY,
        ("audit_publish_scope", "audit_publish", "tenant_id, occurred_at"),
        ("audit_publish_key", "audit_publish", "tenant_id, idempotency_key"),
        ("audit_refusal_scope", "audit_refusal", "tenant_id, occurred_at"),  # an export's range
    )
    _ints = {c: "BIGINT" for c in ("attempts", "latency_ms", "status", "notification_id",
                                   "key_missing", "collision", "retryable")}

    def create_tables(self, sql: SqlStore, cursor: Any) -> None:
        """Create the three audit tables and their indexes. A store of the layout before
        (operation ids unique across tenants) moves to the (tenant, operation id) identity
        here: its unique index is replaced (its rows, unique in the operation id, are unique
        in the pair), and the collision changes of a load it left open are applied now."""
        sql.execute(cursor, f"DROP INDEX IF EXISTS {sql.table(LEGACY_IDENTITY)}")
        if sql.table_exists(cursor, LEGACY_FLIPS):
            _apply_flips(sql, cursor, LEGACY_FLIPS, ("operation_id",))
            sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(FLIPS)} (seq BIGINT, "
                                "tenant_id TEXT, operation_id TEXT, collision BIGINT)")
        for statement in (
            _create(sql, "audit_publish", PUBLISH_COLUMNS, None, self._ints),
            _create(sql, "audit_refusal", REFUSAL_COLUMNS, "refusal_id", self._ints),
            _create(sql, "audit_action", ACTION_COLUMNS, "notification_id", self._ints),
            *(create_index(sql, *index) for index in self.indexes),
        ):
            sql.execute(cursor, statement)

    def clear(self, sql: SqlStore, cursor: Any) -> None:
        """Delete every audit row (and any unfinished load). ``audit_publish`` is made
        again, so a store whose table still had the operation id as its primary key
        gets the deferrable unique index instead."""
        for table in ("audit_refusal", "audit_action"):
            sql.execute(cursor, f"DELETE FROM {sql.table(table)}")
        for table in ("audit_publish", STAGED, FLIPS, LEGACY_FLIPS):
            sql.execute(cursor, f"DROP TABLE IF EXISTS {sql.table(table)}")
        self.create_tables(sql, cursor)

    def start_load(self, sql: SqlStore, cursor: Any) -> None:
        """Loading from zero: publish rows are appended to ``audit_publish`` (its indexes
        are deferred), collision changes kept apart for :meth:`finish_load`."""
        sql.execute(cursor, f"DROP INDEX IF EXISTS {sql.table(LEGACY_IDENTITY)}")
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(FLIPS)} (seq BIGINT, "
                            "tenant_id TEXT, operation_id TEXT, collision BIGINT)")

    def finish_load(self, sql: SqlStore, cursor: Any) -> None:
        """Close a load (if one is open): apply its collision changes, the last one of
        each operation winning, in one pass; move the rows of a load begun by an earlier
        version (staged in a load table) into ``audit_publish``; and create the identity
        index (the runner creates the other deferred indexes)."""
        publish = sql.table("audit_publish")
        loaded = False
        if sql.table_exists(cursor, STAGED):
            sql.execute(cursor, f"INSERT INTO {publish} SELECT * FROM "
                                f"{sql.table(STAGED)} ORDER BY operation_id")
            sql.execute(cursor, f"DROP TABLE {sql.table(STAGED)}")
            loaded = True
        if sql.table_exists(cursor, FLIPS):
            _apply_flips(sql, cursor, FLIPS, ("tenant_id", "operation_id"))
            loaded = True
        if loaded:
            _create_identity(sql, cursor)

    def apply(self, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        """Turn stored events into rows; batch the inserts."""
        publish: list[tuple[Any, ...]] = []
        refusals: list[tuple[Any, ...]] = []
        actions: list[tuple[Any, ...]] = []
        flips: list[tuple[int, str, str, int]] = []  # (position, tenant, operation, collision)
        for fact in facts:
            topic, state = fact.topic, fact.state
            operation = read_publish(topic, state)
            if operation is not None:
                publish.append(_publish_row(fact, operation))
                flips.extend((fact.position, operation.tenant_id, c["operation_id"],
                              int(c["collision"])) for c in operation.reclassified)
            elif topic == REFUSED:
                refusals.append((
                    fact.stream_id, state["command"], state["subject_id"], state["tenant_id"],
                    state["repository_id"], state["reason"], state["message"],
                    iso(state["occurred_at"]), fact.position,
                ))
            elif topic.startswith(ACTION_PREFIXES) and "occurred_at" in state:
                tenant_id = self._tenant_of(sql, cursor, fact, actions)
                actions.append(_action_row(fact, tenant_id))
        table = sql.table(STAGED if sql.table_exists(cursor, STAGED) else "audit_publish")
        loading = table != sql.table("audit_publish") or sql.table_exists(cursor, FLIPS)
        # An operation stored twice under one tenant (only a store written before the
        # recording path refused reused ids holds such): the first in log order is kept,
        # here as by the load's de-duplication (see _create_identity).
        keep_first = "" if loading else " ON CONFLICT (tenant_id, operation_id) DO NOTHING"
        sql.executemany(
            cursor, f"INSERT INTO {table} VALUES ({_marks(PUBLISH_COLUMNS)}){keep_first}",
            publish,
        )
        if flips and table == sql.table("audit_publish") and loading:
            sql.executemany(cursor, f"INSERT INTO {sql.table(FLIPS)} VALUES (?, ?, ?, ?)",
                            flips)
        else:
            sql.executemany(
                cursor,
                f"UPDATE {table} SET collision = ? WHERE tenant_id = ? AND operation_id = ?",
                [(collision, tenant, operation) for _, tenant, operation, collision in flips],
            )
        sql.executemany(
            cursor,
            f"INSERT INTO {sql.table('audit_refusal')} VALUES ({_marks(REFUSAL_COLUMNS)})",
            refusals,
        )
        sql.executemany(
            cursor,
            f"INSERT INTO {sql.table('audit_action')} VALUES ({_marks(ACTION_COLUMNS)})",
            actions,
        )

    @staticmethod
    def _tenant_of(
        sql: SqlStore, cursor: Any, fact: Fact, pending: list[tuple[Any, ...]]
    ) -> str | None:
        """The tenant id of a tenant (or erasure) event (of the tenant's own events only
        ``Registered`` carries it)."""
        if fact.topic.startswith(topics.ERASURE_PREFIX) or fact.topic in ALERT_JUDGEMENTS:
            return str(fact.state["tenant_id"])
        if fact.topic.startswith(topics.API_TOKEN_PREFIX):  # every token event carries it
            tenant = fact.state.get("tenant_id")
            return None if tenant is None else str(tenant)
        if not fact.topic.startswith(topics.TENANT_PREFIX):
            return None
        if "tenant_id" in fact.state:
            return str(fact.state["tenant_id"])
        for row in pending:
            if row[1] == fact.stream_id:
                return str(row[2])
        sql.execute(
            cursor,
            f"SELECT tenant_id FROM {sql.table('audit_action')} WHERE stream_id = ? LIMIT 1",
            (fact.stream_id,),
        )
        found = cursor.fetchone()
        return None if found is None else str(found["tenant_id"])


def _apply_flips(sql: SqlStore, cursor: Any, name: str, keys: tuple[str, ...]) -> None:
    """Apply a load's collision changes in one pass, the last of each operation winning
    (``keys``: the operation's identity in the load table ``name``), and drop the table."""
    publish, flips = sql.table("audit_publish"), sql.table(name)
    cols = ", ".join(keys)
    same = " AND ".join(f"f.{k} = {publish}.{k}" for k in keys)
    sql.execute(cursor, create_index(sql, f"{name}_last", name, f"{cols}, seq"))
    sql.execute(
        cursor,
        f"UPDATE {publish} SET collision = (SELECT f.collision FROM {flips} AS f "
        f"WHERE {same} ORDER BY f.seq DESC LIMIT 1) "
        f"WHERE ({cols}) IN (SELECT {cols} FROM {flips})",
    )
    sql.execute(cursor, f"DROP TABLE {flips}")


def _create_identity(sql: SqlStore, cursor: Any) -> None:
    """Create the unique identity index at the end of a load. Should the log hold one
    operation twice under one tenant (a store written before reused ids were refused),
    the later rows are removed first — the first in log order is kept, as catch-up keeps
    it — so such a store still rebuilds."""
    sql.execute(cursor, "SAVEPOINT audit_identity")
    try:
        sql.execute(cursor, create_index(sql, *IDENTITY))
    except sql.unique_violations:
        sql.execute(cursor, "ROLLBACK TO SAVEPOINT audit_identity")
        publish = sql.table("audit_publish")
        sql.execute(cursor, f"DELETE FROM {publish} WHERE notification_id IN (SELECT "
                            "notification_id FROM (SELECT notification_id, ROW_NUMBER() OVER "
                            "(PARTITION BY tenant_id, operation_id ORDER BY notification_id) "
                            f"AS n FROM {publish}) AS ranked WHERE n > 1)")
        sql.execute(cursor, create_index(sql, *IDENTITY))
    sql.execute(cursor, "RELEASE SAVEPOINT audit_identity")


def _publish_row(fact: Fact, op: StoredPublish) -> tuple[Any, ...]:
    key, retryable = op.idempotency_key, op.retryable
    return (
        op.operation_id, op.tenant_id, op.repository_id, key, int(key == UNKNOWN_KEY),
        op.payload_hash, iso(op.occurred_at), op.outcome, op.attempts, op.latency_ms,
        op.error_code, op.status, op.request_id, op.endpoint,
        None if retryable is None else int(retryable), int(op.collision), op.source,
        op.tenant_mode, fact.stream_id, fact.position,
    )


def _action_row(fact: Fact, tenant_id: str | None) -> tuple[Any, ...]:
    state = fact.state
    details = {
        k: v for k, v in state.items()
        if k not in HIDDEN_DETAILS
    }
    action = fact.topic.removeprefix("opsledger.")
    return (
        fact.position, fact.stream_id, tenant_id, action, state.get("by"),
        iso(state["occurred_at"]),
        orjson.dumps(details, default=_plain, option=orjson.OPT_SORT_KEYS).decode(),
    )


def _plain(value: Any) -> Any:
    return str(value)
