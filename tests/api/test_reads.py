"""The reads over a real uvicorn (SQLite file and PostgreSQL): each endpoint's answer is the
facade's own read of the same store (``to_wire`` of the same call, ``as_of`` included), and
each refusal has its status and typed body."""

from __future__ import annotations

import base64
import csv
import io
from datetime import timedelta
from typing import Any

import orjson
import pytest

from opsledger import AuditQuery, Period
from opsledger.reports.export import export_rows, render
from opsledger.serialize import to_wire

from .conftest import START

T0 = START - timedelta(hours=3)


def publish(live: Any, tenant: str, n: int, *, ok: bool = True, at: Any = None,
            repo: str = "web") -> None:
    """One publish of ``tenant`` through the facade."""
    live.setup(live.ops.record_publish, tenant_id=tenant, repository_id=repo,
               idempotency_key=f"{tenant}-{n}", payload_hash=f"{n:064x}",
               outcome="success" if ok else "error",
               error_code=None if ok else "HTTP_STATUS", attempts=1, latency_ms=40,
               occurred_at=at or T0 + timedelta(seconds=20 * n))


@pytest.fixture
def scene(live_api: Any) -> Any:
    """acme and globex in SaaS mode; an error burst of acme (an alert), 12 publishes of
    globex; an incident of acme (acknowledged), one of globex, one platform-wide."""
    live = live_api
    for tenant in ("acme", "globex"):
        live.saas_tenant(tenant, ["web"])
    for n in range(10):
        publish(live, "acme", n, ok=n >= 3)
    for n in range(12):
        publish(live, "globex", n)
    live.setup(live.ops.advance, START)
    ops = live.ops
    live.acme_incident = live.setup(ops.open_incident, severity="SEV2", title="slow",
                                    cause="latency", by="oncall", tenant_id="acme",
                                    at=START - timedelta(hours=1))
    live.setup(ops.acknowledge, live.acme_incident.incident_id, by="oncall",
               at=START - timedelta(minutes=50))
    live.globex_incident = live.setup(ops.open_incident, severity="SEV3", title="x",
                                      cause="defect", by="oncall", tenant_id="globex",
                                      at=START - timedelta(minutes=30))
    live.platform_incident = live.setup(ops.open_incident, severity="SEV2", title="all",
                                        cause="ingestion_outage", by="oncall",
                                        at=START - timedelta(minutes=20))
    live.acme = live.auth(live.token("read", "acme"))
    live.operator = live.auth(live.token("operator"))
    return live


def get(live: Any, path: str, headers: dict[str, str], **params: Any) -> Any:
    """GET ``path``; the answer's JSON, asserting 200."""
    answer = live.http.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_slo_is_the_facades_report_now_and_as_of(scene: Any) -> None:
    ops = scene.ops
    month = Period.month("2026-11")
    assert get(scene, "/v1/tenants/acme/slo", scene.acme, month="2026-11") == to_wire(
        scene.setup(ops.slo, month, tenant_id="acme"))
    then = T0 + timedelta(seconds=70)
    old = get(scene, "/v1/tenants/acme/slo", scene.acme, month="2026-11",
              as_of=then.isoformat())
    assert old == to_wire(scene.setup(ops.slo, month, tenant_id="acme", now=then))
    assert old[0]["operations"] < get(scene, "/v1/tenants/acme/slo", scene.acme)[0][
        "operations"]


def test_alerts_with_filters_and_as_of(scene: Any) -> None:
    ops = scene.ops
    body = get(scene, "/v1/tenants/acme/alerts", scene.acme)
    assert body == to_wire(scene.setup(ops.alerts, tenant_id="acme")) and body
    assert {a["tenant_id"] for a in body} == {"acme"}
    rule = body[0]["rule"]
    assert get(scene, "/v1/tenants/acme/alerts", scene.acme, rule=rule, open="true") == \
        to_wire(scene.setup(ops.alerts, tenant_id="acme", rule=rule, open_only=True))
    assert get(scene, "/v1/tenants/acme/alerts", scene.acme, rule="no_such_rule") == []
    before = (T0 - timedelta(minutes=1)).isoformat()
    assert get(scene, "/v1/tenants/acme/alerts", scene.acme, as_of=before) == []
    assert get(scene, "/v1/tenants/acme/alerts", scene.acme,
               **{"from": (START + timedelta(hours=1)).isoformat()}) == []


