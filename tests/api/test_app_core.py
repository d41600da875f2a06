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
