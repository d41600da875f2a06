"""The outbox over HTTP: the dead-letter list and a delivery's attempts (``read``), an
operator's retry (``operator``); a tenant token sees its own tenant's deliveries only —
another tenant's answers exactly as an id that does not exist (policy §5 scoping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import opsledger_test_notify as receiving
import pytest

from opsledger import load_notify_config

from .conftest import START, LiveApi


@pytest.fixture
def refusing() -> Iterator[Any]:
    """A receiver on 127.0.0.1 that refuses everything (400: dead at once)."""
    server = receiving.Receiver(status=400)
    yield server
    server.close()


def _dead_letters(api: LiveApi, receiver: Any, tmp_path: Path) -> None:
    """acme's and beta's SEV2 incidents, their notifications refused: dead letters."""
    for tenant in ("acme", "beta"):
        api.saas_tenant(tenant)
        api.setup(api.ops.open_incident, severity="SEV2", title=f"{tenant} slow",
                  cause="latency", by="oncall", tenant_id=tenant, at=START)
    api.clock.set(START + timedelta(minutes=1))
    text = receiving.write_config(tmp_path, receiver.url).read_text()
    config = load_notify_config(text, {receiving.SECRET_ENV: receiving.SECRET})
    report = api.setup(api.ops.deliver_notifications, config)
    assert report.dead == 2 and receiver.count() == 2


@pytest.mark.policy("5.scoping")
def test_dead_letters_are_listed_shown_and_retried_over_http_each_tenant_its_own(
        live_api: LiveApi, refusing: Any, tmp_path: Path) -> None:
    api = live_api
    _dead_letters(api, refusing, tmp_path)
    operator = api.auth(api.token("operator", owner="alice"))
    acme = api.auth(api.token("read", tenant_id="acme"))

    dead = api.http.get("/v1/notifications", params={"state": "dead"}, headers=operator)
    assert dead.status_code == 200
    by_tenant = {d["tenant_id"]: d for d in dead.json()}
    assert set(by_tenant) == {"acme", "beta"}
    assert by_tenant["acme"]["reason"] == "refused: HTTP 400"

    own = api.http.get("/v1/notifications", headers=acme).json()
    assert [d["tenant_id"] for d in own] == ["acme"]
    beta_id = by_tenant["beta"]["delivery_id"]
    hidden = api.http.get(f"/v1/notifications/{beta_id}", headers=acme)
    unknown = api.http.get("/v1/notifications/0123456789ab", headers=acme)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["code"] == unknown.json()["code"] == "not_found"
    assert api.http.get("/v1/notifications", params={"tenant": "beta"},
                        headers=acme).status_code == 404

    shown = api.http.get(f"/v1/notifications/{by_tenant['acme']['delivery_id']}",
                         headers=acme).json()
    assert shown["notification"]["kind"] == "incident.opened"
    assert [(a["outcome"], a["status"]) for a in shown["attempts"]] == [("dead", 400)]

    assert api.http.post("/v1/notifications/retry", json={"all_dead": True},
                         headers=acme).status_code == 403
    assert api.http.post("/v1/notifications/retry", json={},
                         headers=operator).status_code == 422
    retried = api.http.post("/v1/notifications/retry", json={"ids": [beta_id]},
                            headers=operator)
    assert retried.status_code == 200
    assert [(d["delivery_id"], d["state"]) for d in retried.json()] == [(beta_id, "pending")]
    attempts = api.http.get(f"/v1/notifications/{beta_id}", headers=operator).json()["attempts"]
    assert (attempts[-1]["outcome"], attempts[-1]["by"]) == ("retried", "alice")
    assert api.http.get("/v1/notifications", params={"state": "bogus"},
                        headers=operator).status_code == 422
