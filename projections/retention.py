"""Retention in the views (policy §5): rows older than a tenant's horizons leave them.

A ``Tenant.RetentionApplied`` event sets the tenant's horizons: publish-level audit rows
(``audit_publish``, ``audit_refusal``) older than ``audit_before`` go, and the SLO facts
(minute buckets, latency histograms, decided freshness rows) older than ``metrics_before``
go. The event log itself keeps every event (it is the tamper-evident history; erasure is
crypto-shredding's job), so the horizons are view state, applied on every rebuild.

This view runs after the audit and SLO views in the same transaction. At the end of each
batch it sweeps the tenants that the batch touched and that have a horizon, so a record
older than the horizon that arrives later (an import of old lines) is removed too. Every
fact that can change what the sweep removes triggers it, so the result does not depend on
how the log was cut into batches: a rebuild equals incremental catch-up. A load from zero
stages some rows outside their tables until the head (see the runner); when the load
finishes, this view sweeps every tenant with a horizon once more.

An ``Erasure.TenantForgotten`` event purges every view row of that tenant (but the
erasure's own audit record); on a rebuild the tenant's events cannot be opened any more,
so the purge finds nothing left to remove.

A freshness row is removed only once its fate is decided (visible in time, or missed), so
a pending freshness deadline is never lost to retention.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opsledger.domain import topics
from opsledger.projections._facts import Fact, iso
from opsledger.projections._sql import SqlStore

__all__ = ["PURGED", "RETAINED", "RetentionView", "horizons", "purge_tenant",
           "retention_candidates"]

APPLIED = topics.TENANT_RETENTION_APPLIED
FORGOTTEN = topics.ERASURE_TENANT_FORGOTTEN
HORIZON = "retention_horizon"

# (table, tenant column, extra condition): every view row of a tenant, which its erasure
# removes — all but the record of the erasure itself.
PURGED: tuple[tuple[str, str, str], ...] = (
    ("audit_publish", "tenant_id", ""),
    ("audit_refusal", "tenant_id", ""),
    ("audit_action", "tenant_id", " AND action <> 'Erasure.TenantForgotten'"),
    ("slo_minute", "tenant_id", ""),
    ("slo_latency", "tenant_id", ""),
    ("slo_freshness", "tenant_id", ""),
    ("slo_integrity", "tenant_id", ""),
    ("alerts", "tenant", ""),
    ("incidents", "tenant", ""),
    ("incident_deadlines", "tenant", ""),
    (HORIZON, "tenant_id", ""),
)

# (table, time column, horizon, extra condition): what each horizon removes.
RETAINED: tuple[tuple[str, str, str, str], ...] = (
    ("audit_publish", "occurred_at", "audit_before", ""),
    ("audit_refusal", "occurred_at", "audit_before", ""),
    ("slo_minute", "minute", "metrics_before", ""),
    ("slo_latency", "minute", "metrics_before", ""),
    ("slo_freshness", "accepted_at", "metrics_before",
     " AND (missed_at IS NOT NULL OR (visible_at IS NOT NULL AND visible_at <= due_at))"),
)


def _cutoff(column: str, horizon: str) -> str:
    """The horizon in the column's own text form (minute buckets: ``YYYY-MM-DDTHH:MM``, so
    the bucket that holds the horizon stays whole)."""
    return horizon[:16] if column == "minute" else horizon


def retention_candidates(
    sql: SqlStore, cursor: Any, tenant_id: str, audit_before: str, metrics_before: str
) -> dict[str, int]:
    """How many rows of each table the given horizons would remove for ``tenant_id``."""
    cutoffs = {"audit_before": audit_before, "metrics_before": metrics_before}
    counts: dict[str, int] = {}
    for table, column, horizon, extra in RETAINED:
        counts[table] = int(sql.fetch_one(
            cursor, f"SELECT COUNT(*) AS n FROM {sql.table(table)} WHERE tenant_id = ? AND "
                    f"{column} < ?{extra}", (tenant_id, _cutoff(column, cutoffs[horizon])))["n"])
    return counts


def horizons(sql: SqlStore, cursor: Any) -> dict[str, tuple[str, str]]:
    """Each tenant's (audit_before, metrics_before) as fixed-width UTC text."""
    sql.execute(cursor, f"SELECT tenant_id, audit_before, metrics_before FROM "
                        f"{sql.table(HORIZON)}")
    return {r["tenant_id"]: (r["audit_before"], r["metrics_before"]) for r in cursor.fetchall()}


