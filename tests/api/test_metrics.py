"""``/metrics`` over a real uvicorn: the exposition parsed with prometheus_client's parser and
checked against the facade (``ops.slo``, ``ops.alerts``, ``ops.incidents``, the audit
summary, the views), who may scrape (token, loopback), the cache, and ``/v1/status``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request

from opsledger import AuditQuery, Period
from opsledger.api.metrics import metrics_refusal

from .conftest import START


def scrape(live: Any, **headers: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {sorted labels: value}}`` of one scrape."""
    answer = live.http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def populate(live: Any) -> None:
    """Two tenants with publishes this month (one with errors), an open incident each."""
    before = START - timedelta(days=2)
    live.clock.set(before)
    for tenant in ("acme", "a-b"):
        live.saas_tenant(tenant, ["web"])
    live.clock.set(START)
    for i in range(40):
        tenant = "acme" if i % 2 else "a-b"
        failed = tenant == "acme" and i % 10 == 1
        live.setup(live.ops.record_publish, tenant_id=tenant, repository_id="web",
                   idempotency_key=f"{tenant}-{i}", payload_hash=f"{i:064x}",
                   outcome="error" if failed else "success",
                   error_code="HTTP_STATUS" if failed else None, attempts=1,
                   latency_ms=100 + 50 * i, occurred_at=START - timedelta(hours=2, minutes=i))
    live.setup(live.ops.open_incident, severity="SEV2", title="slow", cause="latency",
               by="oncall", tenant_id="acme", at=START - timedelta(hours=2))
    live.setup(live.ops.open_incident, severity="SEV1", title="down", cause="ingestion_outage",
               by="oncall", at=START - timedelta(minutes=30))
    live.setup(live.ops.advance, START)


