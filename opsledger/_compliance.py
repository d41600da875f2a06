"""Retention (policy §5) as a command of ``Operations``.

``apply_retention`` computes each tenant's horizons from its own retention policy and the
clock (audit rows: ``audit_days``; SLO facts: ``metrics_days``), counts what they remove
from the views and, unless it is a dry run, records ``Tenant.RetentionApplied`` — an
audited event that the retention view applies (now and on every rebuild).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsledger.domain.tenant import Tenant
from opsledger.domain.time import iso_utc
from opsledger.projections.retention import horizons, retention_candidates

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["ComplianceCommands", "RetentionReport"]


@dataclass(frozen=True)
class RetentionReport:
    """What retention removed (or, in a dry run, would remove) for one tenant."""

    tenant_id: str
    audit_before: str
    metrics_before: str
    removed: dict[str, int]
    recorded: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"tenant": self.tenant_id, "audit_before": self.audit_before,
                "metrics_before": self.metrics_before, "removed": dict(self.removed),
                "removed_total": sum(self.removed.values()), "recorded": self.recorded}


class ComplianceCommands:
    """Mixed into :class:`~opsledger.Operations`."""

    def _cops(self) -> Operations:
        return self  # type: ignore[return-value]

    def apply_retention(
        self, *, by: str, dry_run: bool = False, tenant_id: str | None = None,
        at: datetime | None = None,
    ) -> list[RetentionReport]:
        """Remove from the views (and so from exports) every tenant's rows past its
        retention horizons; one report per tenant. A tenant whose horizons have not moved
        since the last run records nothing."""
        ops = self._cops()
        now = ops._now(at)
        tenants = [ops.tenant(tenant_id)] if tenant_id is not None else ops.tenants()
        ops.catch_up()
        reports: list[RetentionReport] = []
        for state in tenants:
            if state.governance is None:  # nothing was ever recorded for it
                continue
            keep = state.governance.retention
            audit_before = now - timedelta(days=keep.audit_days)
            metrics_before = now - timedelta(days=keep.metrics_days)
            a, m = iso_utc(audit_before), iso_utc(metrics_before)
            with ops.sql.transaction(commit=False) as cursor:
                current = horizons(ops.sql, cursor).get(state.tenant_id, ("", ""))
                removed = retention_candidates(ops.sql, cursor, state.tenant_id, a, m)
            moved = a > current[0] or m > current[1]
            recorded = moved and not dry_run
            if recorded:
                def record(tenant: Tenant, removed: dict[str, int] = removed,
                           audit_before: datetime = audit_before,
                           metrics_before: datetime = metrics_before) -> None:
                    tenant.record_retention(audit_before, metrics_before, removed, by, now)

                ops._update(functools.partial(ops._tenant, state.tenant_id), record)
            reports.append(RetentionReport(state.tenant_id, a, m, removed, recorded))
        if not dry_run:
            ops.catch_up()
        return reports
