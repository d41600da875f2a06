"""Helpers of the dashboard's tests (imported as ``opsledger_test_ui``): a world of two
tenants with an incident each on a live API, a logged-in httpx client, and publishes posted
over the API as a producer would."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

#: The API tests' frozen clock (tests/api/conftest.py).
START = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def login(api: Any, token: str, base: str | None = None) -> httpx.Client:
    """A client logged in to the dashboard with ``token`` (its session cookie kept)."""
    client = httpx.Client(base_url=base or api.base, timeout=30)
    form = client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text[:500]
    answer = client.post("/ui/login", data={"token": token, "csrf": csrf[1]},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text[:500]
    return client


def publish_lines(tenant: str, first: datetime, successes: int, failures: int,
                  prefix: str = "k") -> bytes:
    """NDJSON publish records for ``tenant`` (repository ``web``), one a second from
    ``first``: ``successes`` then ``failures`` (HTTP 500s)."""
    lines = []
    for i in range(successes + failures):
        failed = i >= successes
        lines.append(json.dumps({
            "tenant_id": tenant, "repository_id": "web", "idempotency_key": f"{prefix}{i}",
            "payload_hash": f"{i:064x}", "outcome": "error" if failed else "success",
            "error_code": "HTTP_STATUS" if failed else None, "attempts": 1,
            "latency_ms": 120, "occurred_at": (first + timedelta(seconds=i)).isoformat()}))
    return ("\n".join(lines) + "\n").encode()


def publish_minutes(api: Any, tenant: str, successes: int, failures: int,
                    prefix: str = "k", base: str | None = None,
                    first: datetime | None = None) -> None:
    """Post publishes over the API with a new ingest token of ``tenant``."""
    token = api.token("ingest", tenant, owner=f"{tenant}-ci")
    answer = httpx.post(f"{base or api.base}/v1/publishes",
                        content=publish_lines(tenant, first or START - timedelta(minutes=30),
                                              successes, failures, prefix),
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/x-ndjson"}, timeout=60)
    assert answer.status_code == 200, answer.text[:500]


class UiWorld:
    """Tenants ``acme`` and ``beta`` (SaaS, repository ``web``) with an open SEV2 incident
    each, opened at START."""

    def __init__(self, api: Any) -> None:
        self.api = api
        api.clock.set(START - timedelta(days=1))
        api.saas_tenant("acme")
        api.saas_tenant("beta")
        api.clock.set(START)
        self.acme_incident = self.open_incident("acme")
        self.beta_incident = self.open_incident("beta")

    def open_incident(self, tenant: str, title: str = "ingestion down") -> str:
        """Open a SEV2 incident of ``tenant`` now; its id."""
        found = self.api.setup(self.api.ops.open_incident, severity="SEV2", title=title,
                               cause="ingestion_outage", tenant_id=tenant, by="oncall")
        return str(found.incident_id)

    def incident(self, incident_id: str) -> Any:
        """The incident now."""
        return self.api.setup(self.api.ops.incident, incident_id)
