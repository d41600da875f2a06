"""The dashboard in a real browser: headless Chromium (Debian ``chromium``) driven by
Selenium through Debian's ``chromium-driver`` (never Selenium Manager: nothing is downloaded),
against a real ``opsledger serve`` process on 127.0.0.1 over a SQLite file, on the system
clock.

One operator's walk (issue 18's must-show): log in with a token, see the overview, post
publishes over the API that break a tenant's availability and see its tile turn "not met"
without a reload, acknowledge an incident from its page and see the deadline turn met, open
the tenant page ``as_of`` a past moment and see the historical banner and the old values;
screenshots saved and the chart pixels checked. And a tenant token's session sees only its
tenant (another tenant's incident URL is the unknown id's 404)."""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger_test_support import saas_tenant
from opsledger_test_ui import ServeProcess, post_publishes, publish_records

from opsledger import Operations

#: How long a page may take to show a change (the pages poll every second; generous for a
#: loaded CI machine — this bounds the wait, it is not a timing assertion).
WAIT_SECONDS = 30


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    missing = " and ".join(n for n, p in (("chromium", chromium),
                                           ("chromium-driver", driver)) if not p)
    message = f"headless Chromium for Selenium not installed (Debian package {missing})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " — .ci/run installs it")
    pytest.skip(message)


def wait_for(what: str, check: Callable[[], Any], seconds: float = WAIT_SECONDS) -> Any:
    """``check()``'s first true answer, polled for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            if found := check():
                return found
        except Exception as exc:  # an element replaced while read: try again
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} ({last!r})")


def debug(browser: Any) -> str:
    """Where the browser is (for a failure's message)."""
    return f"{browser.current_url} {browser.title}"


class Scene:
    """A served store with tenants ``acme`` and ``beta``, an open SEV2 incident of acme, and
    the tokens the tests use."""

    def __init__(self, folder: Path) -> None:
        self.db = f"sqlite:///{folder / 'dash.db'}"
        with Operations.open(self.db) as ops:
            registered = ops.clock.now() - timedelta(hours=1)  # before any as_of the tests use
            for tenant in ("acme", "beta"):
                saas_tenant(ops, tenant, ["web"], at=registered)
            self.incident = str(ops.open_incident(
                severity="SEV2", title="acme publishes failing", cause="ingestion_outage",
                tenant_id="acme", by="oncall").incident_id)
            self.operator = str(ops.create_token(scope="operator", owner="ops-lead",
                                                 by="test").token)
            self.beta_reader = str(ops.create_token(scope="read", tenant_id="beta",
                                                    owner="beta-viewer", by="test").token)
            self.acme_ingest = str(ops.create_token(scope="ingest", tenant_id="acme",
                                                    owner="acme-ci", by="test").token)
        self.server = ServeProcess(self.db, folder)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """One ``opsledger serve`` for the module's tests."""
    _browser_paths()
    made = Scene(tmp_path_factory.mktemp("dashboard"))
    yield made
    logs = made.server.stop()
    assert "Traceback" not in logs, logs[-3000:]


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Headless Chromium under Selenium, through the local chromedriver only."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _browser_paths()
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager never downloads anything
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,1600",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    session.set_page_load_timeout(60)
    yield session
    session.quit()


def log_in(browser: Any, base: str, token: str) -> None:
    """Log in through the form, as a person would."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/ui/")
    field = browser.find_element(By.ID, "token")
    field.send_keys(token)
    field.submit()
    wait_for("the overview", lambda: browser.find_elements(By.ID, "tiles"))


def figure(browser: Any, tenant: str, name: str) -> tuple[str, str]:
    """A tile's figure: its value and verdict text."""
    from selenium.webdriver.common.by import By

    row = browser.find_element(
        By.CSS_SELECTOR, f'[data-tenant="{tenant}"] [data-figure="{name}"]')
    return (row.find_element(By.CSS_SELECTOR, ".figure-value").text,
            row.find_element(By.CSS_SELECTOR, ".verdict").text)


def chart_pixels(png: bytes) -> tuple[int, int]:
    """Pixels of the series colour (#1f77b4) and of the target's red (#d62728)."""
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    series = ((abs(red - 0.12) < 0.08) & (abs(green - 0.47) < 0.08)
              & (abs(blue - 0.71) < 0.08)).sum()
    target = ((red > 0.75) & (green < 0.3) & (blue < 0.3)).sum()
    return int(series), int(target)


def _minute_start() -> datetime:
    """The current minute (UTC), far enough into its month that three minutes back are in
    it too (waits, bounded, in a month's first minutes)."""
    for _ in range(400):
        now = datetime.now(UTC)
        if now - now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) > timedelta(
                minutes=5):
            return now.replace(second=0, microsecond=0)
        time.sleep(1)
    raise AssertionError("the clock did not move")


