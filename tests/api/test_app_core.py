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