def test_incidents_list_and_by_id_with_deadlines_and_as_of(scene: Any) -> None:
    ops, acme_id = scene.ops, scene.acme_incident.incident_id
    listed = get(scene, "/v1/tenants/acme/incidents", scene.acme)
    assert listed == to_wire(scene.setup(ops.incidents, tenant_id="acme"))
    assert acme_id in [i["incident_id"] for i in listed]
    assert {i["tenant_id"] for i in listed} == {"acme"}
    one = get(scene, f"/v1/incidents/{acme_id}", scene.acme)
    assert one == to_wire(scene.setup(ops.incident, acme_id))
    assert one["state"] == "acknowledged"
    then = (START - timedelta(minutes=55)).isoformat()
    old = get(scene, f"/v1/incidents/{acme_id}", scene.acme, as_of=then)
    assert old["state"] == "open" and old == to_wire(
        scene.setup(ops.incident, acme_id, as_of=START - timedelta(minutes=55)))
    deadlines = get(scene, f"/v1/incidents/{acme_id}/deadlines", scene.acme)
    assert deadlines == to_wire(list(scene.setup(ops.incident, acme_id).deadlines))
    assert deadlines and {"kind", "due_at", "status"} <= set(deadlines[0])
    assert get(scene, "/v1/tenants/acme/incidents", scene.acme,
               as_of=(T0 - timedelta(minutes=1)).isoformat()) == []
    assert get(scene, "/v1/tenants/acme/incidents", scene.acme, state="closed") == []


def test_operator_lists_incidents_of_every_tenant_or_one(scene: Any) -> None:
    every = get(scene, "/v1/incidents", scene.operator)
    assert every == to_wire(scene.setup(scene.ops.incidents, all_tenants=True))
    assert {i["tenant_id"] for i in every} == {"acme", "globex", None}
    only = get(scene, "/v1/incidents", scene.operator, tenant="globex")
    assert only == to_wire(scene.setup(scene.ops.incidents, tenant_id="globex"))
    assert scene.globex_incident.incident_id in [i["incident_id"] for i in only]
    platform = get(scene, f"/v1/incidents/{scene.platform_incident.incident_id}",
                   scene.operator)
    assert platform["tenant_id"] is None
    assert scene.http.get("/v1/incidents", headers=scene.acme).status_code == 403


def test_an_incident_a_tenant_may_not_see_is_the_unknown_ids_404(scene: Any) -> None:
    missing = scene.http.get("/v1/incidents/00000000-0000-0000-0000-000000000000",
                             headers=scene.acme)
    assert missing.status_code == 404
    for hidden in (scene.globex_incident, scene.platform_incident):
        for path in (f"/v1/incidents/{hidden.incident_id}",
                     f"/v1/incidents/{hidden.incident_id}/deadlines"):
            answer = scene.http.get(path, headers=scene.acme)
            assert answer.status_code == 404
            body = answer.json()
            assert body["code"] == missing.json()["code"] == "not_found"
            assert "globex" not in answer.text


def test_sla_of_a_month_and_as_of(scene: Any) -> None:
    month = Period.month("2026-11")
    body = get(scene, "/v1/tenants/acme/sla", scene.acme, month="2026-11")
    assert body == to_wire(scene.setup(scene.ops.sla, month.start, month.end,
                                       tenant_id="acme"))
    assert sum(r["incidents"] for r in body) >= 1
    early = get(scene, "/v1/tenants/acme/sla", scene.acme,
                as_of=(T0 - timedelta(minutes=1)).isoformat())
    assert sum(r["incidents"] for r in early) == 0


