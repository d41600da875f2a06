"""The writes over a real uvicorn (SQLite file and PostgreSQL): publishes and visibility per
item, tenant scoping of ingest tokens, the operator writes (incidents, gate, policy), and
every error status with its typed body — a rejected command leaving the store unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsledger import AuditQuery

START = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)  # the API's frozen clock (tests/api/conftest)

NDJSON = {"Content-Type": "application/x-ndjson"}
HASH_A, HASH_B = "a" * 64, "b" * 64


def publish(tenant: str = "acme", key: str = "k1", payload_hash: str = HASH_A,
            minutes: int = 60, **fields: Any) -> dict[str, Any]:
    """A publish record, ``minutes`` before the API's clock."""
    return {"tenant_id": tenant, "repository_id": "web", "idempotency_key": key,
            "payload_hash": payload_hash, "outcome": "success", "attempts": 1,
            "latency_ms": 100 + minutes,
            "occurred_at": (START - timedelta(minutes=minutes)).isoformat(), **fields}


def snapshot_record(tenant: str = "acme", key: str = "k1", minutes: int = 50) -> dict[str, Any]:
    """A downstream-snapshot record, ``minutes`` before the API's clock."""
    return {"tenant_id": tenant, "repository_id": "web", "idempotency_key": key,
            "payload_hash": HASH_A,
            "visible_at": (START - timedelta(minutes=minutes)).isoformat()}


def ndjson(*records: dict[str, Any]) -> bytes:
    """Records as NDJSON lines."""
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


