"""Tenant isolation over a real uvicorn (SQLite file and PostgreSQL), as a property: on
tenants whose ids share prefixes and differ only in punctuation or case (``a``, ``a-b``,
``a_b``, ``A``), with generated publishes, incidents and alerts, no read with one tenant's
token ever returns another tenant's row — SLO, alerts, incidents (listed and by id), SLA,
the RCA timeline, every audit page and the export — and another tenant's id in the path
answers exactly what an id that does not exist answers."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from opsledger import AuditQuery

from .conftest import START

TENANTS = ("a", "a-b", "a_b", "A")
T0 = START - timedelta(hours=6)
RANGE = {"from": f"{T0 - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
         "to": f"{START:%Y-%m-%dT%H:%M:%SZ}"}
READS = ("slo", "alerts", "incidents", "sla", "audit?limit=3", "export?format=ndjson",
         "export?format=csv", "timeline?from={from}&to={to}".format(**RANGE))
#: What one example does: (tenant index, publish ok / publish error / open incident).
ACTIONS = st.lists(st.tuples(st.integers(0, len(TENANTS) - 1),
                             st.sampled_from(["ok", "error", "incident"])),
                   min_size=1, max_size=12)
NOWHERE = "00000000-0000-0000-0000-000000000000"


def marker(index: int) -> str:
    """A text each of tenant ``index``'s publishes carries (in its idempotency key) and no
    other tenant's does — unlike the tenant ids, none is a part of another."""
    return f"k{index}x"


class World:
    """The live API with the four tenants, their read tokens, and what was recorded."""

    def __init__(self, live: Any) -> None:
        self.live = live
        for tenant in TENANTS:
            live.saas_tenant(tenant, ["web"])
        self.tokens = {t: live.auth(live.token("read", t)) for t in TENANTS}
        self.count = itertools.count()
        self.incidents: dict[str, str | None] = {}
        self.unknown = {path: self.get(self.tokens["a"], f"/v1/tenants/nobody/{path}")
                        for path in READS}
        self.platform_wide()

    def get(self, headers: dict[str, str], path: str) -> Any:
        return self.live.http.get(path, headers=headers)

    def platform_wide(self) -> None:
        found = self.live.setup(self.live.ops.open_incident, severity="SEV3", title="all",
                                cause="other", by="oncall", at=T0)
        self.incidents[found.incident_id] = None

    def apply(self, actions: list[tuple[int, str]]) -> None:
        ops = self.live.ops
        for index, action in actions:
            n = next(self.count)
            at = T0 + timedelta(seconds=7 * n)
            tenant = TENANTS[index]
            if action == "incident":
                found = self.live.setup(ops.open_incident, severity="SEV3", title="t",
                                        cause="defect", by="oncall", tenant_id=tenant, at=at)
                self.incidents[found.incident_id] = tenant
                continue
            ok = action == "ok"
            self.live.setup(ops.record_publish, tenant_id=tenant, repository_id="web",
                            idempotency_key=f"{marker(index)}{n}", payload_hash=f"{n:064x}",
                            outcome="success" if ok else "error",
                            error_code=None if ok else "HTTP_STATUS", attempts=1,
                            latency_ms=30, occurred_at=at)
        self.live.setup(ops.advance, START)
        for alert_incident in self.live.setup(ops.incidents, all_tenants=True):
            self.incidents.setdefault(alert_incident.incident_id, alert_incident.tenant_id)


def tenants_named(value: Any) -> set[Any]:
    """Every value of a ``tenant_id`` / ``tenant`` key anywhere in a JSON value."""
    found: set[Any] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("tenant_id", "tenant"):
                found.add(item)
            found |= tenants_named(item)
    elif isinstance(value, list):
        for item in value:
            found |= tenants_named(item)
    return found