def test_timeline_is_the_replay_with_kinds_filter_and_as_of(scene: Any) -> None:
    start, end = T0 - timedelta(hours=1), START + timedelta(hours=1)
    params = {"from": start.isoformat(), "to": end.isoformat()}
    body = get(scene, "/v1/tenants/acme/timeline", scene.acme, **params)
    assert body == to_wire(scene.setup(scene.ops.replay, "acme", start, end))
    kinds = {e["kind"] for e in body}
    assert len(kinds) > 1
    kind = sorted(kinds)[0]
    only = get(scene, "/v1/tenants/acme/timeline", scene.acme, kind=kind, **params)
    assert only == [e for e in body if e["kind"] == kind]
    cut = START - timedelta(minutes=45)
    old = get(scene, "/v1/tenants/acme/timeline", scene.acme, as_of=cut.isoformat(), **params)
    assert old == to_wire(scene.setup(scene.ops.replay, "acme", start, cut))
    assert len(old) < len(body)


def walk(live: Any, headers: dict[str, str], limit: int, **params: Any) -> list[list[Any]]:
    """Every page of the audit list (bounded)."""
    pages, cursor = [], None
    for _ in range(100):
        body = get(live, "/v1/tenants/acme/audit", headers, limit=limit,
                   **({"cursor": cursor} if cursor else {}), **params)
        pages.append(body["rows"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the audit list did not end")


def test_audit_pages_walk_the_full_list_once_in_order(scene: Any) -> None:
    full = to_wire(scene.setup(scene.ops.audit, AuditQuery(tenant_id="acme")))
    for limit in (1, 3, 10, 1000):
        pages = walk(scene, scene.acme, limit)
        rows = [r for page in pages for r in page]
        assert sorted(r["operation_id"] for r in rows) == sorted(
            r["operation_id"] for r in full)
        assert len({r["operation_id"] for r in rows}) == len(rows) == 10
        keys = [(r["occurred_at"], r["tenant_id"], r["operation_id"]) for r in rows]
        assert keys == sorted(keys)
        assert all(len(p) == limit for p in pages[:-1])
    errors = walk(scene, scene.acme, 2, outcome="error")
    assert sum(map(len, errors)) == 3
    cut = T0 + timedelta(seconds=100)
    old = walk(scene, scene.acme, 2, as_of=cut.isoformat())
    assert [r for p in old for r in p] == to_wire(scene.setup(
        scene.ops.audit, AuditQuery(tenant_id="acme", until=cut)))


def test_rows_added_between_pages_never_shift_or_repeat_a_page(scene: Any) -> None:
    first = get(scene, "/v1/tenants/acme/audit", scene.acme, limit=4)
    # later rows: one before every row shown so far (a late fact), and one after them all
    publish(scene, "acme", 100, at=T0 - timedelta(minutes=5))
    publish(scene, "acme", 101, at=T0 + timedelta(seconds=30))
    publish(scene, "acme", 102, at=START - timedelta(minutes=1))
    seen = [r["operation_id"] for r in first["rows"]]
    cursor = first["next_cursor"]
    for _ in range(50):
        body = get(scene, "/v1/tenants/acme/audit", scene.acme, limit=4, cursor=cursor)
        seen += [r["operation_id"] for r in body["rows"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    full = scene.setup(scene.ops.audit, AuditQuery(tenant_id="acme"))
    last = first["rows"][-1]["occurred_at"]
    # rows recorded later behind the cursor (late facts) are not shown; the rest are, once
    behind = {r.operation_id for r in full if to_wire(r)["occurred_at"] < last} - set(seen[:4])
    assert len(behind) == 2
    assert set(seen) == {r.operation_id for r in full} - behind


def test_a_tampered_or_foreign_cursor_is_422(scene: Any) -> None:
    cursor = get(scene, "/v1/tenants/acme/audit", scene.acme, limit=2)["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor)
    forged = base64.urlsafe_b64encode(raw.replace(b'"acme"', b'"acmf"')).decode()
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for bad in (forged, flipped, "not-a-cursor", "", cursor + "x"):
        answer = scene.http.get("/v1/tenants/acme/audit", headers=scene.acme,
                                params={"cursor": bad, "limit": 2})
        assert answer.status_code == 422, bad
        assert answer.json()["code"] == "invalid_input"
    other_query = scene.http.get("/v1/tenants/acme/audit", headers=scene.acme,
                                 params={"cursor": cursor, "outcome": "error"})
    assert other_query.status_code == 422
    other_tenant = scene.http.get("/v1/tenants/globex/audit", headers=scene.operator,
                                  params={"cursor": cursor})
    assert other_tenant.status_code == 422


def test_an_out_of_bounds_page_size_is_422(scene: Any) -> None:
    for limit in (0, 1001, -1):
        answer = scene.http.get("/v1/tenants/acme/audit", headers=scene.acme,
                                params={"limit": limit})
        assert answer.status_code == 422 and "limit" in answer.json()["message"], limit


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_streams_what_the_cli_exports(scene: Any, fmt: str) -> None:
    expected = scene.setup(lambda: render(export_rows(scene.ops, "acme", None, None), fmt))
    with scene.http.stream("GET", "/v1/tenants/acme/export", headers=scene.acme,
                           params={"format": fmt}) as answer:
        assert answer.status_code == 200
        body = b"".join(answer.iter_bytes())
    assert body == expected
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        assert answer.headers["content-type"].startswith("text/csv")
    else:
        rows = [orjson.loads(line) for line in body.splitlines()]
        assert answer.headers["content-type"] == "application/x-ndjson"
    assert sum(r["kind"] == "publish" for r in rows) == 10
    assert {r["tenant"] for r in rows} <= {"acme", "", None}


def test_export_as_of_and_range_are_the_clis_range(scene: Any) -> None:
    cut = T0 + timedelta(seconds=90)
    expected = scene.setup(lambda: render(export_rows(scene.ops, "acme", None, cut), "ndjson"))
    answer = scene.http.get("/v1/tenants/acme/export", headers=scene.acme,
                            params={"format": "ndjson", "as_of": cut.isoformat()})
    assert answer.status_code == 200 and answer.content == expected
    assert len(expected.splitlines()) < len(render(scene.setup(
        lambda: export_rows(scene.ops, "acme", None, None)), "ndjson").splitlines())


def test_operator_reads_chain_projections_and_tenants(scene: Any) -> None:
    report = get(scene, "/v1/verify", scene.operator)
    assert report["ok"] is True and report["events_checked"] > 0
    assert report == to_wire(scene.setup(scene.ops.verify_chain))
    views = get(scene, "/v1/projections", scene.operator)
    assert views and all({"view", "position", "head", "lag", "lag_seconds"} <= set(v)
                         for v in views)
    assert all(v["lag"] == max(v["head"] - v["position"], 0) for v in views)
    tenants = get(scene, "/v1/tenants", scene.operator)
    assert [t["tenant_id"] for t in tenants] == ["acme", "globex"]
    assert tenants == to_wire(scene.setup(scene.ops.tenants))
    assert get(scene, "/v1/tenants", scene.operator,
               as_of=(START - timedelta(days=3)).isoformat()) == []
    for path in ("/v1/verify", "/v1/projections", "/v1/tenants"):
        assert scene.http.get(path, headers=scene.acme).status_code == 403
        assert scene.http.get(path).status_code == 401


def test_an_operator_reads_every_tenants_routes(scene: Any) -> None:
    for path in ("slo", "alerts", "incidents", "sla", "audit"):
        acme = get(scene, f"/v1/tenants/acme/{path}", scene.operator)
        assert acme == get(scene, f"/v1/tenants/acme/{path}", scene.acme)
        get(scene, f"/v1/tenants/globex/{path}", scene.operator)


READS = ["slo", "alerts", "incidents", "sla", "audit", "export",
         "timeline?from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z"]


def test_unknown_and_foreign_tenants_are_one_404_and_scopes_are_checked(scene: Any) -> None:
    ingest = scene.auth(scene.token("ingest", "acme"))
    for path in READS:  # (one store for every route: the cases only read)
        foreign = scene.http.get(f"/v1/tenants/globex/{path}", headers=scene.acme)
        assert foreign.status_code == 404 and foreign.json()["code"] == "unknown_tenant", path
        for who in (scene.acme, scene.operator):
            unknown = scene.http.get(f"/v1/tenants/nobody/{path}", headers=who)
            assert unknown.status_code == 404, path
            assert unknown.json()["code"] == "unknown_tenant", path
        assert scene.http.get(f"/v1/tenants/acme/{path}").status_code == 401, path
        assert scene.http.get(f"/v1/tenants/acme/{path}", headers=ingest).status_code == 403


BAD_FILTERS = [
    ("slo", {"as_of": "2026-11-03T10:00:00"}, "as_of"),
    ("alerts", {"as_of": "2026-11-03T10:00:00"}, "as_of"),
    ("alerts", {"from": "yesterday"}, "from"),
    ("incidents", {"as_of": "2026-11-03T10:00:00"}, "as_of"),
    ("incidents", {"state": "sleeping"}, "state"),
    ("sla", {"as_of": "2026-11-03T10:00:00"}, "as_of"),
    ("audit", {"to": "2026-11-03T10:00:00"}, "to"),
    ("export", {"from": "2026-11-03T10:00:00"}, "from"),
    ("export", {"format": "xml"}, "format"),
    ("timeline", {"from": "2026-11-03T10:00:00Z"}, "to"),
    ("timeline", {"from": "2026-11-03T10:00:00", "to": "2026-11-04T00:00:00Z"}, "from"),
]


def test_a_bad_time_or_filter_is_422_naming_the_field(scene: Any) -> None:
    for path, params, field in BAD_FILTERS:
        answer = scene.http.get(f"/v1/tenants/acme/{path}", headers=scene.acme, params=params)
        assert answer.status_code == 422, (path, params)
        body = answer.json()
        assert body["code"] == "invalid_input" and field in body["message"], (path, params)


BAD_PERIODS = [
    ("slo", {"month": "2026-13"}),
    ("slo", {"month": "2026-11", "week": "2026-W45"}),
    ("slo", {"from": "2026-11-03T10:00:00Z"}),
    ("sla", {"month": "november"}),
    ("timeline", {"from": "2026-11-04T00:00:00Z", "to": "2026-11-03T00:00:00Z"}),
    ("audit", {"from": "2026-11-04T00:00:00Z", "to": "2026-11-03T00:00:00Z"}),
    ("export", {"from": "2026-11-04T00:00:00Z", "to": "2026-11-03T00:00:00Z"}),
]


def test_a_bad_period_is_422(scene: Any) -> None:
    for path, params in BAD_PERIODS:
        answer = scene.http.get(f"/v1/tenants/acme/{path}", headers=scene.acme, params=params)
        assert answer.status_code == 422, (path, params, answer.text)


def test_the_openapi_document_has_the_result_types(scene: Any) -> None:
    document = scene.http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert {"Alert", "Incident", "Deadline", "SlaFigures", "AuditPage", "AuditRow",
            "ChainReport", "ViewLag", "TenantState", "TimelineEntry"} <= set(schemas)
    assert "/v1/tenants/{tenant_id}/audit" in document["paths"]


def test_an_incident_whose_alert_late_facts_revised_still_exports(scene: Any) -> None:
    """Late successes in the burst's window end its alert earlier (an ``Alert.Revised``);
    the incident opened for that alert keeps its timeline, and the export answers 200."""
    before = {a.alert_id: a.resolved_at for a in scene.setup(scene.ops.alerts,
                                                             tenant_id="acme")}
    for n in range(200, 400):
        publish(scene, "acme", n, at=T0 + timedelta(seconds=(n - 200) / 2))
    scene.setup(scene.ops.advance, START)
    revised = [a for a in scene.setup(scene.ops.alerts, tenant_id="acme")
               if a.alert_id in before and a.resolved_at != before[a.alert_id]]
    assert revised, "the late facts did not revise the alert"
    linked = [i for i in scene.setup(scene.ops.incidents, tenant_id="acme")
              if revised[0].alert_id in scene.setup(scene.ops.incident, i.incident_id).alert_ids]
    assert linked
    answer = scene.http.get("/v1/tenants/acme/export", headers=scene.acme,
                            params={"format": "ndjson"})
    assert answer.status_code == 200
    assert answer.content == scene.setup(
        lambda: render(export_rows(scene.ops, "acme", None, None), "ndjson"))
