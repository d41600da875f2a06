"""What the dashboard's overview, incident and gate pages show, read through the facade
with the same point-in-time reads as the CLI's ``--as-of`` (``as_of`` None: now). Each
function runs under the engine's lock (the caller holds it) and sees only what the
principal may see: a tenant token its tenant, an operator-or-platform token every tenant.

The tenant, timeline and chart data are in :mod:`opsledger.api.ui_tenant`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import opsledger
from opsledger import (
    Alert,
    GateStatus,
    Incident,
    Operations,
    Period,
    Principal,
    SloReport,
    TimelineEntry,
)

__all__ = ["ACTIONS", "CLOSED_STATES", "Figure", "IncidentPage", "Overview", "Tile",
           "actions_for", "figures", "gate_page", "incident_page", "overview",
           "visible_tenants"]

#: Incident states no longer open.
CLOSED_STATES = frozenset({"resolved", "closed"})
#: The incident actions the dashboard offers: the form's path and the states it applies in.
ACTIONS: dict[str, frozenset[str]] = {
    "ack": frozenset({"open"}),
    "status": frozenset({"open", "acknowledged", "mitigating"}),
    "mitigate": frozenset({"acknowledged"}),
    "resolve": frozenset({"acknowledged", "mitigating"}),
}


@dataclass(frozen=True)
class Figure:
    """One SLO figure: its value and target as text, and whether it is met (``None``: no
    data to judge)."""

    name: str
    value: str
    target: str
    met: bool | None


@dataclass(frozen=True)
class Tile:
    """A tenant on the overview."""

    tenant_id: str
    mode: str
    figures: tuple[Figure, ...]
    budget: str
    burn: str
    alerts: dict[str, int]
    incidents: dict[str, int]

    @property
    def met(self) -> bool | None:
        """False when any figure is not met; True when every judged one is; else None."""
        judged = [f.met for f in self.figures if f.met is not None]
        return None if not judged else all(judged)


@dataclass(frozen=True)
class Overview:
    """The overview: a tile per visible tenant, the open incidents (platform-wide ones for
    an operator too) and the period the SLOs cover."""

    period: Period
    tiles: tuple[Tile, ...]
    incidents: tuple[Incident, ...]


@dataclass(frozen=True)
class IncidentPage:
    """One incident as it stood: its linked alerts and its timeline up to then."""

    incident: Incident
    alerts: tuple[Alert, ...]
    timeline: tuple[TimelineEntry, ...]
    actions: tuple[str, ...] = field(default=())


def _pct(value: float | None, digits: int = 2) -> str:
    return "no data" if value is None else f"{value * 100:.{digits}f} %"


def figures(slo: SloReport) -> tuple[Figure, ...]:
    """The SLO figures of a report, each with its target and verdict (policy §2)."""
    p95 = "no data" if slo.latency_p95_ms is None else f"{slo.latency_p95_ms:,} ms"
    integrity = ("none open" if slo.unresolved_critical_isolation_incidents == 0 else
                 f"{slo.unresolved_critical_isolation_incidents} open")
    return (
        Figure("availability", _pct(slo.availability, 3), f"≥ {_pct(slo.availability_target)}",
               slo.availability_met),
        Figure("p95 latency", p95, f"≤ {slo.latency_p95_target_ms:,} ms", slo.latency_met),
        Figure("freshness", _pct(slo.freshness), f"≥ {_pct(slo.freshness_target)}",
               slo.freshness_met),
        Figure("integrity", integrity, "no critical isolation incident", slo.integrity_met),
    )


def _burn(slo: SloReport) -> str:
    budget = slo.error_budget
    rates = (("1h", budget.burn_rate_1h), ("6h", budget.burn_rate_6h),
             ("3d", budget.burn_rate_3d))
    return " · ".join(f"{name} {'-' if r is None else f'{r:.2f}x'}" for name, r in rates)


def visible_tenants(ops: Operations, who: Principal, as_of: datetime | None
                    ) -> list[opsledger.TenantState]:
    """The tenants ``who`` may see, as they stood ``as_of`` (those registered then)."""
    ids = [who.tenant_id] if who.tenant_id is not None else [
        t.tenant_id for t in ops.tenants()]
    found = []
    for tenant_id in ids:
        try:
            found.append(ops.tenant(tenant_id, as_of=as_of))
        except opsledger.UnknownTenant:
            continue
    return found


def _scope(who: Principal) -> dict[str, object]:
    return {"all_tenants": True} if who.tenant_id is None else {"tenant_id": who.tenant_id}


def overview(ops: Operations, who: Principal, as_of: datetime | None) -> Overview:
    """Every visible tenant's SLOs for the month running at ``as_of`` (or now), its open
    alerts by level and open incidents by severity; the open incidents listed."""
    moment = as_of or ops.clock.now()
    period = Period.month(f"{moment:%Y-%m}")
    alerts = ops.alerts(**_scope(who), open_only=True, as_of=as_of)  # type: ignore[arg-type]
    incidents = [i for i in ops.incidents(**_scope(who), as_of=as_of)  # type: ignore[arg-type]
                 if i.state not in CLOSED_STATES]
    tiles = []
    for tenant in visible_tenants(ops, who, as_of):
        slo = ops.slo(period, tenant_id=tenant.tenant_id, now=as_of)[0]
        tiles.append(Tile(
            tenant.tenant_id, str(tenant.mode), figures(slo),
            _pct(slo.error_budget_remaining, 1), _burn(slo),
            dict(sorted(Counter(a.level for a in alerts
                                if a.tenant_id == tenant.tenant_id).items())),
            dict(sorted(Counter(i.severity for i in incidents
                                if i.tenant_id == tenant.tenant_id).items()))))
    incidents.sort(key=lambda i: (i.severity, i.opened_at))
    return Overview(period, tuple(tiles), tuple(incidents))


def actions_for(incident: Incident, who: Principal, historical: bool) -> tuple[str, ...]:
    """The actions to offer: none to a read-only session or on a historical page; else
    those the incident's state allows (mitigation: not for SEV3)."""
    if who.scope != "operator" or historical:
        return ()
    return tuple(name for name, states in ACTIONS.items() if incident.state in states
                 and not (name == "mitigate" and incident.severity == "SEV3"))


def incident_page(ops: Operations, who: Principal, incident: Incident,
                  as_of: datetime | None) -> IncidentPage:
    """The incident (as it stood ``as_of``, found by
    :func:`~opsledger.api.reads_incidents.visible_incident`), its linked alerts and its
    timeline up to then."""
    linked: Sequence[Alert] = ()
    if incident.alert_ids and incident.tenant_id is not None:
        wanted = set(incident.alert_ids)
        linked = [a for a in ops.alerts(tenant_id=incident.tenant_id, as_of=as_of)
                  if a.alert_id in wanted]
    timeline = [e for e in ops.incident_timeline(incident.incident_id)
                if as_of is None or e.at <= as_of]
    return IncidentPage(incident, tuple(linked), tuple(timeline),
                        actions_for(incident, who, as_of is not None))


def gate_page(ops: Operations, who: Principal, as_of: datetime | None) -> GateStatus:
    """The production gate as it stood ``as_of``: platform-wide, so only a session without
    a tenant sees it (a tenant's session: the 404 of a page that does not exist)."""
    if who.tenant_id is not None:
        raise opsledger.NotFound("no such page")
    return ops.gate_status(as_of=as_of)
