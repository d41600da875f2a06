"""Helpers of the dashboard's tests (imported as ``opsledger_test_ui``): a world of two
tenants with an incident each on a live API, a logged-in httpx client, and publishes posted
over the API as a producer would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


def publish_records(tenant: str, first: datetime, successes: int, failures: int,
                    prefix: str = "k", step: float = 1.0) -> list[dict[str, Any]]:
    """Publish records (the API's JSON form) for ``tenant`` (repository ``web``), one each
    ``step`` seconds from ``first``: ``successes`` then ``failures`` (HTTP 500s)."""
    records = []
    for i in range(successes + failures):
        failed = i >= successes
        records.append({
            "tenant_id": tenant, "repository_id": "web", "idempotency_key": f"{prefix}{i}",
            "payload_hash": f"{i:064x}", "outcome": "error" if failed else "success",
            "error_code": "HTTP_STATUS" if failed else None, "attempts": 1,
            "latency_ms": 120,
            "occurred_at": (first + timedelta(seconds=i * step)).isoformat()})
    return records


def post_publishes(base: str, token: str, records: list[dict[str, Any]]) -> None:
    """Post publish records to ``/v1/publishes`` with an ingest ``token``."""
    answer = httpx.post(f"{base}/v1/publishes", json=records,
                        headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    assert all(item["status"] == "recorded" for item in answer.json()["items"]), \
        answer.text[:500]


def publish_minutes(api: Any, tenant: str, successes: int, failures: int,
                    prefix: str = "k") -> None:
    """Post publishes (30 minutes before START) with a new ingest token of ``tenant``."""
    token = api.token("ingest", tenant, owner=f"{tenant}-ci")
    post_publishes(api.base, token, publish_records(tenant, START - timedelta(minutes=30),
                                                  successes, failures, prefix))


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


class ServeProcess:
    """``opsledger serve`` as its own process on 127.0.0.1 (a free port), over ``db``."""

    def __init__(self, db: str, folder: Path, *options: str) -> None:
        self.out = folder / "serve.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "opsledger.cli", "serve", "--db", db, "--host",
                 "127.0.0.1", "--port", "0", *options], stdout=out, stderr=subprocess.STDOUT,
                env=env)
        self.base = self._address()

    def _address(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in self.out.read_text().splitlines():
                if "listening on " in line:
                    return line.split("listening on ")[1].split()[0]
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.out.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("serve did not start")

    def stop(self) -> str:
        """SIGTERM, wait (kill if it hangs); its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.out.read_text()
