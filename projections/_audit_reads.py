"""Audit trail queries (policy §5): every one scoped to a tenant unless the caller asks for
the operator scope explicitly; a tenant-scoped query never returns another's rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsledger.domain.errors import InvalidInput
from opsledger.domain.time import iso_utc
from opsledger.projections._sql import SqlStore

__all__ = ["AuditQuery", "action_rows", "actions_named", "publish_rows", "refusal_rows",
           "summary_rows"]


@dataclass(frozen=True)
class AuditQuery:
    """Filters for the audit trail. ``tenant_id`` is required unless ``all_tenants``."""

    tenant_id: str | None = None
    all_tenants: bool = False
    repository_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    error_code: str | None = None
    idempotency_key: str | None = None
    limit: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """SQL WHERE clause and parameters for these filters (publish table)."""
        if not self.all_tenants and not self.tenant_id:
            raise InvalidInput("an audit query needs a tenant, or all_tenants=True "
                               "(operator scope)")
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("tenant_id", self.tenant_id),
            ("repository_id", self.repository_id),
            ("outcome", self.outcome),
            ("error_code", self.error_code),
            ("idempotency_key", self.idempotency_key),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("occurred_at >= ?")
            params.append(iso_utc(self.since))
        if self.until is not None:
            clauses.append("occurred_at < ?")
            params.append(iso_utc(self.until))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params



def publish_rows(sql: SqlStore, query: AuditQuery) -> list[dict[str, Any]]:
    """Publish operations matching ``query``, in business-time order."""
    where, params = query.where()
    limit = f" LIMIT {int(query.limit)}" if query.limit else ""
    return sql.fetch(
        f"SELECT * FROM {sql.table('audit_publish')}{where} "
        f"ORDER BY occurred_at, tenant_id, operation_id{limit}",
        params,
    )


def refusal_rows(sql: SqlStore, query: AuditQuery) -> list[dict[str, Any]]:
    """Refused commands in the query's tenant scope and time range."""
    scoped = AuditQuery(
        tenant_id=query.tenant_id, all_tenants=query.all_tenants,
        repository_id=query.repository_id, since=query.since, until=query.until,
    )
    where, params = scoped.where()
    return sql.fetch(
        f"SELECT * FROM {sql.table('audit_refusal')}{where} ORDER BY occurred_at, refusal_id",
        params,
    )


def action_rows(sql: SqlStore, query: AuditQuery) -> list[dict[str, Any]]:
    """Operator actions (registrations, scope and mode changes, policy adoptions)."""
    scoped = AuditQuery(
        tenant_id=query.tenant_id, all_tenants=query.all_tenants,
        since=query.since, until=query.until,
    )
    where, params = scoped.where()
    return sql.fetch(
        f"SELECT * FROM {sql.table('audit_action')}{where} ORDER BY occurred_at, notification_id",
        params,
    )


def actions_named(sql: SqlStore, action: str) -> list[dict[str, Any]]:
    """Every operator action of one kind (operator scope), in business-time order."""
    return sql.fetch(f"SELECT * FROM {sql.table('audit_action')} WHERE action = ? "
                      "ORDER BY occurred_at, notification_id", (action,))


def summary_rows(sql: SqlStore, query: AuditQuery) -> list[dict[str, Any]]:
    """Counts per tenant, outcome and error code (with collisions and key-missing flags);
    refused commands are counted too, as outcome ``refused`` with their reason as the
    code (unless the query filters on an outcome other than ``refused`` or on a key)."""
    where, params = query.where()
    rows = sql.fetch(
        f"SELECT tenant_id, outcome, error_code, COUNT(*) AS operations, "
        f"SUM(collision) AS collisions, SUM(key_missing) AS key_missing, "
        f"MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at "
        f"FROM {sql.table('audit_publish')}{where} "
        f"GROUP BY tenant_id, outcome, error_code",
        params,
    )
    if query.outcome in (None, "refused") and query.idempotency_key is None:
        scoped = AuditQuery(
            tenant_id=query.tenant_id, all_tenants=query.all_tenants,
            repository_id=query.repository_id, since=query.since, until=query.until,
        )
        where, params = scoped.where()
        if query.error_code is not None:
            where += (" AND" if where else " WHERE") + " reason = ?"
            params.append(query.error_code)
        rows += sql.fetch(
            f"SELECT tenant_id, 'refused' AS outcome, reason AS error_code, "
            f"COUNT(*) AS operations, 0 AS collisions, 0 AS key_missing, "
            f"MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at "
            f"FROM {sql.table('audit_refusal')}{where} GROUP BY tenant_id, reason",
            params,
        )
    for row in rows:  # (PostgreSQL sums to numeric: the same integers on every store)
        for column in ("operations", "collisions", "key_missing"):
            row[column] = int(row[column] or 0)
    return sorted(rows, key=lambda r: (r["tenant_id"], r["outcome"], r["error_code"] or ""))