def purge_tenant(sql: SqlStore, cursor: Any, tenant_id: str) -> dict[str, int]:
    """Delete every view row of ``tenant_id`` (but its erasure record); rows per table."""
    removed: dict[str, int] = {}
    for table, column, extra in PURGED:
        sql.execute(cursor, f"DELETE FROM {sql.table(table)} WHERE {column} = ?{extra}",
                    (tenant_id,))
        removed[table] = sql.rowcount(cursor)
    return removed


class RetentionView:
    """Table ``retention_horizon``; removes rows past each tenant's horizons from the views,
    and every row of a forgotten tenant."""

    name = "retention"
    #: Bump when the tables or the rows written change: stores rebuild the view on open.
    version: int = 1
    tables: tuple[str, ...] = (HORIZON,)
    #: it removes rows from these views' tables, so it never runs past one of them
    depends_on = ("audit", "slo", "alerts", "incidents")

    def create_tables(self, sql: SqlStore, cursor: Any) -> None:
        """Create the horizon table."""
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(HORIZON)} (tenant_id TEXT "
                            "PRIMARY KEY, audit_before TEXT NOT NULL, "
                            "metrics_before TEXT NOT NULL)")

    def clear(self, sql: SqlStore, cursor: Any) -> None:
        """Forget every horizon (a rebuild sets them again)."""
        sql.execute(cursor, f"DELETE FROM {sql.table(HORIZON)}")

    def apply(self, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        """Move horizons forward, then sweep the tenants this batch touched."""
        known = horizons(sql, cursor)
        touched: set[str] = set()
        for fact in facts:
            if fact.topic == APPLIED:
                tenant = str(fact.state["tenant_id"])
                audit, metrics = iso(fact.state["audit_before"]), iso(fact.state["metrics_before"])
                old = known.get(tenant, ("", ""))
                known[tenant] = (max(old[0], audit), max(old[1], metrics))
                sql.execute(cursor, f"DELETE FROM {sql.table(HORIZON)} WHERE tenant_id = ?",
                            (tenant,))
                sql.execute(cursor, f"INSERT INTO {sql.table(HORIZON)} VALUES (?, ?, ?)",
                            (tenant, *known[tenant]))
                touched.add(tenant)
            elif fact.topic == FORGOTTEN:
                tenant = str(fact.state["tenant_id"])
                purge_tenant(sql, cursor, tenant)
                known.pop(tenant, None)
                touched.discard(tenant)
            elif known and (owner := str(fact.state.get("tenant_id"))) in known:
                touched.add(owner)
        self._sweep(sql, cursor, {t: known[t] for t in touched})

    def finish_load(self, sql: SqlStore, cursor: Any) -> None:
        """At the end of a load from zero (the other views have just moved their staged
        rows into place): sweep every tenant with a horizon."""
        self._sweep(sql, cursor, horizons(sql, cursor))

    @staticmethod
    def _sweep(sql: SqlStore, cursor: Any, tenants: dict[str, tuple[str, str]]) -> None:
        for tenant, (audit, metrics) in sorted(tenants.items()):
            cutoffs = {"audit_before": audit, "metrics_before": metrics}
            for table, column, horizon, extra in RETAINED:
                sql.execute(cursor, f"DELETE FROM {sql.table(table)} WHERE tenant_id = ? AND "
                                    f"{column} < ?{extra}",
                            (tenant, _cutoff(column, cutoffs[horizon])))
