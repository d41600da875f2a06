"""Retention and erasure (policy §5) as a service.

``apply_retention`` computes each tenant's horizons from its own retention policy and the
clock (audit rows: ``audit_days``; SLO facts: ``metrics_days``), counts what they remove
from the views and, unless it is a dry run, records ``Tenant.RetentionApplied`` — an
audited event that the retention view applies (now and on every rebuild).

``forget_tenant`` crypto-shreds a tenant: it records ``Erasure.TenantForgotten`` (plain:
the proof), deletes the tenant's key (:mod:`opsledger.store.keys`), drops the tenant from the
alert process, lets the views purge its rows, and on SQLite rewrites the database file
(``VACUUM``) and empties its WAL, so no byte of the purged rows survives on disk. The
events stay where they are, sealed with a key that no longer exists: the hash chain over
them still verifies, and every other tenant replays exactly as before.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError

from opsledger.domain.bounds import bounded
from opsledger.domain.erasure import Erasure
from opsledger.domain.tenant import Tenant
from opsledger.domain.time import fmt_time, iso_utc
from opsledger.projections._facts import moment
from opsledger.projections.retention import (
    PURGED,
    horizons,
    purge_tenant,
    retention_candidates,
)
from opsledger.services import identity
from opsledger.services.alerting import AlertProcess
from opsledger.services.clock import BusinessClock
from opsledger.services.recording import Recording
from opsledger.services.tenants import Tenants
from opsledger.services.views import Views
from opsledger.store.events import EventStore

__all__ = ["Compliance", "ForgetReport", "RetentionReport"]

@dataclass(frozen=True)
class RetentionReport:
    """What retention removed (or, in a dry run, would remove) for one tenant."""

    tenant_id: str
    audit_before: datetime
    metrics_before: datetime
    removed: dict[str, int]
    recorded: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"tenant": self.tenant_id, "audit_before": fmt_time(self.audit_before),
                "metrics_before": fmt_time(self.metrics_before), "removed": dict(self.removed),
                "removed_total": sum(self.removed.values()), "recorded": self.recorded}


@dataclass(frozen=True)
class ForgetReport:
    """What forgetting a tenant did; ``rewritten`` names what was rewritten on disk (the
    PostgreSQL tables, or the SQLite database file)."""

    tenant_id: str
    forgotten_at: datetime
    key_deleted: bool
    purged: dict[str, int]
    rewritten: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"tenant": self.tenant_id, "forgotten_at": fmt_time(self.forgotten_at),
                "key_deleted": self.key_deleted, "purged": dict(self.purged),
                "purged_total": sum(self.purged.values()), "rewritten": list(self.rewritten)}


class Compliance:
    """Retention and erasure as a service."""

    def __init__(self, store: EventStore, clock: BusinessClock, tenants: Tenants, views: Views,
                 recording: Recording, alerts: AlertProcess) -> None:
        self._store = store
        self._clock = clock
        self._tenants = tenants
        self._views = views
        self._recording = recording
        self._alerts = alerts

    @bounded(by="id", at="time")  # tenant_id unchecked: legacy ids must stay cleanable
    def apply_retention(
        self, *, by: str, dry_run: bool = False, tenant_id: str | None = None,
        at: datetime | None = None,
    ) -> list[RetentionReport]:
        """Remove from the views (and so from exports) every tenant's rows past its
        retention horizons; one report per tenant. A tenant whose horizons have not moved
        since the last run records nothing."""
        now = self._clock.now(at)
        tenants = ([self._tenants.tenant(tenant_id)] if tenant_id is not None
                   else self._tenants.tenants())
        self._views.catch_up()
        reports: list[RetentionReport] = []
        for state in tenants:
            if state.governance is None:  # nothing was ever recorded for it
                continue
            keep = state.governance.retention
            audit_before = now - timedelta(days=keep.audit_days)
            metrics_before = now - timedelta(days=keep.metrics_days)
            a, m = iso_utc(audit_before), iso_utc(metrics_before)
            with self._store.sql.transaction(commit=False) as cursor:
                current = horizons(self._store.sql, cursor).get(state.tenant_id, ("", ""))
                removed = retention_candidates(self._store.sql, cursor, state.tenant_id, a, m)
            moved = a > current[0] or m > current[1]
            recorded = moved and not dry_run
            if recorded:
                def record(tenant: Tenant, removed: dict[str, int] = removed,
                           audit_before: datetime = audit_before,
                           metrics_before: datetime = metrics_before) -> None:
                    tenant.record_retention(audit_before, metrics_before, removed, by, now)

                self._store.update(functools.partial(self._tenants.load, state.tenant_id), record)
            reports.append(RetentionReport(state.tenant_id, audit_before, metrics_before,
                                           removed, recorded))
        if not dry_run:
            self._views.catch_up()
        return reports

    @bounded(by="id", reason="text", at="time")  # a legacy id can still be forgotten
    def forget_tenant(self, tenant_id: str, *, by: str, reason: str,
                      at: datetime | None = None) -> ForgetReport:
        """Crypto-shred ``tenant_id`` (see the module docstring). Running it again after an
        interruption finishes the job; on a tenant already forgotten it changes nothing."""
        now = self._clock.now(at)
        self._views.catch_up()  # so the counts below are of everything the views hold
        if not self._store.keyring.is_forgotten(tenant_id):
            self._tenants.tenant(tenant_id)  # UnknownTenant if it was never registered
            with contextlib.suppress(IntegrityError):  # recorded by an interrupted run
                self._store.save(Erasure(tenant_id=tenant_id, by=by, reason=reason,
                                     occurred_at=now))
        key_deleted = self._store.keyring.forget(tenant_id, now)
        self._recording.forget_cached_tenants()
        with self._store.sql.transaction(commit=False) as cursor:
            sql = self._store.sql
            counts = {table: int(sql.fetch_one(cursor, f"SELECT COUNT(*) AS n FROM "
                                               f"{sql.table(table)} WHERE {column} = ?"
                                               f"{extra}", (tenant_id,))["n"])
                      for table, column, extra in PURGED}
        counts["alert_late_facts"] = self._alerts.forget_tenant(tenant_id)
        self._views.catch_up()  # the erasure event purges the views
        with self._store.sql.transaction(commit=True) as cursor:  # and anything applied meanwhile
            purge_tenant(self._store.sql, cursor, tenant_id)
            counts[identity.TABLE] = identity.forget(self._store.sql, cursor, tenant_id)
        rewritten = self._store.reclaim_space()
        forgotten_at = self._store.sql.fetch(
            f"SELECT occurred_at FROM {self._store.sql.table('audit_action')} WHERE tenant_id = ? "
            "AND action = 'Erasure.TenantForgotten'", (tenant_id,))
        return ForgetReport(tenant_id, moment(forgotten_at[0]["occurred_at"]) if forgotten_at
                            else now, key_deleted, counts, rewritten)
