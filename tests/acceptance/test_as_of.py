"""Point-in-time state (``--as-of T``) equals what the live views said at T."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Operations
from opsledger.services.slo import Period

START = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
DAY = Period.day("2026-11-03")
MOMENTS = [START + timedelta(minutes=m) for m in (20, 46, 70, 96, 130, 170)]


def _live_view(ops: Operations, now: datetime) -> dict[str, Any]:
    incidents = ops.incidents(tenant_id="acme")
    return {
        "slo": ops.slo(DAY, tenant_id="acme", now=now),
        "alerts": ops.alerts(tenant_id="acme"),
        "incidents": [ops.incident(i["id"]) for i in incidents],
        "gate": ops.gate_status(at=now),
        "tenant": ops.tenant("acme"),
    }


def _as_of_view(ops: Operations, moment: datetime) -> dict[str, Any]:
    return {
        "slo": ops.slo(DAY, tenant_id="acme", now=moment),
        "alerts": ops.alerts(tenant_id="acme", as_of=moment),
        "incidents": ops.incidents(tenant_id="acme", as_of=moment),
        "gate": ops.gate_status(as_of=moment),
        "tenant": ops.tenant("acme", as_of=moment),
    }


def _tick(ops: Operations, now: datetime, n: int) -> None:
    """What happens at ``now``: a publish every tick, errors 10:30-10:40, a violation at
    11:00 acknowledged at 11:10 and resolved at 11:40, a manual SEV2 at 12:00."""
    failing = START + timedelta(minutes=30) <= now < START + timedelta(minutes=40)
    ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key=f"k{n}",
                       payload_hash=f"{n:064x}", outcome="error" if failing else "success",
                       error_code="HTTP_STATUS" if failing else None, attempts=1,
                       latency_ms=100 + n, occurred_at=now)
    minute = (now - START) // timedelta(minutes=1)
    if minute == 60:
        ops.confirm_boundary_violation("acme", evidence="globex rows", by="sec", at=now)
    if minute == 120:
        ops.open_incident(severity="SEV2", title="slow snapshots", cause="latency", by="ana",
                          tenant_id="acme", at=now)
    for incident in ops.incidents(tenant_id="acme"):
        if incident["severity"] == "SEV1" and minute == 70:
            ops.acknowledge(incident["id"], by="bob", at=now)
        if incident["severity"] == "SEV1" and minute == 100 and incident["state"] != "resolved":
            ops.resolve_incident(incident["id"], summary="revoked", by="bob", at=now)


def test_as_of_equals_the_live_views_at_six_moments() -> None:
    clock = FrozenClock(START - timedelta(hours=1))
    with Operations.open("memory://", clock=clock) as ops:
        saas_tenant(ops, "acme", ["web"], at=clock.now())
        live: dict[datetime, dict[str, Any]] = {}
        for n in range(90):  # every 2 minutes from 10:00 to 12:58
            now = clock.set(START + timedelta(minutes=2 * n)) or clock.now()
            _tick(ops, now, n)
            ops.advance(now)
            for moment in MOMENTS:
                if moment not in live and now + timedelta(minutes=2) > moment >= now:
                    clock.set(moment)
                    ops.advance(moment)
                    live[moment] = _live_view(ops, moment)
        assert len(live) == len(MOMENTS)
        assert any(view["alerts"] for view in live.values())
        assert any(view["incidents"] for view in live.values())
        for moment in MOMENTS:
            assert _as_of_view(ops, moment) == live[moment], moment.isoformat()
