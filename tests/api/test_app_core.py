"""The API's core over a real uvicorn: authentication (401 and the count of failures by
reason), typed error bodies, the body size limit, the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest


def test_openapi_and_docs_are_served(live_api: Any) -> None:
    document = live_api.http.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "opsledger"
    assert live_api.http.get("/docs").status_code == 200


@pytest.mark.parametrize(("header", "reason"), [
    (None, "missing"),
    ("Bearer nonsense", "malformed"),
    ("Basic dXNlcjpwYXNz", "malformed"),
    ("Bearer olt_0123456789abcdef_" + "A" * 43, "unknown"),
])
def test_a_call_without_a_valid_token_is_401_with_a_typed_body_and_counted(
    live_api: Any, header: str | None, reason: str
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = live_api.http.get("/v1/tenants/acme/slo", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    body = answer.json()
    assert body["code"] == "unauthenticated" and set(body) == {"code", "message", "details"}
    assert "olt_" not in answer.text
    failures = live_api.app_state().auth_failures.snapshot()
    assert failures == {reason: 1}



def test_the_openapi_document_gives_the_typed_results_as_response_schemas(live_api: Any) -> None:
    document = live_api.http.get("/openapi.json").json()
    slo = document["paths"]["/v1/tenants/{tenant_id}/slo"]["get"]["responses"]["200"]
    schema = slo["content"]["application/json"]["schema"]
    assert schema["type"] == "array" and schema["items"]["$ref"].endswith("/SloReport")
    fields = document["components"]["schemas"]["SloReport"]["properties"]
    assert {"tenant_id", "availability", "latency_p95_ms", "error_budget"} <= set(fields)


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/v1/no-such-thing", 404, "not_found"),
    ("DELETE", "/v1/publishes", 405, "method_not_allowed"),
])
def test_the_frameworks_own_refusals_are_typed_bodies_too(
    live_api: Any, method: str, path: str, status: int, code: str
) -> None:
    answer = live_api.http.request(method, path)
    assert answer.status_code == status
    assert answer.json() == {"code": code, "message": answer.json()["message"], "details": {}}


def test_a_refusal_never_echoes_a_token_or_a_long_value(live_api: Any) -> None:
    operator = live_api.auth(live_api.token("operator"))
    token = live_api.token("operator")
    for path in (f"/v1/tenants/{token}/slo", f"/v1/incidents/{token}",
                 "/v1/tenants/" + "x" * 5000 + "/slo"):
        answer = live_api.http.get(path, headers=operator)
        assert answer.status_code == 404, path[:80]
        assert token[4:] not in answer.text and "x" * 100 not in answer.text
        assert len(answer.content) < 1000
    day = live_api.http.get("/v1/tenants/acme/slo", headers=operator, params={"day": token})
    assert day.status_code == 422 and token[4:] not in day.text


def test_a_period_outside_the_stores_times_and_an_array_of_too_many_items_are_422(
    live_api: Any
) -> None:
    operator = live_api.auth(live_api.token("operator"))
    live_api.saas_tenant("acme")
    for day in ("0001-01-01", "9999-12-31"):
        answer = live_api.http.get("/v1/tenants/acme/slo", headers=operator,
                                   params={"day": day})
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_input", day
    flood = live_api.http.post("/v1/publishes", content=b"[" + b"1," * 50_000 + b"1]",
                               headers={**operator, "Content-Type": "application/json"})
    assert flood.status_code == 422 and "at most 50,000" in flood.json()["message"]


def test_the_openapi_document_gives_the_bearer_scheme_and_the_typed_refusals(
    live_api: Any
) -> None:
    document = live_api.http.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    slo = document["paths"]["/v1/tenants/{tenant_id}/slo"]["get"]
    assert {"HTTPBearer": []} in slo["security"]
    assert "authorization" not in {p["name"].lower() for p in slo["parameters"]}
    for status in ("401", "403", "404", "422"):
        schema = slo["responses"][status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorBody"), status
    assert "HTTPValidationError" not in document["components"]["schemas"]
