"""Pumuki's own sample audit posted to a live API as NDJSON (the bytes Pumuki wrote) gives the
same import summary, audit rows, refusals and SLOs as ``import_pumuki_audit`` — and as
``opsledger import pumuki-audit`` — of the same file into a second fresh store; posting it
again records nothing new."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


#: Tenants whose ids share prefixes and case: a line of one is never another's.
PREFIXED = ["a", "a-b", "a_b", "A"]
_LINE = st.fixed_dictionaries({
    "tenant": st.sampled_from([*PREFIXED, "ghost", "a "]),
    "key": st.sampled_from(["k1", "k2", "k3"]),
    "hash": st.sampled_from(["a" * 64, "b" * 64]),
    "minutes": st.integers(1, 600),
    "valid": st.booleans(),
})


def _pumuki_line(line: dict[str, Any]) -> bytes:
    # (the id names every fact: one id with other facts is refused as operation_id_reused)
    record = {"event_id": f"e-{line['tenant']}-{line['key']}-{line['minutes']}-"
                          f"{line['hash'][0]}",
              "event_at": (datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
                           - timedelta(minutes=line["minutes"])).isoformat(),
              "tenant_id": line["tenant"], "repository_id": "web",
              "idempotency_key": line["key"], "payload_hash": line["hash"],
              "outcome": "success", "attempts": 1, "latency_ms": line["minutes"]}
    if not line["valid"]:
        record["attempts"] = "one"
    return json.dumps(record).encode()


@pytest.mark.policy("5.scoping")
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(_LINE, min_size=1, max_size=12), poster=st.sampled_from(PREFIXED))
def test_a_tenant_token_never_writes_a_line_of_another_tenant(
        api_factory: Any, tmp_path_factory: Any, lines: list[dict[str, Any]],
        poster: str) -> None:
    api = _prefixed_api(api_factory, tmp_path_factory)
    others = [t for t in PREFIXED if t != poster]
    before = {t: (api.setup(_rows_of, api.ops, t), api.setup(_refusals_of, api.ops, t))
              for t in others}
    answer = api.http.post("/v1/publishes", content=b"\n".join(map(_pumuki_line, lines)),
                           headers={**api.auth(api.tokens[poster]), **NDJSON})
    assert answer.status_code == 200, answer.text
    refused = {i["item"]: i["error"]["code"] for i in answer.json()["items"]}
    for number, line in enumerate(lines, start=1):
        if not line["valid"]:
            assert refused[number] == "invalid_record"
        elif line["tenant"] != poster:
            assert refused[number] == "unknown_tenant"
        else:
            assert number not in refused
    for tenant in others:  # nothing of theirs was written, not even a refusal
        assert (api.setup(_rows_of, api.ops, tenant),
                api.setup(_refusals_of, api.ops, tenant)) == before[tenant]


def _prefixed_api(api_factory: Any, tmp_path_factory: Any) -> Any:
    """One live API (SQLite file) for the examples of one run of the property (kept on that
    run's factory, which stops it): tenants ``PREFIXED``, an ingest token each."""
    api = getattr(api_factory, "prefixed", None)
    if api is None:
        api = api_factory(f"sqlite:///{tmp_path_factory.mktemp('prefixed') / 'store.db'}")
        for tenant in PREFIXED:
            api.saas_tenant(tenant)
        api.tokens = {t: api.token("ingest", t) for t in PREFIXED}
        api_factory.prefixed = api
    return api


def _rows_of(ops: Operations, tenant: str) -> list[Any]:
    return list(ops.audit(AuditQuery(tenant_id=tenant)))


def _refusals_of(ops: Operations, tenant: str) -> list[Any]:
    return list(ops.audit_refusals(AuditQuery(tenant_id=tenant)))
