"""The dashboard over a real uvicorn (SQLite file; PostgreSQL in the slow tier), at the HTTP
level: login (token for a session cookie), CSRF on every form that writes, operator-only
actions (403 for a read session), tenant isolation (another tenant's incident or page is
exactly the unknown id's 404), escaping of untrusted values, the security headers,
``as_of`` and the version endpoint the pages poll. The browser tests are in
``tests/acceptance/test_dashboard_browser.py``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from opsledger_test_ui import START, UiWorld, login, publish_minutes

from opsledger import Period


@pytest.fixture
def ui(live_api: Any) -> UiWorld:
    """Tenants ``acme`` and ``beta`` with an incident each, on a live API."""
    return UiWorld(live_api)


def test_pages_need_a_session_and_the_login_sets_a_strict_httponly_cookie(ui: UiWorld
                                                                            ) -> None:
    anonymous = httpx.Client(base_url=ui.api.base)
    assert anonymous.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"
    assert anonymous.get("/ui/version").status_code == 401
    form = anonymous.get("/ui/login")
    assert form.status_code == 200 and 'type="password"' in form.text
    token = ui.api.token("operator", owner="ops-lead")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = anonymous.post("/ui/login", data={"token": token, "csrf": csrf[1]},
                            follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("olui="))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "path=/ui", "samesite=strict"} <= attributes
    assert token not in cookie and token.split("_", 2)[-1] not in cookie  # (secret: may hold _)
    page = anonymous.get("/ui/")
    assert page.status_code == 200 and 'data-tenant="acme"' in page.text
    assert token not in page.text and token.split("_")[-1] not in page.text
    anonymous.close()


def test_a_login_without_its_csrf_cookie_or_with_a_bad_token_is_refused(ui: UiWorld) -> None:
    token = ui.api.token("operator", owner="ops-lead")
    fresh = httpx.Client(base_url=ui.api.base)
    assert fresh.post("/ui/login", data={"token": token, "csrf": "forged"}).status_code == 403
    form = fresh.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    bad = fresh.post("/ui/login", data={"token": token[:-3] + "AAA", "csrf": csrf[1]})
    assert bad.status_code == 401 and "not accepted" in bad.text
    assert "olui=" not in "".join(bad.headers.get_list("set-cookie"))
    fresh.close()


def test_a_revoked_token_ends_its_session_at_the_next_request(ui: UiWorld) -> None:
    issued = ui.api.setup(ui.api.ops.create_token, scope="read", tenant_id="acme",
                          owner="viewer", by="test")
    browser = login(ui.api, str(issued.token))
    assert browser.get("/ui/").status_code == 200
    ui.api.setup(ui.api.ops.revoke_token, issued.info.token_id, by="test")
    assert browser.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"
    assert browser.get("/ui/version").status_code == 401


@pytest.mark.policy("3.SEV2.ack")
def test_an_operator_acknowledges_from_the_page_with_the_csrf_token_only(ui: UiWorld) -> None:
    browser = login(ui.api, ui.api.token("operator", owner="ops-lead"))
    page = browser.get(f"/ui/incidents/{ui.acme_incident}")
    assert page.status_code == 200 and 'id="do-ack"' in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    url = f"/ui/incidents/{ui.acme_incident}/ack"
    assert browser.post(url, data={}).status_code == 403
    assert browser.post(url, data={"csrf": "forged"}).status_code == 403
    assert ui.incident(ui.acme_incident).state == "open"
    done = browser.post(url, data={"csrf": csrf[1]}, follow_redirects=False)
    assert done.status_code == 303
    incident = ui.incident(ui.acme_incident)
    assert incident.state == "acknowledged"
    ack = next(d for d in incident.deadlines if d.kind == "acknowledge")
    assert ack.status == "met"
    after = browser.get(done.headers["location"])
    assert "Acknowledged." in after.text and 'id="do-ack"' not in after.text
    again = browser.post(url, data={"csrf": csrf[1]}, follow_redirects=True)
    assert again.status_code == 200 and "Refused" in again.text  # not allowed now: said
    assert ui.incident(ui.acme_incident) == incident  # and nothing done


def test_a_read_session_sees_no_buttons_and_its_post_is_403(ui: UiWorld) -> None:
    browser = login(ui.api, ui.api.token("read", "acme", owner="viewer"))
    page = browser.get(f"/ui/incidents/{ui.acme_incident}")
    assert page.status_code == 200 and "do-ack" not in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    refused = browser.post(f"/ui/incidents/{ui.acme_incident}/ack", data={"csrf": csrf[1]})
    assert refused.status_code == 403
    assert ui.incident(ui.acme_incident).state == "open"


def test_a_tenant_session_sees_only_its_tenant_and_others_are_the_unknown_ids_404(
        ui: UiWorld) -> None:
    browser = login(ui.api, ui.api.token("read", "acme", owner="viewer"))
    overview = browser.get("/ui/")
    assert 'data-tenant="acme"' in overview.text and "beta" not in overview.text
    other = browser.get(f"/ui/incidents/{ui.beta_incident}")
    unknown = browser.get("/ui/incidents/6d0c2b7e-0000-4000-8000-000000000000")
    assert other.status_code == unknown.status_code == 404
    assert other.text == unknown.text.replace(
        "6d0c2b7e-0000-4000-8000-000000000000", ui.beta_incident)
    assert browser.get("/ui/tenant", params={"id": "beta"}).text == browser.get(
        "/ui/tenant", params={"id": "ghost"}).text
    assert browser.get("/ui/tenant", params={"id": "beta"}).status_code == 404
    assert browser.get("/ui/timeline", params={"id": "beta"}).status_code == 404
    assert browser.get("/ui/gate").status_code == 404
    assert browser.get("/ui/tenant", params={"id": "acme"}).status_code == 200


def test_untrusted_values_are_escaped_and_pages_allow_no_inline_script(ui: UiWorld) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    ui.api.saas_tenant(hostile)
    found = ui.open_incident(hostile, title='</script><script>alert("t")</script>')
    browser = login(ui.api, ui.api.token("operator", owner="ops-lead"))
    for url, params in (("/ui/", {}), ("/ui/tenant", {"id": hostile}),
                        ("/ui/timeline", {"id": hostile}), (f"/ui/incidents/{found}", {})):
        page = browser.get(url, params=params)
        assert page.status_code == 200, (url, page.text[:500])
        assert hostile not in page.text and "<script>alert" not in page.text
        assert "&lt;img src=x onerror=" in page.text
        assert re.findall(r"<script[^>]*>", page.text) == [
            '<script src="/ui/static/dashboard.js" defer>']
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert page.headers["x-frame-options"] == "DENY"


def test_as_of_shows_the_page_as_it_stood_with_a_banner(ui: UiWorld) -> None:
    before = START - timedelta(minutes=1)
    browser = login(ui.api, ui.api.token("operator", owner="ops-lead"))
    ui.api.setup(ui.api.ops.acknowledge, ui.acme_incident, by="alice",
                 at=START + timedelta(minutes=1))
    ui.api.clock.set(START + timedelta(minutes=5))
    now = browser.get(f"/ui/incidents/{ui.acme_incident}")
    assert "historical" not in now.text and "acknowledged" in now.text
    then = browser.get(f"/ui/incidents/{ui.acme_incident}",
                       params={"as_of": (START + timedelta(seconds=30)).isoformat()})
    assert 'id="historical"' in then.text and "data-live=\"off\"" in then.text
    assert re.search(r"data-state>open<", then.text) and "do-ack" not in then.text
    old = browser.get("/ui/", params={"as_of": f"{before:%Y-%m-%dT%H:%M:%S}"})
    assert old.status_code == 200 and 'id="historical"' in old.text
    bad = browser.get("/ui/", params={"as_of": "yesterday"})
    assert bad.status_code == 422 and "as_of" in bad.text


def test_the_version_moves_when_a_fact_is_recorded(ui: UiWorld) -> None:
    browser = login(ui.api, ui.api.token("read", "acme", owner="viewer"))
    first = browser.get("/ui/version").json()["head"]
    assert browser.get("/ui/version").json()["head"] == first
    publish_minutes(ui.api, "acme", successes=1, failures=0)
    assert browser.get("/ui/version").json()["head"] > first


def test_static_files_ship_in_the_package_and_nothing_else_is_served(ui: UiWorld) -> None:
    http = httpx.Client(base_url=ui.api.base)
    for name, kind in (("opsledger.css", "text/css"), ("dashboard.css", "text/css"),
                       ("dashboard.js", "text/javascript")):
        answer = http.get(f"/ui/static/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
    assert http.get("/ui/static/..%2Fapp.py").status_code == 404
    assert http.get("/ui/static/review.html.j2").status_code == 404
    http.close()


def test_logout_needs_the_csrf_token_and_ends_the_session(ui: UiWorld) -> None:
    browser = login(ui.api, ui.api.token("read", "acme", owner="viewer"))
    page = browser.get("/ui/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    assert browser.post("/ui/logout", data={"csrf": "forged"}).status_code == 403
    assert browser.get("/ui/").status_code == 200
    done = browser.post("/ui/logout", data={"csrf": csrf[1]}, follow_redirects=False)
    assert done.headers["location"] == "/ui/login"
    assert browser.get("/ui/", follow_redirects=False).status_code == 303


def test_the_tenant_page_draws_its_charts_from_the_days_figures(ui: UiWorld) -> None:
    publish_minutes(ui.api, "acme", successes=30, failures=3)
    browser = login(ui.api, ui.api.token("read", "acme", owner="viewer"))
    page = browser.get("/ui/tenant", params={"id": "acme"})
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 7
    assert page.text.count('class="target"') >= 4 and "<polyline" in page.text
    assert 'data-figure="availability"' in page.text and "90.909 %" in page.text


def test_the_daily_figures_equal_a_report_per_day(ui: UiWorld) -> None:
    publish_minutes(ui.api, "acme", successes=30, failures=3)
    ops, month = ui.api.ops, Period.month("2026-11")
    daily = ui.api.setup(ops.services.slo.daily, month, tenant_id="acme")
    assert [d.day for d in daily] == [(month.start + timedelta(days=n)).date()
                                      for n in range(3)]  # up to the clock (3 November)
    for day in daily:
        start = datetime.combine(day.day, datetime.min.time(), tzinfo=UTC)
        one = ui.api.setup(ops.slo, Period.between(start, start + timedelta(days=1)),
                           tenant_id="acme")[0]
        running = ui.api.setup(ops.slo, Period.between(month.start, start + timedelta(days=1)),
                               tenant_id="acme")[0]
        assert (day.operations, day.availability, day.latency_p95_ms, day.freshness) == (
            one.operations, one.availability, one.latency_p95_ms, one.freshness)
        assert day.budget_remaining == pytest.approx(running.error_budget.remaining_failures)
    assert daily[2].operations == 33 and daily[2].availability == 30 / 33