def by_tenant(series: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    return {dict(k)["tenant"]: v for k, v in series.items()}


def test_metrics_match_the_facade(live_api: Any) -> None:
    populate(live_api)
    found = scrape(live_api)
    ops = live_api.ops
    rows = {r.tenant_id: r for r in live_api.setup(ops.slo, Period.month("2026-11"),
                                                   all_tenants=True) if r.tenant_id}
    assert set(rows) == {"acme", "a-b"}
    assert by_tenant(found["opsledger_slo_availability_ratio"]) == pytest.approx(
        {t: r.availability for t, r in rows.items()})
    assert by_tenant(found["opsledger_slo_availability_ratio"])["acme"] < 1.0
    assert by_tenant(found["opsledger_slo_latency_p95_seconds"]) == pytest.approx(
        {t: r.latency_p95_ms / 1000 for t, r in rows.items()})
    assert by_tenant(found["opsledger_slo_error_budget_remaining_ratio"]) == pytest.approx(
        {t: r.error_budget.remaining_ratio for t, r in rows.items()})
    burn = {(dict(k)["tenant"], dict(k)["window"]): v
            for k, v in found["opsledger_slo_burn_rate"].items()}
    expected_burn = {(t, w): getattr(r.error_budget, f"burn_rate_{w}") for t, r in rows.items()
                     for w in ("1h", "6h", "3d")}
    assert burn == pytest.approx({k: v for k, v in expected_burn.items() if v is not None})
    assert burn[("acme", "6h")] > 0  # errors in the last 6 hours
    expected_freshness = {t: r.freshness for t, r in rows.items() if r.freshness is not None}
    assert by_tenant(found.get("opsledger_slo_freshness_ratio", {})) == pytest.approx(
        expected_freshness)

    alerts = live_api.setup(ops.alerts, all_tenants=True, open_only=True)
    assert sum(found.get("opsledger_alerts_open", {}).values()) == len(alerts)
    for alert in alerts:
        key = (("rule", alert.rule), ("severity", alert.level), ("tenant", alert.tenant_id))
        assert found["opsledger_alerts_open"][key] >= 1

    incidents = live_api.setup(ops.incidents, all_tenants=True)
    opened: dict[tuple[tuple[str, str], ...], float] = {}
    for i in incidents:
        if i.state not in ("resolved", "closed"):
            key = (("severity", i.severity), ("tenant", i.tenant_id or ""))
            opened[key] = opened.get(key, 0) + 1
    assert found["opsledger_incidents_open"] == opened
    assert opened[(("severity", "SEV1"), ("tenant", ""))] == 1  # the platform-wide one
    assert opened[(("severity", "SEV2"), ("tenant", "acme"))] >= 1
    missed = sum(1 for i in incidents for d in i.deadlines if d.status == "missed")
    pending = sum(1 for i in incidents for d in i.deadlines if d.status == "pending")
    assert missed >= 2  # SEV1 ack at +15 min, SEV2 ack at +60 min
    assert sum(found["opsledger_incident_deadlines_missed"].values()) == missed
    assert sum(found["opsledger_incident_deadlines_pending"].values()) == pending
    assert found["opsledger_incident_deadlines_missed"][
        (("kind", "acknowledge"), ("severity", "SEV1"), ("tenant", ""))] == 1

    summary = live_api.setup(ops.audit_summary, AuditQuery(all_tenants=True))
    recorded = found["opsledger_publishes_recorded_total"]
    assert sum(recorded.values()) == sum(r.operations for r in summary) == 40
    assert recorded[(("outcome", "error"), ("tenant", "acme"))] == 4  # i = 1, 11, 21, 31

    views = live_api.setup(ops.view_status)
    assert {dict(k)["view"] for k in found["opsledger_view_lag_events"]} == {
        v.view for v in views}
    assert found["opsledger_store_up"] == {(): 1.0}
    assert found["opsledger_scheduler_leader"] == {(): 0.0}  # the test app has no job
    assert "opsledger_scheduler_last_sweep_timestamp_seconds" not in found
    for name, series in found.items():  # bounded labels only
        for key in series:
            assert {label for label, _ in key} <= {
                "tenant", "rule", "severity", "kind", "outcome", "view", "reason", "window",
                "state"}, name


def test_view_lag_counts_events_not_applied_and_the_cache_holds_for_its_time(
        api_factory: Any, sqlite_url: str) -> None:
    live = api_factory(sqlite_url)
    live.app.state.metrics_cache_seconds = 3600
    live.setup(live.ops.catch_up)
    first = scrape(live)
    assert set(first["opsledger_view_lag_events"].values()) == {0.0}
    assert set(first["opsledger_view_lag_seconds"].values()) == {0.0}
    live.token("operator")  # a new event the views have not applied
    assert scrape(live)["opsledger_view_lag_events"] == first["opsledger_view_lag_events"]
    collector = live.app.state.metrics_registry._collector_to_names
    (ours,) = collector
    ours.cache_seconds = 0  # the cache expired
    lag = scrape(live)["opsledger_view_lag_events"]
    assert set(lag.values()) == {1.0}


def test_failed_authentications_are_exported_by_reason(live_api: Any) -> None:
    live_api.http.get("/v1/tenants/acme/slo")
    live_api.http.get("/v1/tenants/acme/slo", headers={"Authorization": "Bearer nonsense"})
    live_api.http.get("/v1/tenants/acme/slo", headers={"Authorization": "Bearer nonsense"})
    found = scrape(live_api)
    assert found["opsledger_auth_failures_total"] == {
        (("reason", "missing"),): 1.0, (("reason", "malformed"),): 2.0}


def test_with_a_metrics_token_a_scrape_needs_it(api_factory: Any, sqlite_url: str) -> None:
    live = api_factory(sqlite_url, metrics_token="m-" + "x" * 30)
    assert live.http.get("/metrics").status_code == 401
    wrong = live.http.get("/metrics", headers={"Authorization": "Bearer m-nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"
    assert "m-nope" not in wrong.text
    found = scrape(live, Authorization="Bearer m-" + "x" * 30)
    assert found["opsledger_auth_failures_total"] == {(("reason", "metrics_token"),): 2.0}


def _request(client: str, token: str | None, authorization: str | None = None) -> Request:
    class State:
        pass

    app: Any = type("App", (), {})()
    app.state = State()
    app.state.engine = type("E", (), {"settings": type("S", (), {"metrics_token": token})()})()
    app.state.auth_failures = type("F", (), {"add": lambda self, reason: None})()
    return Request({"type": "http", "app": app, "client": (client, 5000), "headers": []})


@pytest.mark.parametrize(("client", "allowed"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("10.0.0.5", False),
    ("192.168.1.20", False), ("2001:db8::1", False), ("testclient", False)])
def test_without_a_token_only_loopback_clients_may_scrape(client: str, allowed: bool) -> None:
    refusal = metrics_refusal(_request(client, None), None)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.status_code == 403


def test_status_is_for_operators(live_api: Any) -> None:
    live_api.saas_tenant("acme")
    assert live_api.http.get("/v1/status").status_code == 401
    reader = live_api.token("read", "acme")
    assert live_api.http.get("/v1/status", headers=live_api.auth(reader)).status_code == 403
    operator = live_api.token("operator")
    body = live_api.http.get("/v1/status", headers=live_api.auth(operator)).json()
    assert body["scheduler"] == {"enabled": False, "leader": False, "last_sweep_at": None,
                                 "sweeps": 0, "last_error": None}
    assert body["auth_failures"] == {"missing": 1, "forbidden": 1}


def test_a_store_that_cannot_be_read_is_store_up_0_and_the_process_series_stay(
        api_factory: Any, pg_url: str) -> None:
    import psycopg

    live = api_factory(pg_url)
    with psycopg.connect(pg_url.split("?")[0], autocommit=True) as admin:
        schema = pg_url.split("schema=")[1]
        admin.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_gone"')
        try:
            found = scrape(live)
        finally:
            admin.execute(f'ALTER SCHEMA "{schema}_gone" RENAME TO "{schema}"')
    assert found["opsledger_store_up"] == {(): 0.0}
    assert found["opsledger_scheduler_leader"] == {(): 0.0}
    assert "opsledger_slo_availability_ratio" not in found