class World:
    """A live API with tenants ``acme`` and ``beta`` (SaaS mode, repository ``web``) and a
    token of each kind."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.http = api.http
        api.saas_tenant("acme")
        api.saas_tenant("beta")
        self.acme = api.auth(api.token("ingest", "acme", owner="acme-ci"))
        self.beta = api.auth(api.token("ingest", "beta", owner="beta-ci"))
        self.reader = api.auth(api.token("read", "acme"))
        self.operator = api.auth(api.token("operator", owner="ops-lead"))

    def snapshot(self, take: Any) -> Any:
        """Every event and view row of the store (under the engine's lock)."""
        return self.api.setup(take, self.api.ops)

    def audit(self, tenant: str) -> list[Any]:
        """The tenant's audit rows."""
        return list(self.api.setup(self.api.ops.audit, AuditQuery(tenant_id=tenant)))

    def refusals(self, tenant: str) -> list[Any]:
        """The tenant's audited refusals."""
        return list(self.api.setup(self.api.ops.audit_refusals, AuditQuery(tenant_id=tenant)))


@pytest.fixture
def world(live_api: Any) -> World:
    """Two tenants on a live API (SQLite file and PostgreSQL)."""
    return World(live_api)


def statuses(answer: Any) -> list[str]:
    """The per-item statuses of a 200 answer."""
    assert answer.status_code == 200, answer.text
    return [item["status"] for item in answer.json()["items"]]


def assert_error(answer: Any, status: int, code: str) -> dict[str, Any]:
    """A typed error body with ``status`` and ``code``."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == code
    return body


# ---- publishes ---------------------------------------------------------------------------
@pytest.mark.policy("5.idempotency_key")
def test_one_record_is_recorded_and_posting_it_again_records_nothing_new(
        world: World, snapshot: Any) -> None:
    first = world.http.post("/v1/publishes", json=publish(), headers=world.acme)
    assert statuses(first) == ["recorded"]
    item = first.json()["items"][0]
    assert item["operation_id"] and item["batch_id"] and item["error"] is None
    before = world.snapshot(snapshot)
    again = world.http.post("/v1/publishes", json=publish(), headers=world.acme)
    assert statuses(again) == ["duplicate"]
    assert again.json()["summary"]["duplicates"] == 1
    assert world.snapshot(snapshot) == before
    (row,) = world.audit("acme")
    assert row.source == "api" and row.operation_id == item["operation_id"]


def test_a_json_record_may_be_a_pumuki_audit_object_as_it_is(world: World) -> None:
    pumuki = publish()
    pumuki["event_at"], pumuki["event_id"] = pumuki.pop("occurred_at"), "saas-ingestion-1"
    answer = world.http.post("/v1/publishes", json=pumuki, headers=world.acme)
    assert statuses(answer) == ["recorded"]
    assert answer.json()["items"][0]["operation_id"] == "saas-ingestion-1"
    bad = world.http.post("/v1/publishes", json={**pumuki, "event_at": "yesterday"},
                          headers=world.acme)
    assert bad.json()["items"][0]["error"]["field"] == "event_at"  # named as Pumuki names it


@pytest.mark.policy("5.idempotency_key")
@pytest.mark.policy("5.audit_trail")
def test_an_array_answers_each_record_retry_collision_duplicate_and_refusals(
        world: World, snapshot: Any) -> None:
    body = [publish(cls=1, time_bounds=2), publish(minutes=59),
            publish(payload_hash=HASH_B, minutes=58),
            publish(), publish(key="k2", idempotency_key=None), publish(key="k3",
            repository_id="api"), publish(key="k4", payload_hash="xyz"), 7]
    answer = world.http.post("/v1/publishes", json=body, headers=world.acme)
    assert statuses(answer) == ["recorded", "retry", "collision", "duplicate", "refused",
                                "refused", "refused", "refused"]
    items = answer.json()["items"]
    assert [i["item"] for i in items] == list(range(1, 9))
    errors = [(i["error"]["code"], i["error"]["field"]) for i in items[4:]]
    assert errors == [("missing_idempotency_key", None), ("repository_out_of_scope", None),
                      ("invalid_record", "payload_hash"), ("invalid_input", None)]
    summary = answer.json()["summary"]
    assert (summary["lines"], summary["imported"], summary["retries"], summary["collisions"],
            summary["duplicates"]) == (8, 3, 1, 1, 1)
    assert [r["line"] for r in summary["rejected"]] == [5, 6, 7, 8]
    assert len(world.audit("acme")) == 3
    assert [r.reason for r in world.refusals("acme")] == ["repository_out_of_scope"]
    before = world.snapshot(snapshot)
    again = world.http.post("/v1/publishes", json=body, headers=world.acme)
    assert statuses(again) == ["duplicate"] * 4 + ["refused"] * 4
    assert world.snapshot(snapshot) == before  # the refusal is audited once, too


@pytest.mark.policy("5.scoping")
def test_a_tenant_token_posting_another_tenants_records_is_refused_as_unknown_and_stores_nothing(
        world: World, snapshot: Any) -> None:
    before = world.snapshot(snapshot)
    answer = world.http.post("/v1/publishes", json=[publish("beta"), publish("ghost")],
                             headers=world.acme)
    assert statuses(answer) == ["refused", "refused"]
    existing, unknown = (i["error"] for i in answer.json()["items"])
    assert existing["code"] == unknown["code"] == "unknown_tenant"
    assert existing["message"] == unknown["message"].replace("ghost", "beta")
    lines = world.http.post("/v1/publishes", content=ndjson(publish("beta"), publish("ghost")),
                            headers={**world.acme, **NDJSON})
    assert statuses(lines) == ["refused", "refused"]
    assert [i["error"]["code"] for i in lines.json()["items"]] == ["unknown_tenant"] * 2
    assert world.snapshot(snapshot) == before  # nothing for beta, not even a refusal
    assert world.audit("beta") == [] and world.refusals("beta") == []


@pytest.mark.policy("5.scoping")
@pytest.mark.policy("5.audit_trail")
def test_an_operator_token_posts_for_any_tenant_and_an_unknown_tenant_is_audited(
        world: World) -> None:
    answer = world.http.post("/v1/publishes", json=[publish("beta"), publish("ghost")],
                             headers=world.operator)
    assert statuses(answer) == ["recorded", "refused"]
    assert answer.json()["items"][1]["error"]["code"] == "unknown_tenant"
    assert len(world.audit("beta")) == 1
    refusals = list(world.api.setup(world.api.ops.audit_refusals,
                                    AuditQuery(all_tenants=True)))
    assert [(r.tenant_id, r.reason) for r in refusals] == [("ghost", "unknown_tenant")]


def test_registering_unknown_tenants_is_for_operator_tokens(world: World) -> None:
    assert_error(world.http.post("/v1/publishes?register_unknown=true",
                                 json=publish("new-co"), headers=world.acme), 403, "forbidden")
    answer = world.http.post("/v1/publishes?register_unknown=true",
                             content=ndjson(publish("new-co")),
                             headers={**world.operator, **NDJSON})
    assert answer.json()["summary"]["imported"] == 1
    assert list(world.api.setup(world.api.ops.tenant, "new-co").repositories) == ["web"]


@pytest.mark.policy("5.scoping")
def test_ndjson_mixing_own_foreign_and_malformed_lines_stores_only_the_valid_own_ones(
        world: World) -> None:
    from opsledger import MAX_LINE_BYTES

    good = b"\xef\xbb\xbf" + json.dumps(publish(key="k7")).encode()  # Pumuki may write a BOM
    too_long = json.dumps(publish("beta", key="k10", note="n" * MAX_LINE_BYTES)).encode()
    lines = [good, json.dumps(publish("beta", key="k8")).encode(), b'{"tenant_id": "acme", ',
             json.dumps(publish(key="k9", latency_ms=-1)).encode(), b"[1, 2]", too_long]
    answer = world.http.post("/v1/publishes", content=b"\r\n".join(lines),
                             headers={**world.acme, **NDJSON})
    refused = {i["item"]: (i["error"]["code"], i["error"]["field"])
               for i in answer.json()["items"]}
    assert refused == {2: ("unknown_tenant", None), 3: ("invalid_input", None),
                       4: ("invalid_record", "latency_ms"), 5: ("invalid_input", None),
                       6: ("line_too_long", None)}  # as the importer refuses it, unread
    summary = answer.json()["summary"]
    assert (summary["lines"], summary["imported"]) == (6, 1)
    assert [r.idempotency_key for r in world.audit("acme")] == ["k7"]
    assert world.audit("beta") == [] and world.refusals("beta") == []
    assert "n" * 50 not in answer.text


def test_a_malformed_ndjson_body_leaves_the_store_unchanged(world: World, snapshot: Any) -> None:
    before = world.snapshot(snapshot)
    body = b'{"tenant_id": "acme"}\n{not json\n' + json.dumps(
        publish(occurred_at="2026-11-03T10:00:00")).encode()
    answer = world.http.post("/v1/publishes", content=body, headers={**world.acme, **NDJSON})
    assert [i["error"]["code"] for i in answer.json()["items"]] == [
        "invalid_record", "invalid_input", "naive_datetime"]
    assert world.snapshot(snapshot) == before


@pytest.mark.parametrize(("body", "why"), [
    (b"", "empty"), (b"   ", "empty"), (b'{"tenant_id": ', "not valid JSON"),
])
def test_a_body_that_is_no_record_at_all_is_422(world: World, snapshot: Any, body: bytes,
                                                why: str) -> None:
    before = world.snapshot(snapshot)
    answer = world.http.post("/v1/publishes", content=body,
                             headers={**world.acme, "Content-Type": "application/json"})
    assert why in assert_error(answer, 422, "invalid_input")["message"]
    assert world.snapshot(snapshot) == before


def test_a_body_of_more_items_than_the_limit_is_422_unread(world: World,
                                                           monkeypatch: Any) -> None:
    from opsledger.api import bodies

    monkeypatch.setattr(bodies, "MAX_ITEMS", 2)
    for body, headers in ((json.dumps([publish()] * 3).encode(), {}),
                          (ndjson(publish(), publish(), publish()), NDJSON)):
        answer = world.http.post("/v1/publishes", content=body,
                                 headers={**world.acme, **headers})
        assert "at most 2 records" in assert_error(answer, 422, "invalid_input")["message"]
    assert world.audit("acme") == []


@pytest.mark.parametrize("path", ["/v1/publishes", "/v1/visibility"])
def test_ingest_needs_an_ingest_token(world: World, path: str) -> None:
    assert_error(world.http.post(path, json={}), 401, "unauthenticated")
    assert_error(world.http.post(path, json={}, headers=world.reader), 403, "forbidden")


def test_a_body_over_the_limit_is_413_before_it_is_read(api_factory: Any,
                                                         sqlite_url: str) -> None:
    api = api_factory(sqlite_url, max_body_bytes=1024)
    api.saas_tenant("acme")
    token = api.token("ingest", "acme")
    answer = api.http.post("/v1/publishes", content=b"x" * 5000, headers={
        **api.auth(token), "Content-Type": "application/x-ndjson"})
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"

    def chunks() -> Any:
        for _ in range(10):
            yield b"y" * 500

    streamed = api.http.post("/v1/publishes", content=chunks(), headers={
        **api.auth(token), "Content-Type": "application/x-ndjson"})
    assert streamed.status_code == 413


def test_a_chunked_operator_body_over_the_limit_is_the_typed_413(api_factory: Any,
                                                                  sqlite_url: str) -> None:
    api = api_factory(sqlite_url, max_body_bytes=1024)
    operator = api.auth(api.token("operator"))

    def chunks() -> Iterator[bytes]:
        yield b'{"reason": "' + b"r" * 2000
        yield b'"}'

    answer = api.http.post("/v1/gate/rollback", content=chunks(), headers=operator)
    assert_error(answer, 413, "payload_too_large")


# ---- visibility --------------------------------------------------------------------------
@pytest.mark.policy("2.freshness")
def test_visibility_records_are_recorded_once_and_scoped_to_the_token(
        world: World, snapshot: Any) -> None:
    world.http.post("/v1/publishes", json=publish(), headers=world.acme)
    answer = world.http.post("/v1/visibility", json=[snapshot_record(), snapshot_record()],
                             headers=world.acme)
    assert statuses(answer) == ["recorded", "duplicate"]
    before = world.snapshot(snapshot)
    refused = world.http.post(
        "/v1/visibility", json=[snapshot_record("beta"), snapshot_record("ghost"),
                                {**snapshot_record(), "repository_id": "api"},
                                {**snapshot_record(), "visible_at": "2026-11-03T11:00:00"}],
        headers=world.acme)
    assert statuses(refused) == ["refused"] * 4
    assert [i["error"]["code"] for i in refused.json()["items"]] == [
        "unknown_tenant", "unknown_tenant", "repository_out_of_scope", "naive_datetime"]
    assert refused.json()["summary"]["rejected"][0]["line"] == 1
    assert world.snapshot(snapshot) == before


@pytest.mark.policy("2.freshness")
@pytest.mark.policy("5.scoping")
def test_visibility_ndjson_is_the_snapshot_import_and_store_wide_figures_are_for_operators(
        world: World) -> None:
    world.http.post("/v1/publishes", json=[publish(), publish("beta", key="kb", minutes=50)],
                    headers=world.operator)
    body = ndjson(snapshot_record(), snapshot_record("beta", key="kb"))
    mine = world.http.post("/v1/visibility", content=body, headers={**world.acme, **NDJSON})
    summary = mine.json()["summary"]
    assert (summary["lines"], summary["recorded"], summary["missed"]) == (2, 1, 0)
    assert "watermark" not in summary or summary["watermark"] is None
    assert [(i["item"], i["error"]["code"]) for i in mine.json()["items"]] == [
        (2, "unknown_tenant")]
    theirs = world.http.post("/v1/visibility", content=body,
                             headers={**world.operator, **NDJSON})
    summary = theirs.json()["summary"]
    assert (summary["recorded"], summary["duplicates"]) == (1, 1)
    assert summary["watermark"] is not None


# ---- incidents ---------------------------------------------------------------------------
def _open(world: World, severity: str = "SEV2", **fields: Any) -> dict[str, Any]:
    answer = world.http.post("/v1/incidents", json={
        "severity": severity, "title": "ingestion down", "cause": "ingestion_outage",
        "tenant_id": "acme", **fields}, headers=world.operator)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert answer.headers["Location"] == f"/v1/incidents/{body['incident_id']}"
    return body


@pytest.mark.policy("3.SEV2.ack")
@pytest.mark.policy("5.audit_trail")
def test_an_incident_goes_through_its_lifecycle_with_the_actor_recorded(world: World) -> None:
    incident = _open(world)
    assert incident["state"] == "open" and incident["tenant_id"] == "acme"
    base = f"/v1/incidents/{incident['incident_id']}"
    later = (START + timedelta(minutes=5)).isoformat()
    steps = [("ack", {"at": later}, "acknowledged"),
             ("mitigate", {"by": "alice"}, "mitigating"),
             ("status-updates", {"message": "investigating", "customer_facing": False},
              "mitigating"),
             ("severity", {"severity": "SEV1", "reason": "wider impact"}, "mitigating"),
             ("resolve", {"summary": "fixed"}, "resolved"),
             ("rca", {"link": "https://example.org/rca"}, "resolved"),
             ("close", {}, "closed")]
    for path, body, state in steps:
        if path == "mitigate":
            world.api.clock.set(START + timedelta(minutes=10))
        answer = world.http.post(f"{base}/{path}", json=body, headers=world.operator)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["state"] == state
    final = answer.json()
    assert final["severity"] == "SEV1" and final["rca_link"] == "https://example.org/rca"
    assert final["acknowledged_at"].startswith(later[:16])
    actors = [e.by for e in world.api.setup(world.api.ops.incident_timeline,
                                            incident["incident_id"])
              if getattr(e, "by", None)]
    assert "alice" in actors and set(actors) == {"ops-lead", "alice"}


@pytest.mark.policy("3.SEV3.fix_scheduled")
def test_a_sev3_fix_is_scheduled(world: World) -> None:
    incident = _open(world, "SEV3", tenant_id=None)
    assert incident["tenant_id"] is None
    base = f"/v1/incidents/{incident['incident_id']}"
    assert world.http.post(f"{base}/ack", headers=world.operator).status_code == 200
    answer = world.http.post(f"{base}/schedule-fix", json={"sprint": "2026-S23"},
                             headers=world.operator)
    assert answer.status_code == 200 and answer.json()["fix_sprint"] == "2026-S23"
    deadlines = {d["kind"]: d["status"] for d in answer.json()["deadlines"]}
    assert deadlines.get("fix_scheduled") == "met"


def test_incident_errors_are_typed_and_change_nothing(world: World, snapshot: Any) -> None:
    incident = _open(world)
    base = f"/v1/incidents/{incident['incident_id']}"
    before = world.snapshot(snapshot)
    assert_error(world.http.post(f"{base}/close", headers=world.operator), 409,
                 "illegal_transition")
    assert_error(world.http.post(f"/v1/incidents/{uuid.uuid4()}/ack", headers=world.operator),
                 404, "not_found")
    assert_error(world.http.post("/v1/incidents/not-an-id/ack", headers=world.operator),
                 404, "not_found")
    assert_error(world.http.post("/v1/incidents", json={
        "severity": "SEV2", "title": "t", "cause": "ingestion_outage", "tenant_id": "ghost"},
        headers=world.operator), 404, "unknown_tenant")
    for body in ({"severity": "SEV9", "title": "t", "cause": "ingestion_outage"},
                 {"severity": "SEV2", "title": "t", "cause": "sunspots"},
                 {"severity": "SEV2", "title": "t", "cause": "ingestion_outage",
                  "at": "2026-11-03T12:00:00"},
                 {"severity": "SEV2", "title": "t", "cause": "ingestion_outage", "extra": 1}):
        assert_error(world.http.post("/v1/incidents", json=body, headers=world.operator),
                     422, "invalid_input")
    assert_error(world.http.post(f"{base}/severity", content=b"{", headers=world.operator),
                 422, "invalid_input")
    assert world.snapshot(snapshot) == before


@pytest.mark.policy("5.scoping")
def test_incident_actions_are_operator_only_even_on_the_tokens_own_tenant(
        world: World, snapshot: Any) -> None:
    incident = _open(world)
    before = world.snapshot(snapshot)
    for headers in (world.acme, world.beta, world.reader):
        assert_error(world.http.post(f"/v1/incidents/{incident['incident_id']}/ack",
                                     headers=headers), 403, "forbidden")
        assert_error(world.http.post(f"/v1/incidents/{uuid.uuid4()}/ack", headers=headers),
                     403, "forbidden")  # the same whether the incident exists or not
        assert_error(world.http.post("/v1/incidents", json={}, headers=headers), 403,
                     "forbidden")
    assert_error(world.http.post(f"/v1/incidents/{incident['incident_id']}/ack"), 401,
                 "unauthenticated")
    assert world.snapshot(snapshot) == before


# ---- gate and policy ---------------------------------------------------------------------
@pytest.mark.policy("6.rollback_to_local")
def test_gate_evidence_activation_and_rollback(live_api: Any) -> None:
    from opsledger_test_support import EVIDENCE

    operator = live_api.auth(live_api.token("operator", owner="release"))
    refused = live_api.http.post("/v1/gate/activate", json={"version": "1.0.0"},
                                 headers=operator)
    assert "saas_ingestion_tests" in assert_error(refused, 409, "activation_refused")["message"]
    for check, details in EVIDENCE.items():
        answer = live_api.http.post("/v1/gate/evidence", json={
            "check": check, "details": details}, headers=operator)
        assert answer.status_code == 200, answer.text
    states = {c["check"]: c["state"] for c in answer.json()["checks"]}
    assert set(states.values()) == {"passed"}
    assert answer.json()["checks"][0]["evidence"]["by"] == "release"
    active = live_api.http.post("/v1/gate/activate", json={"version": "1.0.0"},
                                headers=operator)
    assert active.status_code == 200 and active.json()["mode"] == "saas"
    back = live_api.http.post("/v1/gate/rollback", json={"reason": "drill"}, headers=operator)
    assert back.status_code == 200 and back.json()["mode"] == "local_only"
    assert_error(live_api.http.post("/v1/gate/evidence", json={"check": "typecheck",
                                                               "result": "maybe"},
                                    headers=operator), 422, "invalid_input")


def test_gate_writes_are_operator_only(world: World) -> None:
    for path in ("/v1/gate/evidence", "/v1/gate/activate", "/v1/gate/rollback", "/v1/policy"):
        assert_error(world.http.post(path, json={}, headers=world.acme), 403, "forbidden")
        assert_error(world.http.post(path, json={}), 401, "unauthenticated")


POLICY_TOML = "[slo]\navailability_target = 0.995\n"


def test_a_policy_is_adopted_from_toml_or_json_once(world: World) -> None:
    effective = (START + timedelta(hours=1)).isoformat()
    answer = world.http.post("/v1/policy", json={"toml": POLICY_TOML, "reason": "tuning",
                                                 "effective_at": effective},
                             headers=world.operator)
    assert answer.status_code == 200 and answer.json()["adopted"] is True
    assert answer.json()["effective_at"].startswith(effective[:16])
    again = world.http.post("/v1/policy", json={"policy": {"slo": {
        "availability_target": 0.995}}, "reason": "same", "effective_at": effective},
        headers=world.operator)
    assert again.json()["adopted"] is False
    in_force = world.api.setup(world.api.ops.policy_at, START + timedelta(hours=2))
    assert in_force.slo.availability_target == 0.995


def test_an_invalid_policy_is_422_naming_each_key_and_changes_nothing(
        world: World, snapshot: Any) -> None:
    before = world.snapshot(snapshot)
    answer = world.http.post("/v1/policy", json={
        "toml": "[slo]\navailability_target = 5\n[alerts]\nbogus = '" + "x" * 500 + "'\n",
        "reason": "r"}, headers=world.operator)
    body = assert_error(answer, 422, "invalid_policy")
    fields = [p["field"] for p in body["details"]["problems"]]
    assert "slo.availability_target" in fields
    assert "x" * 100 not in answer.text  # a long value is quoted short
    assert_error(world.http.post("/v1/policy", json={"toml": "[slo", "reason": "r"},
                                 headers=world.operator), 422, "invalid_policy")
    for both_or_neither in ({"reason": "r"}, {"reason": "r", "toml": POLICY_TOML,
                                              "policy": {}}):
        assert_error(world.http.post("/v1/policy", json=both_or_neither,
                                     headers=world.operator), 422, "invalid_input")
    assert world.snapshot(snapshot) == before


def test_the_openapi_document_describes_every_write(live_api: Any) -> None:
    paths = live_api.http.get("/openapi.json").json()["paths"]
    writes = ["/v1/publishes", "/v1/visibility", "/v1/incidents", "/v1/gate/evidence",
              "/v1/gate/activate", "/v1/gate/rollback", "/v1/policy",
              *(f"/v1/incidents/{{incident_id}}/{p}" for p in (
                  "ack", "mitigate", "status-updates", "severity", "resolve", "rca",
                  "schedule-fix", "close"))]
    for path in writes:
        content = paths[path]["post"]["requestBody"]["content"]
        assert "application/json" in content, path
    assert "application/x-ndjson" in paths["/v1/publishes"]["post"]["requestBody"]["content"]
