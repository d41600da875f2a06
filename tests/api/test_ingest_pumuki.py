"""Pumuki's own sample audit posted to a live API as NDJSON (the bytes Pumuki wrote) gives the
same import summary, audit rows, refusals and SLOs as ``import_pumuki_audit`` — and as
``opsledger import pumuki-audit`` — of the same file into a second fresh store; posting it
again records nothing new."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opsledger import AuditQuery, FrozenClock, Operations, Period
from opsledger.serialize import dumps_wire

TENANT = "tenant-solo"
REPOSITORIES = ["repo-solo-api", "repo-solo-web"]
NDJSON = {"Content-Type": "application/x-ndjson"}
BODY = "<body>"
DAY_AFTER = datetime(2026, 11, 4, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["import_pumuki_audit", "cli"])
def reference(request: pytest.FixtureRequest, tmp_path: Path, sample_audit: Path,
              live_api: Any) -> Iterator[tuple[Operations, Any]]:
    """A second fresh store (SQLite file), set up as the API's, with the sample imported by
    ``import_pumuki_audit`` in process, or by ``opsledger import pumuki-audit``; and that
    import's summary (as the API words it: the CLI names the file, the API ``<body>``)."""
    from opsledger_test_support import saas_tenant

    url = f"sqlite:///{tmp_path / 'reference.db'}"
    ops = Operations.open(url, clock=FrozenClock(live_api.clock.now()))
    saas_tenant(ops, TENANT, REPOSITORIES)
    if request.param == "cli":
        ops.close()
        done = subprocess.run([sys.executable, "-m", "opsledger.cli", "import", "pumuki-audit",
                               str(sample_audit), "--db", url, "--json"],
                              capture_output=True, text=True, timeout=120, check=True)
        summary = {**json.loads(done.stdout), "late_facts": {}}  # the CLI's alert pass
        ops = Operations.open(url, clock=FrozenClock(live_api.clock.now()))
    else:
        with sample_audit.open("rb") as source:
            summary = json.loads(dumps_wire(ops.import_pumuki_audit([source], names=[BODY])))
    yield ops, summary
    ops.close()


def _rows(ops: Operations) -> list[dict[str, Any]]:
    """The tenant's audit rows, without their position in the log."""
    rows = json.loads(dumps_wire(ops.audit(AuditQuery(tenant_id=TENANT))))
    return [{k: v for k, v in r.items() if k != "notification_id"} for r in rows]


def _refusals(ops: Operations) -> list[tuple[str, str, str | None]]:
    return [(r.reason, r.message, r.subject_id)
            for r in ops.audit_refusals(AuditQuery(tenant_id=TENANT))]


@pytest.mark.policy("2.availability")
@pytest.mark.policy("2.latency")
@pytest.mark.policy("5.idempotency_key")
@pytest.mark.policy("5.audit_trail")
def test_the_sample_posted_as_ndjson_equals_its_import_and_posting_it_twice_records_nothing(
        live_api: Any, reference: tuple[Operations, Any], sample_audit: Path,
        snapshot: Any) -> None:
    store, imported = reference
    live_api.saas_tenant(TENANT, REPOSITORIES)
    ingest = {**live_api.auth(live_api.token("ingest", TENANT, owner="pumuki")), **NDJSON}
    body = sample_audit.read_bytes()

    first = live_api.http.post("/v1/publishes", content=body, headers=ingest)
    assert first.status_code == 200, first.text
    summary = first.json()["summary"]
    assert summary == imported  # the importer's own summary, field for field
    assert summary["lines"] == 571 and summary["imported"] > 500
    assert first.json()["items"] == []  # no line refused

    assert live_api.setup(_rows, live_api.ops) == _rows(store)
    assert live_api.setup(_refusals, live_api.ops) == _refusals(store)
    reader = live_api.auth(live_api.token("read", TENANT))
    for clock in (live_api.clock, store.clock):  # the whole sample day has passed
        clock.set(DAY_AFTER)
    slo = live_api.http.get(f"/v1/tenants/{TENANT}/slo", params={"day": "2026-11-03"},
                            headers=reader)
    assert slo.status_code == 200, slo.text
    expected = store.slo(Period.day("2026-11-03"), tenant_id=TENANT)
    assert slo.json() == json.loads(dumps_wire(expected))
    assert slo.json()[0]["operations"] == 571

    before = live_api.setup(snapshot, live_api.ops)
    again = live_api.http.post("/v1/publishes", content=body, headers=ingest)
    assert again.status_code == 200
    assert again.json()["summary"]["imported"] == 0
    assert again.json()["summary"]["duplicates"] == summary["imported"] + summary["duplicates"]
    assert again.json()["items"] == []
    assert live_api.setup(snapshot, live_api.ops) == before


@pytest.mark.policy("5.scoping")
def test_another_tenants_token_posting_the_sample_stores_nothing(
        live_api: Any, sample_audit: Path, snapshot: Any) -> None:
    live_api.saas_tenant(TENANT, REPOSITORIES)
    live_api.saas_tenant("acme")
    ingest = {**live_api.auth(live_api.token("ingest", "acme")), **NDJSON}
    before = live_api.setup(snapshot, live_api.ops)
    answer = live_api.http.post("/v1/publishes", content=sample_audit.read_bytes(),
                                headers=ingest)
    assert answer.status_code == 200
    summary = answer.json()["summary"]
    assert (summary["lines"], summary["imported"], len(summary["rejected"])) == (571, 0, 571)
    assert {r["error"] for r in summary["rejected"]} == {f"unknown_tenant: unknown tenant "
                                                        f"{TENANT!r}"}
    assert live_api.setup(snapshot, live_api.ops) == before