def check_own_reads(world: World, index: int) -> None:
    """Tenant ``index``'s token on its own reads: only its rows (or rows of no tenant)."""
    tenant, headers = TENANTS[index], world.tokens[TENANTS[index]]
    others = [marker(j) for j in range(len(TENANTS)) if j != index]
    for path in READS:
        answer = world.get(headers, f"/v1/tenants/{tenant}/{path}")
        assert answer.status_code == 200, (path, answer.text)
        assert not any(m in answer.text for m in others), path
        if path.startswith("export"):
            if "ndjson" in path:
                rows = [orjson.loads(line) for line in answer.content.splitlines()]
                assert tenants_named(rows) <= {tenant, None}, path
            continue
        assert tenants_named(answer.json()) <= {tenant, None}, path
    own = world.live.setup(world.live.ops.audit, AuditQuery(tenant_id=tenant))
    seen, cursor = [], None
    for _ in range(200):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = world.live.http.get(f"/v1/tenants/{tenant}/audit", headers=headers,
                                   params=params).json()
        assert {r["tenant_id"] for r in page["rows"]} <= {tenant}
        seen += [r["operation_id"] for r in page["rows"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert sorted(seen) == sorted(r.operation_id for r in own)


def check_incidents_by_id(world: World, index: int) -> None:
    """Tenant ``index``'s token on every incident by id: its own shown; any other answers
    what an id that does not exist answers."""
    tenant, headers = TENANTS[index], world.tokens[TENANTS[index]]
    nowheres = {suffix: world.get(headers, f"/v1/incidents/{NOWHERE}{suffix}")
                for suffix in ("", "/deadlines")}
    for incident_id, owner in world.incidents.items():
        for suffix, nowhere in nowheres.items():
            answer = world.get(headers, f"/v1/incidents/{incident_id}{suffix}")
            if owner == tenant:
                assert answer.status_code == 200
                assert tenants_named(answer.json()) <= {tenant}
                continue
            assert answer.status_code == nowhere.status_code == 404
            assert answer.text.replace(incident_id, "ID") == nowhere.text.replace(NOWHERE, "ID")


def check_foreign_paths(world: World, index: int) -> None:
    """Another tenant's id in the path: the same 404 and body as an id that does not
    exist (the body names the id asked for, as it names ``nobody``)."""
    headers = world.tokens[TENANTS[index]]
    for other in TENANTS:
        if other == TENANTS[index]:
            continue
        for path in READS:
            answer = world.get(headers, f"/v1/tenants/{other}/{path}")
            unknown = world.unknown[path]
            assert answer.status_code == unknown.status_code == 404
            assert anonymous(answer.json(), other) == anonymous(unknown.json(), "nobody")


def anonymous(body: dict[str, Any], tenant: str) -> dict[str, Any]:
    """An error body with the tenant id it names (as asked for) replaced by ``X``."""
    return {"code": body["code"], "message": body["message"].replace(repr(tenant), "'X'"),
            "details": {k: "X" if v == tenant else v for k, v in body["details"].items()}}


def run_property(live: Any, examples: int) -> None:
    world = World(live)

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=(Phase.explicit, Phase.generate),  # no shrinking: each example is slow
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(actions=ACTIONS, reader=st.integers(0, len(TENANTS) - 1))
    def prop(actions: list[tuple[int, str]], reader: int) -> None:
        world.apply(actions)
        check_own_reads(world, reader)
        check_incidents_by_id(world, reader)

    prop()
    for index in range(len(TENANTS)):
        check_own_reads(world, index)
        check_incidents_by_id(world, index)
        check_foreign_paths(world, index)


@pytest.mark.policy("5.scoping")
def test_no_read_with_one_tenants_token_returns_another_tenants_row(
    api_factory: Any, sqlite_url: str
) -> None:
    """The default tier on a SQLite file; the slow tier runs 12 examples on both stores."""
    run_property(api_factory(sqlite_url), examples=3)


@pytest.mark.slow
@pytest.mark.policy("5.scoping")
def test_no_read_with_one_tenants_token_returns_another_tenants_row_more_examples(
    live_api: Any,
) -> None:
    run_property(live_api, examples=12)
