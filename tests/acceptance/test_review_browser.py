"""The monthly review renders in a real browser (headless Chromium) with its charts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "headless Chromium not installed (Debian package chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " — .ci/run installs it")
    pytest.skip(message)


@pytest.mark.policy("7.monthly_review")
def test_the_html_review_renders_with_its_charts_visible(tmp_path: Path) -> None:
    browser = _chromium()
    db, out = f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "review"
    run = [sys.executable, "-m", "opsledger.cli"]
    subprocess.run([*run, "demo", "--sample", "--db", db], check=True, capture_output=True)
    # the on-call judges the quiet-window alerts noise, so the tuning has noise to remove
    alerts = json.loads(subprocess.run([*run, "alerts", "--all-tenants", "--json", "--db", db],
                                       check=True, capture_output=True, text=True).stdout)
    for alert in alerts:
        verdict = ["--noise", "--reason", "quiet window"] if alert["observed"] < 0.2 else [
            "--actionable"]
        subprocess.run([*run, "alerts", "judge", alert["id"], *verdict, "--by", "ana", "--at",
                        "2026-11-04T00:00:00Z", "--db", db], check=True, capture_output=True)
    subprocess.run([*run, "review", "monthly", "--month", "2026-11", "--format", "html",
                    "--out", str(out), "--db", db], check=True, capture_output=True)
    page = (out / "index.html").read_text()
    for section in ("Summary", "Charts", "SLO compliance", "SLA compliance", "Alerts",
                    "Incidents", "Detection quality per rule", "Missed detections",
                    "Threshold tuning: policies adopted this month",
                    "Alert precision per rule, before and after each adoption",
                    "Threshold tuning: candidates replayed over the month",
                    "Threshold tuning: recommendation"):
        assert f">{section}</h2>" in page, section
    # every incident row links to its own timeline section, which is there
    anchors = re.findall(r'<a href="#(incident-[0-9a-f-]+)">', page)
    assert anchors and all(f'<h2 id="{a}">' in page for a in anchors)
    # the quiet-window noise has a recommendation that loses no actionable alert
    assert re.search(r"recommended</td><td>[a-z_]+: threshold", page)
    assert (out / "tuned-policy.toml").is_file()
    # each chart drawn, not blank: a tenth of its pixels or more are not background
    import matplotlib.image

    charts = sorted(out.glob("*.png"))
    assert {"sla.png", "precision.png", "alert-timeline.png"} <= {c.name for c in charts}
    for chart in charts:
        pixels = matplotlib.image.imread(chart)[..., :3]
        drawn = (pixels.sum(axis=-1) < 2.9).mean()
        assert drawn > 0.02, (chart.name, drawn)
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1200,4000", f"--screenshot={shot}",
                    (out / "index.html").as_uri()], check=True, capture_output=True,
                   timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] == 4000 and pixels.shape[1] == 1200
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    # matplotlib's first series colour (#1f77b4) and the dashed target line (red): drawn.
    series = ((abs(red - 0.12) < 0.06) & (abs(green - 0.47) < 0.06)
              & (abs(blue - 0.71) < 0.06)).sum()
    target = ((red > 0.8) & (green < 0.2) & (blue < 0.2)).sum()
    assert series > 200 and target > 200
