"""``python -m bench dashboard``: how fast the dashboard's pages answer on the simulated
month's store (issue 18: each page under 300 ms).

The store is ``opsledger demo``'s (a simulated month, November 2026, three tenants with the
policy's episodes; about 160 MB), built once into ``--dir`` (default ``bench-out/``) and
reused. The server is ``opsledger serve``'s app in its own process, its clock frozen at the
month's last evening, no background scheduler; the client logs in through the form (a
session cookie, as a browser) and GETs each page ``--repeat`` times over one keep-alive
connection, in turns (so noise hits every page alike), after one warm-up round. Printed per
page: the median and the 90th percentile of the wall time of a whole answer, and its size.
Nothing is asserted: the figures are printed with the 300 ms goal beside them.

``--screenshots DIR`` also saves the overview and an incident page as PNG (headless
Chromium through Selenium and Debian's chromium-driver), as the README shows them.

``python -m bench dashboard [--repeat K] [--dir D] [--screenshots DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench._report import machine, render_json_value
from bench._serve import _Server
from opsledger import Operations

__all__ = ["main"]

GOAL_MS = 300.0
MONTH = "2026-11"
NOW = "2026-11-30T20:00:00+00:00"
AS_OF = "2026-11-15T12:00:00"


def _store(folder: Path) -> Path:
    """The simulated month's store (built by ``opsledger demo`` the first time)."""
    db = folder / "dashboard-month.db"
    url = f"sqlite:///{db}"
    if not db.exists():
        print(f"building the simulated month into {db} (about a minute) ...", flush=True)
        subprocess.run([sys.executable, "-m", "opsledger.cli", "demo", "--db", url,
                        "--month", MONTH, "--out", str(folder / "dashboard-review")],
                       check=True, stdout=subprocess.DEVNULL)
    return db


def _pages(url: str) -> tuple[str, dict[str, str]]:
    """An operator token, and the pages to time (name -> path)."""
    with Operations.open(url) as ops:
        token = str(ops.create_token(scope="operator", owner="bench", by="bench").token)
        incident = ops.incidents(all_tenants=True)[0]
        tenant = incident.tenant_id or ops.tenants()[0].tenant_id
    return token, {
        "overview": "/ui/",
        "tenant": f"/ui/tenant?id={tenant}",
        "incident": f"/ui/incidents/{incident.incident_id}",
        "timeline (24 h)": f"/ui/timeline?id={tenant}",
        "gate": "/ui/gate",
        "overview as_of": f"/ui/?as_of={AS_OF}",
        "tenant as_of": f"/ui/tenant?id={tenant}&as_of={AS_OF}",
        "incident as_of": f"/ui/incidents/{incident.incident_id}?as_of={AS_OF}",
        "version (poll)": "/ui/version",
    }


def _login(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=True)
    form = client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if csrf is None or client.post("/ui/login", data={"token": token, "csrf": csrf[1]}
                                   ).status_code != 200:
        raise RuntimeError("could not log in to the dashboard")
    return client


def _time(client: httpx.Client, pages: dict[str, str], repeat: int
          ) -> dict[str, dict[str, float]]:
    seconds: dict[str, list[float]] = {name: [] for name in pages}
    sizes: dict[str, int] = {}
    for round_ in range(repeat + 1):
        for name, path in pages.items():
            t0 = time.perf_counter()
            answer = client.get(path)
            elapsed = time.perf_counter() - t0
            if answer.status_code != 200:
                raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:200]!r}")
            sizes[name] = len(answer.content)
            if round_:  # the first round warms caches up
                seconds[name].append(elapsed)
    return {name: {"median_ms": statistics.median(s) * 1000,
                   "p90_ms": sorted(s)[max(0, int(0.9 * len(s)) - 1)] * 1000,
                   "bytes": sizes[name]} for name, s in seconds.items()}


def _screenshots(base: str, token: str, pages: dict[str, str], folder: Path) -> list[Path]:
    """The overview and an incident page as PNG, in headless Chromium (Selenium through
    the local chromium-driver; nothing downloaded)."""
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise RuntimeError("screenshots need Debian's chromium and chromium-driver")
    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--window-size=1280,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    try:
        browser.get(base + "/ui/login")
        field = browser.find_element(By.ID, "token")
        field.send_keys(token)
        field.submit()
        for name, path in (("overview", pages["overview"]), ("incident", pages["incident"])):
            browser.get(base + path)
            height = browser.execute_script("return document.body.scrollHeight")
            browser.set_window_size(1280, min(max(int(height) + 40, 600), 1500))
            target = folder / f"dashboard-{name}.png"
            target.write_bytes(browser.get_screenshot_as_png())
            saved.append(target)
    finally:
        browser.quit()
    return saved


def main(argv: Sequence[str] | None = None) -> int:
    """Run the page-latency bench; print the medians (text or JSON)."""
    parser = argparse.ArgumentParser(prog="python -m bench dashboard")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=Path("bench-out"))
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    db = _store(args.dir)
    token, pages = _pages(f"sqlite:///{db}")
    server = _Server(db, "bench._dashboard_child", NOW)
    try:
        client = _login(server.base, token)
        figures = _time(client, pages, max(1, args.repeat))
        client.close()
        shots = ([] if args.screenshots is None
                 else _screenshots(server.base, token, pages, args.screenshots))
    finally:
        server.stop()
    if args.json:
        print(render_json_value({"machine": machine(), "goal_ms": GOAL_MS, "now": NOW,
                                 "repeat": args.repeat, "pages": figures,
                                 "screenshots": [str(s) for s in shots]}))
        return 0
    print(f"dashboard pages on the simulated month ({MONTH}, clock at {NOW}); "
          f"{args.repeat} rounds, goal < {GOAL_MS:.0f} ms")
    print(f"{'page':<18} {'median ms':>10} {'p90 ms':>8} {'KiB':>7}  goal")
    for name, f in figures.items():
        verdict = "met" if f["median_ms"] < GOAL_MS else "NOT met"
        print(f"{name:<18} {f['median_ms']:>10.1f} {f['p90_ms']:>8.1f} "
              f"{f['bytes'] / 1024:>7.1f}  {verdict}")
    for shot in shots:
        print(f"screenshot: {shot}")
    return 0