@pytest.mark.policy("2.availability")
@pytest.mark.policy("3.SEV2.ack")
def test_an_operator_watches_a_tile_turn_not_met_acknowledges_and_travels_back(
        scene: Scene, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base = scene.server.base
    minute = _minute_start()
    good_minute, bad_minute = minute - timedelta(minutes=3), minute - timedelta(minutes=2)
    post_publishes(base, scene.acme_ingest, publish_records("acme", good_minute, 50, 0,
                                                            prefix="ok-"))
    log_in(browser, base, scene.operator)
    assert scene.operator not in browser.page_source
    wait_for("acme met", lambda: figure(browser, "acme", "availability")[1] == "✓ met")
    assert figure(browser, "acme", "availability")[0] == "100.000 %"
    assert not browser.find_elements(By.ID, "historical")
    shown = browser.find_element(By.CSS_SELECTOR, "time[datetime]")  # UTC, local on hover
    assert shown.text.endswith(" UTC")
    assert shown.get_attribute("title").endswith("(your local time)")
    browser.execute_script("window.notReloaded = true;")

    # Failures over the API (in the minute after the successes): the tile turns, no reload.
    post_publishes(base, scene.acme_ingest, publish_records("acme", bad_minute, 0, 10,
                                                            prefix="bad-", step=0.5))
    wait_for("acme not met", lambda: figure(browser, "acme", "availability")[1]
             == "✗ not met")
    assert browser.execute_script("return window.notReloaded === true;")
    assert figure(browser, "acme", "availability")[0] == "83.333 %"
    (tmp_path / "overview.png").write_bytes(browser.get_screenshot_as_png())

    # The incident: its acknowledge deadline counts down; acknowledged, it turns met.
    browser.find_element(By.CSS_SELECTOR, f'[data-incident="{scene.incident}"] a').click()
    wait_for("the incident page", lambda: browser.find_elements(By.ID, "do-ack"))
    countdown = browser.find_element(By.CSS_SELECTOR, '[data-deadline="acknowledge"] '
                                                      ".countdown")
    assert countdown.text.startswith("due in ")
    status = browser.find_element(By.CSS_SELECTOR, '[data-deadline="acknowledge"] .status')
    assert status.text == "◷ pending"
    browser.find_element(By.ID, "do-ack").click()
    wait_for("ack met", lambda: browser.find_element(
        By.CSS_SELECTOR, '[data-deadline="acknowledge"] .status').text == "✓ met")
    assert browser.find_element(By.CSS_SELECTOR, "[data-state]").text == "acknowledged"
    assert "Acknowledged." in browser.find_element(By.CSS_SELECTOR, ".flash").text
    (tmp_path / "incident.png").write_bytes(browser.get_screenshot_as_png())

    # The tenant page now, with its charts drawn...
    browser.get(f"{base}/ui/tenant?id=acme")
    charts = browser.find_element(By.ID, "charts")
    series, target = chart_pixels(charts.screenshot_as_png)
    assert series > 200 and target > 200, (series, target)
    (tmp_path / "tenant.png").write_bytes(browser.get_screenshot_as_png())
    assert browser.find_element(By.CSS_SELECTOR, '[data-figure="availability"] .verdict'
                                ).text == "✗ not met"

    # ... and as it stood before the failures: banner, old values, no live updates.
    picker = browser.find_element(By.ID, "as_of")
    browser.execute_script("arguments[0].value = arguments[1];", picker,
                           f"{bad_minute:%Y-%m-%dT%H:%M:%S}")
    browser.find_element(By.CSS_SELECTOR, "form.asof button").click()
    banner = wait_for(f"the banner {debug(browser)}",
                      lambda: browser.find_elements(By.ID, "historical"))
    assert "Historical view" in banner[0].text
    availability = browser.find_element(By.CSS_SELECTOR, '[data-figure="availability"]')
    assert availability.find_element(By.CSS_SELECTOR, ".figure-value").text == "100.000 %"
    assert availability.find_element(By.CSS_SELECTOR, ".verdict").text == "✓ met"
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "off"
    (tmp_path / "tenant-as-of.png").write_bytes(browser.get_screenshot_as_png())
    assert all((tmp_path / n).stat().st_size > 10_000
               for n in ("overview.png", "incident.png", "tenant.png", "tenant-as-of.png"))


def test_a_tenant_session_sees_only_its_tenant_in_the_browser(scene: Scene, browser: Any,
                                                              tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base = scene.server.base
    log_in(browser, base, scene.beta_reader)
    tiles = browser.find_elements(By.CSS_SELECTOR, "[data-tenant]")
    assert [t.get_attribute("data-tenant") for t in tiles] == ["beta"]
    assert "acme" not in browser.page_source
    assert not browser.find_elements(By.LINK_TEXT, "Gate")
    browser.get(f"{base}/ui/incidents/{scene.incident}")
    assert browser.title.startswith("404")
    other = browser.find_element(By.TAG_NAME, "main").text
    browser.get(f"{base}/ui/incidents/6d0c2b7e-0000-4000-8000-000000000000")
    assert browser.title.startswith("404")
    assert browser.find_element(By.TAG_NAME, "main").text == other
    assert "acme publishes failing" not in browser.page_source

    # A narrow window (a phone): the page reflows instead of scrolling sideways.
    browser.set_window_size(390, 900)
    browser.get(f"{base}/ui/tenant?id=beta")
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1;")
    assert browser.find_element(By.ID, "charts").size["width"] <= 390
    (tmp_path / "narrow.png").write_bytes(browser.get_screenshot_as_png())
