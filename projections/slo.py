"""The SLO view (policy §2): minute buckets, exact latency histograms, freshness rows.

Per (tenant, repository, UTC minute of ``occurred_at``): operations, successes, errors by
code, client-side rejections (``attempts == 0``), auth-policy failures, blocked isolation
crossings and idempotency collisions, plus an exact histogram of ``latency_ms`` (a count
per distinct millisecond value), so any period's nearest-rank p95 is exact and mergeable.
Per accepted payload (first success of a tenant/repository/key/hash, by business time):
when it was accepted, when it was due downstream, when it became visible, whether the
deadline was missed. Operations recorded while the tenant was ``local_only`` are counted
apart and excluded (policy §1: the policy applies only while SaaS ingestion is enabled).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from opsledger.domain import topics
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.publish_state import StoredPublish, read_publish
from opsledger.domain.slo_math import counts_against_integrity, freshness_due_us
from opsledger.domain.time import from_us, to_us
from opsledger.projections._facts import Fact, iso, moment
from opsledger.projections._sql import SqlStore, create_index

__all__ = ["COUNTERS", "SloView"]

STAGED = "slo_freshness_load"  # freshness rows of a load from zero (see start_load)
OBSERVED = (topics.VISIBILITY_OBSERVED, topics.VISIBILITY_SEEN)  # (Seen: created by it)
MISSED = topics.VISIBILITY_FRESHNESS_MISSED
ADOPTED = topics.POLICY_LEDGER_ADOPTED
INCIDENT_OPENED = topics.INCIDENT_OPENED
INCIDENT_RESOLVED = topics.INCIDENT_RESOLVED

COUNTERS = (
    "operations", "successes", "errors", "client_rejections", "auth_failures",
    "isolation_blocked", "collisions", "err_timeout", "err_aborted", "err_network",
    "err_http_status", "local_only",
)
_CODE_COLUMN = {
    "AUTH_POLICY_VIOLATION": "auth_failures", "ISOLATION_VIOLATION": "isolation_blocked",
    "TIMEOUT": "err_timeout", "ABORTED": "err_aborted", "NETWORK": "err_network",
    "HTTP_STATUS": "err_http_status",
}
_INDEX = {name: i for i, name in enumerate(COUNTERS)}
FRESH_KEY = ("tenant_id", "repository_id", "idempotency_key", "payload_hash")
Key = tuple[str, str, str]
DEFAULT_BOUND = OperationsPolicy().slo.freshness_bound_minutes
SEQ_DIGITS = 19  # a batch position (BIGINT) zero-padded, for the load fold's text order
DEFAULT_MOMENT = datetime(2026, 1, 1, tzinfo=UTC)  # any: every ``iso`` time has its width


class SloView:
    """Tables ``slo_minute``, ``slo_latency``, ``slo_freshness``, ``slo_policy``,
    ``slo_integrity``."""

    name = "slo"
    #: Bump when the tables or the rows written change: stores rebuild the view on open.
    version: int = 2
    tables: tuple[str, ...] = ("slo_minute", "slo_latency", "slo_freshness", "slo_policy",
                               "slo_integrity")
    load_tables = (STAGED,)  #: the table of a load's freshness rows
    #: Secondary indexes (see :attr:`AuditView.indexes`). ``slo_freshness_missed`` is
    #: partial — only the few rows recorded missed — for a replay's misses of a tenant
    #: in a range (read in proportion to them, not to the tenant's publishes); version 2
    #: added it (the rows are version 1's: the bump only brings the index to a store).
    indexes = (("slo_freshness_due", "slo_freshness", "due_at"),
               ("slo_freshness_missed", "slo_freshness",
                "tenant_id, missed_at) WHERE (missed_at IS NOT NULL"))

    def create_tables(self, sql: SqlStore, cursor: Any) -> None:
        """Create the SLO tables if missing."""
        counters = ", ".join(f"{c} BIGINT NOT NULL DEFAULT 0" for c in COUNTERS)
        for statement in (
            f"CREATE TABLE IF NOT EXISTS {sql.table('slo_minute')} (tenant_id TEXT, "
            f"repository_id TEXT, minute TEXT, {counters}, "
            "PRIMARY KEY (tenant_id, repository_id, minute))",
            f"CREATE TABLE IF NOT EXISTS {sql.table('slo_latency')} (tenant_id TEXT, "
            "repository_id TEXT, minute TEXT, latency_ms BIGINT, n BIGINT NOT NULL, "
            "PRIMARY KEY (tenant_id, repository_id, minute, latency_ms))",
            f"CREATE TABLE IF NOT EXISTS {sql.table('slo_freshness')} (tenant_id TEXT, "
            "repository_id TEXT, idempotency_key TEXT, payload_hash TEXT, accepted_at TEXT, "
            "due_at TEXT, visible_at TEXT, missed_at TEXT, "
            "PRIMARY KEY (tenant_id, repository_id, idempotency_key, payload_hash))",
            *(create_index(sql, *index) for index in self.indexes),
            f"CREATE TABLE IF NOT EXISTS {sql.table('slo_policy')} (position BIGINT PRIMARY KEY, "
            "effective_at TEXT, freshness_bound_minutes BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {sql.table('slo_integrity')} (incident_id TEXT "
            "PRIMARY KEY, tenant_id TEXT, opened_at TEXT, resolved_at TEXT)",
        ):
            sql.execute(cursor, statement)

    def clear(self, sql: SqlStore, cursor: Any) -> None:
        """Delete every row (and any unfinished load)."""
        for table in ("slo_minute", "slo_latency", "slo_freshness", "slo_policy",
                      "slo_integrity"):
            sql.execute(cursor, f"DELETE FROM {sql.table(table)}")
        sql.execute(cursor, f"DROP TABLE IF EXISTS {sql.table(STAGED)}")

    def start_load(self, sql: SqlStore, cursor: Any) -> None:
        """Loading from zero: each batch's freshness rows are appended, unindexed, to a
        load table (with the batch's position) instead of upserted at random keys;
        :meth:`finish_load` folds them exactly as the upserts would have."""
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(STAGED)} (seq BIGINT, "
                            "tenant_id TEXT, repository_id TEXT, idempotency_key TEXT, "
                            "payload_hash TEXT, accepted_at TEXT, due_at TEXT, "
                            "visible_at TEXT, missed_at TEXT)")

    def finish_load(self, sql: SqlStore, cursor: Any) -> None:
        """Fold the loaded freshness rows into ``slo_freshness`` (if a load is open): per
        key the earliest accepted time with its due time (the first batch's on a tie, as
        the upsert keeps the current row), the earliest visible and missed times.

        One GROUP BY pass (about twice as fast as a window over the same sort): the times
        are fixed-width text, so the least ``accepted_at || seq || due_at`` (seq
        zero-padded) is the earliest acceptance, first batch on a tie, with its due time;
        NULL acceptances (a visibility or a miss alone) drop out of it as MIN ignores
        NULL."""
        if not sql.table_exists(cursor, STAGED):
            return
        key = ", ".join(FRESH_KEY)
        width = len(iso(DEFAULT_MOMENT))
        seq = sql.zero_padded("seq", SEQ_DIGITS)
        sql.execute(
            cursor,
            f"INSERT INTO {sql.table('slo_freshness')} SELECT {key}, "
            f"substr(first, 1, {width}), substr(first, {width + SEQ_DIGITS + 1}), visible, "
            f"missed FROM (SELECT {key}, MIN(accepted_at || {seq} || due_at) AS first, "
            f"MIN(visible_at) AS visible, MIN(missed_at) AS missed FROM {sql.table(STAGED)} "
            f"GROUP BY {key}) AS folded ORDER BY {key}",
        )
        sql.execute(cursor, f"DROP TABLE {sql.table(STAGED)}")

    def apply(self, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        """Fold a batch into per-key deltas in memory, then upsert each key once."""
        buckets: dict[Key, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
        latency: Counter[tuple[str, str, str, int]] = Counter()
        fresh: dict[tuple[str, ...], list[str | None]] = {}
        ledger = self._ledger(sql, cursor)
        adopted: list[tuple[int, str, int]] = []
        integrity: list[tuple[str, str | None, str, None]] = []
        resolved: list[tuple[str, str]] = []
        for fact in facts:
            topic, state = fact.topic, fact.state
            operation = read_publish(topic, state)
            if operation is not None:
                self._operation(operation, buckets, latency, fresh, ledger)
            elif topic in OBSERVED:
                _merge(fresh, _fresh_key(state), visible_at=iso(state["occurred_at"]))
            elif topic == MISSED:
                _merge(fresh, _fresh_key(state), missed_at=iso(state["due_at"]))
            elif topic == INCIDENT_OPENED and counts_against_integrity(state["severity"],
                                                                       state["cause"]):
                integrity.append((fact.stream_id, state["tenant_id"], iso(state["occurred_at"]),
                                  None))
            elif topic == INCIDENT_RESOLVED:
                resolved.append((iso(state["occurred_at"]), fact.stream_id))
            elif topic == ADOPTED:
                bound = int(state["policy"]["slo"]["freshness_bound_minutes"])
                row = (fact.position, iso(state["effective_at"]), bound)
                adopted.append(row)
                ledger.append(row[1:])
                ledger.sort()
        staged = facts[-1].position if fresh and sql.table_exists(cursor, STAGED) else None
        self._write(sql, cursor, buckets, latency, fresh, adopted, staged)
        # Unresolved critical tenant-isolation incidents (policy §2 integrity).
        sql.executemany(cursor, f"INSERT INTO {sql.table('slo_integrity')} VALUES (?, ?, ?, ?)",
                        integrity)
        sql.executemany(cursor, f"UPDATE {sql.table('slo_integrity')} SET resolved_at = ? "
                                "WHERE incident_id = ?", resolved)

    @staticmethod
    def _operation(
        op: StoredPublish,
        buckets: dict[Key, list[int]],
        latency: Counter[tuple[str, str, str, int]],
        fresh: dict[tuple[str, ...], list[str | None]],
        ledger: list[tuple[str, int]],
    ) -> None:
        at = iso(op.occurred_at)
        tenant, repo = op.tenant_id, op.repository_id
        counts = buckets[(tenant, repo, at[:16])]
        for change in op.reclassified:
            # A late-arriving earlier operation moved the batch's original: collisions move.
            delta = 1 if change["collision"] else -1
            buckets[(tenant, repo, iso(change["occurred_at"])[:16])][_INDEX["collisions"]] += delta
        if op.tenant_mode == "local_only":
            counts[_INDEX["local_only"]] += 1
            return
        counts[0] += 1
        latency[(tenant, repo, at[:16], int(op.latency_ms))] += 1
        if op.collision:
            counts[_INDEX["collisions"]] += 1
        if op.ok:
            counts[1] += 1
            # Whole minutes later: only the minute part moves (``iso`` is fixed-width).
            due = _due_minute(at[:16], _bound(ledger, at)) + at[16:]
            key = (tenant, repo, op.idempotency_key, op.payload_hash)
            row = fresh.get(key)
            if row is None:
                fresh[key] = [at, due, None, None]
            elif row[0] is None or at < row[0]:  # (as _merge: the earliest acceptance)
                row[0], row[1] = at, due
            return
        counts[2] += 1
        if op.attempts == 0:
            counts[_INDEX["client_rejections"]] += 1
        column = _CODE_COLUMN.get(op.error_code or "")
        if column:
            counts[_INDEX[column]] += 1

    @staticmethod
    def _ledger(sql: SqlStore, cursor: Any) -> list[tuple[str, int]]:
        sql.execute(cursor, f"SELECT effective_at, freshness_bound_minutes FROM "
                            f"{sql.table('slo_policy')} ORDER BY effective_at, position")
        return [(r["effective_at"], int(r["freshness_bound_minutes"])) for r in cursor.fetchall()]

    @staticmethod
    def _write(
        sql: SqlStore,
        cursor: Any,
        buckets: dict[Key, list[int]],
        latency: Counter[tuple[str, str, str, int]],
        fresh: dict[tuple[str, ...], list[str | None]],
        adopted: list[tuple[int, str, int]],
        staged: int | None,
    ) -> None:
        sets = ", ".join(f"{c} = cur.{c} + excluded.{c}" for c in COUNTERS)
        sql.executemany(
            cursor,
            f"INSERT INTO {sql.table('slo_minute')} AS cur VALUES "
            f"(?, ?, ?, {', '.join('?' * len(COUNTERS))}) "
            f"ON CONFLICT (tenant_id, repository_id, minute) DO UPDATE SET {sets}",
            [(*key, *counts) for key, counts in sorted(buckets.items())],
        )
        sql.executemany(
            cursor,
            f"INSERT INTO {sql.table('slo_latency')} AS cur VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, repository_id, minute, latency_ms) "
            "DO UPDATE SET n = cur.n + excluded.n",
            [(*key, n) for key, n in sorted(latency.items())],
        )
        if staged is not None:  # a load from zero: see start_load
            sql.executemany(
                cursor, f"INSERT INTO {sql.table(STAGED)} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(staged, *key, *values) for key, values in fresh.items()],
            )
            fresh = {}
        earliest = ("accepted_at", "visible_at", "missed_at")
        updates = ", ".join(
            f"{c} = CASE WHEN cur.{c} IS NULL OR (excluded.{c} IS NOT NULL AND "
            f"excluded.{c} < cur.{c}) THEN excluded.{c} ELSE cur.{c} END"
            for c in earliest
        )
        # due_at follows accepted_at (it is computed from it).
        updates += (", due_at = CASE WHEN cur.accepted_at IS NULL OR (excluded.accepted_at IS "
                    "NOT NULL AND excluded.accepted_at < cur.accepted_at) THEN excluded.due_at "
                    "ELSE cur.due_at END")
        sql.executemany(
            cursor,
            f"INSERT INTO {sql.table('slo_freshness')} AS cur VALUES "
            f"(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT ({', '.join(FRESH_KEY)}) DO UPDATE SET "
            f"{updates}",
            [(*key, *values) for key, values in sorted(fresh.items())],
        )
        sql.executemany(
            cursor, f"INSERT INTO {sql.table('slo_policy')} VALUES (?, ?, ?)", adopted
        )


@lru_cache(maxsize=65536)
def _due_minute(minute: str, bound: int) -> str:
    """The freshness due minute (:func:`~opsledger.domain.slo_math.freshness_due_us`) of a
    publish accepted in ``YYYY-MM-DDTHH:MM`` (UTC), in the same form."""
    return iso(from_us(freshness_due_us(to_us(moment(minute + ":00+00:00")), bound)))[:16]


def _bound(ledger: list[tuple[str, int]], at: str) -> int:
    """The freshness bound (minutes) of the policy in force at ``at``."""
    bound = DEFAULT_BOUND
    for effective_at, minutes in ledger:
        if effective_at > at:
            break
        bound = minutes
    return bound


def _fresh_key(state: dict[str, Any]) -> tuple[str, ...]:
    return tuple(state[k] for k in FRESH_KEY)


def _merge(fresh: dict[tuple[str, ...], list[str | None]], key: tuple[str, ...],
           **values: str) -> None:
    """Keep the earliest of each time within the batch (accepted/due move together)."""
    row = fresh.setdefault(key, [None, None, None, None])
    accepted = values.get("accepted_at")
    if accepted is not None and (row[0] is None or accepted < row[0]):
        row[0], row[1] = accepted, values["due_at"]
    for i, name in ((2, "visible_at"), (3, "missed_at")):
        value = values.get(name)
        current = row[i]
        if value is not None and (current is None or value < current):
            row[i] = value
